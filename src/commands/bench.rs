//! `souk bench`: events/s through the inventory processor in each exactly-once mode, side by side
//! with a raw rdkafka consume→produce→commit pass-through of the same records on the same broker,
//! in the same run. Prints both and the ratio per mode. A command, never a timed test.

use anyhow::Context;
use clap::Args;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use souk::workload::{generate, produce_commands, WorkloadSpec};
use souk_runtime::admin::{client_config, create_topics};
use souk_runtime::engine::{EngineSettings, ProcessorEngine};
use souk_runtime::exactly_once::Mode;
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use souk_runtime::stack;
use souk_runtime::topology::Role;
use souk_runtime::topology::{TopicSpec, Topology};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of `souk bench`.
#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Input commands.
    #[arg(long, default_value_t = 50_000)]
    pub events: usize,
    /// Distinct inventory pools (keys).
    #[arg(long, default_value_t = 256)]
    pub pools: usize,
    /// Records per batch for both pipelines.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Exactly-once modes to measure: `transactions`, `idempotent-effects`, or `both`.
    #[arg(long, default_value = "both")]
    pub mode: String,
}

/// Measures each requested mode (each on its own freshly produced input) and prints the figures.
pub async fn bench(path: &Path, args: BenchArgs) -> anyhow::Result<()> {
    let modes = match args.mode.as_str() {
        "both" => vec![Mode::Transactions, Mode::IdempotentEffects],
        "transactions" => vec![Mode::Transactions],
        "idempotent-effects" => vec![Mode::IdempotentEffects],
        other => anyhow::bail!("--mode {other}: transactions, idempotent-effects or both"),
    };
    for mode in modes {
        println!("== exactly-once mode: {mode}");
        bench_mode(path, &args, mode).await?;
    }
    Ok(())
}

async fn bench_mode(path: &Path, args: &BenchArgs, mode: Mode) -> anyhow::Result<()> {
    let prefix = format!("bench{}.", std::process::id() as u64 * 1000 + (rand::random::<u16>() as u64 % 1000));
    let text = std::fs::read_to_string(path)?;
    let topology = Topology::parse(&text, &prefix)?;
    let catalog = souk_schemas::Catalog::builtin()?;
    let bootstrap = stack::kafka_bootstrap();
    souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &stack::schema_registry_url()).await?;
    let input = topology.topic("inventory.commands");
    let partitions = topology.partitions("inventory.commands");
    let raw_out = topology.topic("bench.raw-out");
    create_topics(&bootstrap, &[TopicSpec { name: raw_out.clone(), partitions, config: vec![], records: vec![] }], 1).await?;
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?);

    let commands = generate(&WorkloadSpec { tenant: "bench".into(), pools: args.pools, commands: args.events, seed: 42, start_ms: 1_700_000_000_000 });
    let p = producer(&bootstrap)?;
    let started = Instant::now();
    produce_commands(&p, &codec, &input, &commands).await?;
    let produce_secs = started.elapsed().as_secs_f64();
    println!("input:       {} commands over {} pools, {partitions} partitions, produced in {produce_secs:.2}s ({:.0}/s)", commands.len(), args.pools, commands.len() as f64 / produce_secs);

    let raw_secs = raw_pass_through(&bootstrap, &input, &raw_out, &format!("{prefix}bench-raw"), commands.len(), args.batch).await?;
    let raw_rate = commands.len() as f64 / raw_secs;
    println!("raw:         {} records consume→produce→commit in {raw_secs:.2}s = {raw_rate:.0} records/s", commands.len());

    let mut spec = topology.component(Role::Processor, "inventory-pool")?;
    spec.batch_size = Some(args.batch);
    let engine = ProcessorEngine::new(Arc::new(souk_processors::InventoryPool), spec.clone(), codec.clone(), EngineSettings::new(&bootstrap, mode))?;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let started = Instant::now();
    let handle = tokio::spawn(engine.run(shutdown));
    souk_runtime::testkit::wait_group_caught_up(&bootstrap, &spec.group_id, &input, Duration::from_secs(1800)).await?;
    let eos_secs = started.elapsed().as_secs_f64();
    let _ = stop.send(true);
    handle.await.context("engine task")??;
    let eos_rate = commands.len() as f64 / eos_secs;
    let m = souk_runtime::metrics::Metrics::global();
    let outputs: u64 = m.records_out.with_label_values(&["inventory-pool", &topology.topic("inventory.events")]).get();
    println!("processor:   {} commands → {outputs} outputs + changelog, {mode}, in {eos_secs:.2}s = {eos_rate:.0} events/s (incl. group join + restore)", commands.len());
    println!("ratio:       {:.1} % of raw pass-through (target ≥ 60 %)", 100.0 * eos_rate / raw_rate);
    Ok(())
}

/// Consume → produce the same bytes → commit, in batches, until `expected` records went through.
async fn raw_pass_through(bootstrap: &str, input: &str, output: &str, group: &str, expected: usize, batch: usize) -> anyhow::Result<f64> {
    let consumer: StreamConsumer = client_config(bootstrap).set("group.id", group).set("enable.auto.commit", "false").set("auto.offset.reset", "earliest").create()?;
    consumer.subscribe(&[input])?;
    let p = producer(bootstrap)?;
    let started = Instant::now();
    let mut done = 0usize;
    while done < expected {
        let mut msgs = Vec::new();
        if let Ok(m) = tokio::time::timeout(Duration::from_secs(1), consumer.recv()).await {
            msgs.push(m?.detach());
            let deadline = tokio::time::Instant::now() + Duration::from_millis(20);
            while msgs.len() < batch {
                match tokio::time::timeout_at(deadline, consumer.recv()).await {
                    Ok(m) => msgs.push(m?.detach()),
                    Err(_) => break,
                }
            }
        }
        if msgs.is_empty() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(1800), "raw pass-through stalled at {done}");
            continue;
        }
        let mut tpl = TopicPartitionList::new();
        let records = msgs
            .iter()
            .map(|m| {
                let _ = tpl.add_partition_offset(m.topic(), m.partition(), Offset::Offset(m.offset() + 1));
                OutRecord {
                    topic: output.to_string(),
                    partition: None,
                    key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers: make_headers(&[]),
                }
            })
            .collect();
        send_all(&p, records).await?;
        tokio::task::block_in_place(|| consumer.commit(&tpl, CommitMode::Sync))?;
        done += msgs.len();
    }
    Ok(started.elapsed().as_secs_f64())
}
