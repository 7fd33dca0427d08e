//! `souk run`: apply the topology, then run every declared processor, sink and producer (or the
//! ones named with `--only`) until Ctrl-C/SIGTERM; each finishes its current batch before exiting.

use anyhow::{anyhow, bail, Context};
use clap::Args;
use souk_runtime::engine::{EngineSettings, ProcessorEngine, ProcessorSpec};
use souk_runtime::{metrics, stack, ticker};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Options of `souk run`.
#[derive(Args, Debug)]
pub struct RunArgs {
    /// Run only these components (processor, sink or producer names); default: all.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Where `/metrics` and `/healthz` listen (`off` to disable).
    #[arg(long, default_value = "127.0.0.1:9464", env = "SOUK_METRICS_ADDR")]
    pub metrics_addr: String,
    /// Skip `topology apply` (topics and schemas already in place).
    #[arg(long)]
    pub no_apply: bool,
    /// Override the clock ticker's interval in ms.
    #[arg(long)]
    pub tick_interval_ms: Option<u64>,
}

fn wanted(args: &RunArgs, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == name)
}

/// Runs until a shutdown signal; fails if any component fails.
pub async fn run(path: &Path, args: RunArgs) -> anyhow::Result<()> {
    let (topology, catalog) = super::load(path)?;
    let known_components: Vec<&String> = topology.processors.keys().chain(topology.sinks.keys()).chain(topology.producers.keys()).collect();
    for o in &args.only {
        if !known_components.contains(&o) {
            bail!("--only {o}: no processor, sink or producer of that name in {}", path.display());
        }
    }
    let bootstrap = stack::kafka_bootstrap();
    if !args.no_apply {
        super::topology::apply(path).await?;
    }
    if args.metrics_addr != "off" {
        let addr = metrics::serve(args.metrics_addr.parse().context("--metrics-addr")?).await?;
        tracing::info!(%addr, "metrics on /metrics, health on /healthz");
    }
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?);
    let (stop, shutdown) = watch::channel(false);
    let mut tasks: JoinSet<(String, anyhow::Result<()>)> = JoinSet::new();

    for name in topology.processors.keys().filter(|n| wanted(&args, n)) {
        let spec = ProcessorSpec::from_topology(&topology, name)?;
        let settings = EngineSettings::new(&bootstrap);
        let rx = shutdown.clone();
        let name = name.clone();
        match name.as_str() {
            "inventory-pool" => {
                let engine = ProcessorEngine::new(Arc::new(souk_processors::InventoryPool::default()), spec, codec.clone(), settings)?;
                tasks.spawn(async move { (name, engine.run(rx).await) });
            }
            other => bail!("processor {other} is declared but this build has no implementation for it"),
        }
    }
    let sinks: Vec<_> = topology.sinks.iter().filter(|(n, _)| wanted(&args, n)).map(|(n, s)| (n.clone(), s.kind.clone())).collect();
    if !sinks.is_empty() {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(8).connect(&stack::database_url()).await.context("connecting to Postgres (SOUK_DATABASE_URL)")?;
        souk_projections::migrate(&pool).await?;
        for (name, kind) in sinks {
            let (topology, codec, pool, bootstrap, rx) = (topology.clone(), codec.clone(), pool.clone(), bootstrap.clone(), shutdown.clone());
            match (name.as_str(), kind.as_str()) {
                ("inventory-postgres", "postgres") => {
                    tasks.spawn(async move {
                        let r = souk_sinks::postgres::run_inventory_sink(&topology, &name, &bootstrap, codec, pool, rx).await;
                        (name, r)
                    });
                }
                (other, _) => bail!("sink {other} is declared but this build has no implementation for it"),
            }
        }
    }
    for (name, p) in topology.producers.iter().filter(|(n, _)| wanted(&args, n)) {
        if p.kind == "ticker" {
            let interval = Duration::from_millis(args.tick_interval_ms.or(p.interval_ms).unwrap_or(1000));
            let producer = souk_runtime::kafka::producer(&bootstrap)?;
            let (codec, topics, rx, name) = (codec.clone(), topology.ticked_topics(), shutdown.clone(), name.clone());
            tasks.spawn(async move { (name, ticker::run(producer, codec, topics, interval, rx).await) });
        }
    }
    if tasks.is_empty() {
        bail!("nothing to run");
    }
    tracing::info!(components = tasks.len(), "souk running; Ctrl-C stops after the current batches");
    let signal = shutdown_signal();
    tokio::pin!(signal);
    let mut failure = None;
    loop {
        tokio::select! {
            _ = &mut signal, if !*stop.borrow() => {
                tracing::info!("shutdown requested");
                let _ = stop.send(true);
            }
            done = tasks.join_next() => match done {
                None => break,
                Some(Ok((name, Ok(())))) => tracing::info!(component = %name, "stopped"),
                Some(Ok((name, Err(e)))) => {
                    tracing::error!(component = %name, error = format!("{e:#}"), "component failed; stopping the others");
                    metrics::Metrics::global().set_healthy(false);
                    failure.get_or_insert(anyhow!("{name}: {e:#}"));
                    let _ = stop.send(true);
                }
                Some(Err(e)) => {
                    failure.get_or_insert(anyhow!("a component panicked: {e}"));
                    let _ = stop.send(true);
                }
            }
        }
    }
    failure.map_or(Ok(()), Err)
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
