//! The engine on the real local broker (Apache Kafka), in both exactly-once modes: outputs equal the
//! broker-free driver's over the same log, state survives a restart (restore from changelog),
//! timers fire from ticks, poison records land in the DLQ with provenance while later records are
//! processed. Needs `./dev up` (or SOUK_* env); fails, never skips, without it.

use rstest::rstest;
use rust_decimal::Decimal;
use souk_runtime::engine::{EngineSettings, ProcessorEngine};
use souk_runtime::exactly_once::Mode;
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use souk_runtime::testkit::{read_to_end, unique_prefix, wait_group_caught_up, Counter};
use souk_runtime::topology::Role;
use souk_runtime::topology::Topology;
use souk_runtime::{stack, TestDriver};
use souk_schemas::inventory::*;
use souk_schemas::{Catalog, Envelope};
use std::sync::Arc;
use std::time::Duration;

const TOPOLOGY: &str = r#"
[defaults]
partitions = 4
replication_factor = 1
[topics."in"]
key = "tenant|material|color"
records = ["souk.inventory.ReserveRequested", "souk.inventory.CommitRequested", "souk.clock.Tick"]
ticks = true
[topics."out"]
key = "tenant|material|color"
records = ["souk.inventory.ReserveRejected", "souk.inventory.HoldExpired"]
[processors.counter]
inputs = ["in"]
outputs = { events = "out" }
kind = "counter"
batch_size = 100
"#;

/// Input as the topic union's JSON (only the records this topic declares).
fn reserve(tenant: &str, n: usize, t: i64) -> (String, InventoryCommand) {
    let key = format!("{tenant}|m{}|c", n % 13);
    let cmd = InventoryCommand::ReserveRequested(ReserveRequested {
        envelope: Envelope::external(tenant, &format!("r{n}"), t),
        hold_id: format!("h{n}"),
        order_id: format!("o{n}"),
        line_id: "1".into(),
        meters: Decimal::new(n as i64 % 50 + 1, 1),
        ttl_ms: 1,
        reply_to: None,
    });
    (key, cmd)
}

struct Setup {
    topology: Topology,
    codec: Arc<souk_runtime::codec::Codec>,
    bootstrap: String,
    mode: Mode,
}

async fn setup(tag: &str, mode: Mode) -> Setup {
    let prefix = unique_prefix(tag);
    let topology = Topology::parse(TOPOLOGY, &prefix).unwrap();
    let catalog = Catalog::builtin().unwrap();
    let bootstrap = stack::kafka_bootstrap();
    souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &stack::schema_registry_url())
        .await
        .expect("the local stack must be up (./dev up, or set SOUK_KAFKA_BOOTSTRAP / SOUK_SCHEMA_REGISTRY_URL)");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url()).unwrap());
    Setup { topology, codec, bootstrap, mode }
}

async fn produce(s: &Setup, commands: &[(String, InventoryCommand)]) {
    let p = producer(&s.bootstrap).unwrap();
    let topic = s.topology.topic("in");
    let mut records = Vec::new();
    for (key, cmd) in commands {
        records.push(OutRecord { topic: topic.clone(), partition: None, key: Some(key.clone()), payload: Some(s.codec.encode(&topic, cmd).await.unwrap()), headers: make_headers(&[]) });
    }
    send_all(&p, records).await.unwrap();
}

/// A tick at `at_ms` into every partition of every ticked topic, as the clock writes it.
async fn tick(s: &Setup, p: &rdkafka::producer::FutureProducer, at_ms: i64) {
    let mut records = Vec::new();
    for (topic, partitions) in s.topology.ticked_topics() {
        for partition in 0..partitions {
            let payload = s.codec.encode_json(&topic, &souk_schemas::clock::tick_json(&topic, partition, at_ms)).await.unwrap();
            records.push(OutRecord { topic: topic.clone(), partition: Some(partition), key: Some(souk_schemas::clock::TICK_KEY.into()), payload: Some(payload), headers: make_headers(&[]) });
        }
    }
    send_all(p, records).await.unwrap();
}

async fn run_until_caught_up(s: &Setup) {
    let spec = s.topology.component(Role::Processor, "counter").unwrap();
    let engine = ProcessorEngine::new(Arc::new(Counter), spec.clone(), s.codec.clone(), EngineSettings::new(&s.bootstrap, s.mode)).unwrap();
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(engine.run(shutdown));
    wait_group_caught_up(&s.bootstrap, &spec.group_id, &s.topology.topic("in"), Duration::from_secs(120)).await.unwrap();
    stop.send(true).unwrap();
    handle.await.unwrap().unwrap();
}

/// Replays the real input log through the driver and compares with the real output log, per key.
async fn assert_matches_driver(s: &Setup) -> TestDriver<Counter> {
    let input = read_to_end(&s.bootstrap, &s.topology.topic("in")).await.unwrap();
    let mut driver = TestDriver::new(Counter, 4);
    let topic = s.topology.topic("in");
    for r in &input {
        let Ok(event) = s.codec.decode::<InventoryCommand>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        driver.feed_at(&topic, r.partition, r.offset, r.key.as_deref().unwrap_or_default(), &event);
    }
    let output = read_to_end(&s.bootstrap, &s.topology.topic("out")).await.unwrap();
    let mut real = std::collections::BTreeMap::<String, Vec<InventoryEvent>>::new();
    for r in &output {
        real.entry(r.key.clone().unwrap()).or_default().push(s.codec.decode(r.payload.as_deref().unwrap()).await.unwrap());
    }
    let mut expected = std::collections::BTreeMap::<String, Vec<InventoryEvent>>::new();
    for o in &driver.outputs {
        expected.entry(o.emitted.key.clone()).or_default().push(o.emitted.event.clone());
    }
    assert_eq!(real.len(), expected.len(), "same keys");
    for (key, events) in &expected {
        assert_eq!(real.get(key), Some(events), "outputs of {key} equal the driver's (ids and content)");
    }
    driver
}

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_outputs_equal_the_driver_and_survive_restart(#[case] mode: Mode) {
    let s = setup("eng", mode).await;
    let t0 = 1_700_000_000_000;
    let mut first: Vec<_> = (0..600).map(|n| reserve("acme", n, t0 + n as i64)).collect();
    // Upstream copies: same event ids again; they must be applied once.
    first.extend((0..50).map(|n| reserve("acme", n, t0 + n as i64)));
    produce(&s, &first).await;
    run_until_caught_up(&s).await;
    let driver = assert_matches_driver(&s).await;
    assert_eq!(driver.skipped, 50, "the 50 copies are skipped by event id");

    // Restart: a fresh engine restores counts from the changelog and continues them.
    let second: Vec<_> = (600..900).map(|n| reserve("acme", n, t0 + n as i64)).collect();
    produce(&s, &second).await;
    // Ticks far in the future fire every pending timer.
    let p = producer(&s.bootstrap).unwrap();
    tick(&s, &p, t0 + 1_000_000).await;
    run_until_caught_up(&s).await;
    let driver = assert_matches_driver(&s).await;
    let total: u64 = driver.all_states().values().sum();
    assert_eq!(total, 900, "every reserve counted once across the restart");
    let expired = driver.outputs.iter().filter(|o| matches!(o.emitted.event, InventoryEvent::HoldExpired(_))).count();
    assert_eq!(expired, 900, "every timer fired once from the ticks");

    // Ticks that fire nothing touch no key; the clock they advanced must still survive a restart:
    // later events older than those ticks get the same stream time as in an uninterrupted run.
    tick(&s, &p, t0 + 2_000_000).await;
    run_until_caught_up(&s).await;
    let late: Vec<_> = (900..950).map(|n| reserve("acme", n, t0 + n as i64)).collect();
    produce(&s, &late).await;
    run_until_caught_up(&s).await;
    let driver = assert_matches_driver(&s).await;
    let last = driver.outputs.last().unwrap();
    assert!(souk_schemas::StreamEvent::envelope(&last.emitted.event).occurred_at >= t0 + 2_000_000, "stream time kept across the restart");
}

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn poison_records_go_to_the_dlq_with_provenance_and_processing_continues(#[case] mode: Mode) {
    let s = setup("dlq", mode).await;
    let topic = s.topology.topic("in");
    let key = "acme|m1|c".to_string();
    let p = producer(&s.bootstrap).unwrap();
    let garbage = OutRecord { topic: topic.clone(), partition: None, key: Some(key.clone()), payload: Some(b"\x00\x00\x00\x00\x63garbage".to_vec()), headers: make_headers(&[]) };
    send_all(&p, vec![garbage]).await.unwrap();
    let (_, mut bad) = reserve("acme", 1, 1_700_000_000_000);
    if let InventoryCommand::ReserveRequested(r) = &mut bad {
        r.meters = Decimal::new(-1, 0);
    }
    produce(&s, &[(key.clone(), bad), reserve("acme", 14, 1_700_000_000_001)]).await;
    run_until_caught_up(&s).await;
    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic("counter")).await.unwrap();
    assert_eq!(dlq.len(), 2, "the undecodable and the rejected record: {dlq:?}");
    assert_eq!(dlq[0].headers["souk-source-topic"], topic);
    assert_eq!(dlq[0].headers["souk-source-offset"], "0");
    assert!(dlq[0].headers["souk-error"].contains("undecodable"), "{:?}", dlq[0].headers);
    assert!(dlq[1].headers["souk-error"].contains("NEGATIVE_METERS"), "{:?}", dlq[1].headers);
    assert_eq!(dlq[0].payload.as_deref(), Some(&b"\x00\x00\x00\x00\x63garbage"[..]), "the poison bytes are kept as they were");
    let out = read_to_end(&s.bootstrap, &s.topology.topic("out")).await.unwrap();
    assert_eq!(out.len(), 1, "the good record after the poison ones was processed");
}
