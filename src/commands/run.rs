//! `souk run`: apply the topology, then run every declared processor, stage, sink and producer (or
//! the ones named with `--only`) until Ctrl-C/SIGTERM; each finishes its current batch before
//! exiting. `souk demo` starts the same components in-process through [`start`].

use anyhow::{anyhow, bail, Context};
use clap::Args;
use souk::intent_stage::IntentStage;
use souk::llm::{LlmConfig, LlmExtractor};
use souk_processors::{invoicing::Invoicing, ledger::Ledger, order_session::OrderSession, InventoryPool};
use souk_runtime::codec::Codec;
use souk_runtime::engine::{EngineSettings, ProcessorEngine, ProcessorSpec};
use souk_runtime::processor::Processor;
use souk_runtime::stage::{StageRunner, StageSpec};
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::Topology;
use souk_runtime::{metrics, stack, ticker};
use souk_sinks::whatsapp::DispatcherSettings;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// Options of `souk run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Run only these components (processor, stage, sink or producer names); default: all.
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
    /// The tenant registry (WhatsApp numbers, secrets, API keys).
    #[arg(long, default_value = "tenants.toml", env = "SOUK_TENANTS")]
    pub tenants: PathBuf,
    /// Where the HTTP gateway (webhook, owner commands, read API, search API) listens.
    #[arg(long, default_value = "127.0.0.1:8080", env = "SOUK_HTTP_ADDR")]
    pub http_addr: String,
    /// The tantivy index directory of the search sink and the search API.
    #[arg(long, default_value = "data/search-index", env = "SOUK_INDEX_DIR")]
    pub index_dir: PathBuf,
    /// Base URL of the WhatsApp Cloud API (Graph API); a local recording server in demo and tests.
    #[arg(long, default_value = "https://graph.facebook.com", env = "SOUK_WHATSAPP_BASE_URL")]
    pub whatsapp_base_url: String,
    /// Graph API version used in outbound calls.
    #[arg(long, default_value = "v21.0", env = "SOUK_WHATSAPP_API_VERSION")]
    pub whatsapp_api_version: String,
    /// OpenAI-compatible API base URL (e.g. `https://api.openai.com/v1`) for the intent stage; the
    /// offline extractor when unset. The key comes from SOUK_LLM_API_KEY.
    #[arg(long, env = "SOUK_LLM_BASE_URL")]
    pub llm_base_url: Option<String>,
    /// Model the intent stage asks when `--llm-base-url` is set (logged as `llm:<model>`).
    #[arg(long, default_value = "gpt-4o-mini", env = "SOUK_LLM_MODEL")]
    pub llm_model: String,
    /// How processors and stages make their effects exactly-once: `transactions` (one Kafka
    /// transaction per batch), `idempotent-effects` (for brokers without transactions) or `auto`
    /// (transactions when the broker supports them).
    #[arg(long, default_value = "auto", env = "SOUK_EXACTLY_ONCE")]
    pub exactly_once: souk_runtime::exactly_once::ModeChoice,
    /// This instance's name in its consumer groups (part of each transactional id): unique per
    /// running instance, stable across its restarts (e.g. a StatefulSet ordinal) so a restart
    /// aborts the crashed instance's open transactions at once. Default: random per start.
    #[arg(long, env = "SOUK_INSTANCE_ID")]
    pub instance_id: Option<String>,
}

/// Started components: their tasks, the switch that stops them and where HTTP listens.
pub struct Running {
    tasks: JoinSet<(String, anyhow::Result<()>)>,
    stop: watch::Sender<bool>,
    /// The gateway's bound address, when the gateway runs.
    pub http_addr: Option<SocketAddr>,
}

fn wanted(args: &RunArgs, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == name)
}

/// Runs until a shutdown signal; fails if any component fails.
pub async fn run(path: &Path, args: RunArgs) -> anyhow::Result<()> {
    let (topology, catalog) = super::load(path)?;
    if !args.no_apply {
        super::topology::apply(path).await?;
    }
    if args.metrics_addr != "off" {
        let addr = metrics::serve(args.metrics_addr.parse().context("--metrics-addr")?).await?;
        tracing::info!(%addr, "metrics on /metrics, health on /healthz");
    }
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url())?);
    let running = start(&topology, codec, &args).await?;
    supervise(running, shutdown_signal()).await
}

fn engine<P: Processor>(processor: P, topology: &Topology, name: &str, codec: &Arc<Codec>, settings: &EngineSettings) -> anyhow::Result<ProcessorEngine<P>> {
    ProcessorEngine::new(Arc::new(processor), ProcessorSpec::from_topology(topology, name)?, codec.clone(), settings.clone())
}

/// Starts every wanted component of `topology` as a task.
pub async fn start(topology: &Topology, codec: Arc<Codec>, args: &RunArgs) -> anyhow::Result<Running> {
    let known: Vec<&String> = topology.processors.keys().chain(topology.stages.keys()).chain(topology.sinks.keys()).chain(topology.producers.keys()).collect();
    for o in &args.only {
        if !known.contains(&o) {
            bail!("--only {o}: no processor, stage, sink or producer of that name in the topology");
        }
    }
    let bootstrap = stack::kafka_bootstrap();
    let (mode, why) = tokio::task::block_in_place(|| souk_runtime::exactly_once::resolve(args.exactly_once, &bootstrap));
    let instance = args.instance_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    tracing::info!(mode = %mode, reason = %why, instance = %instance, "exactly-once mode");
    eprintln!("souk: exactly-once mode {mode} ({why}); instance {instance}");
    let mut settings = EngineSettings::new(&bootstrap, mode).with_instance(&instance);
    settings.static_membership = args.instance_id.is_some();
    let (stop, shutdown) = watch::channel(false);
    let mut tasks: JoinSet<(String, anyhow::Result<()>)> = JoinSet::new();
    let needs_db = topology.sinks.keys().chain(topology.stages.keys()).chain(topology.producers.iter().filter(|(_, p)| p.kind == "http").map(|(n, _)| n)).any(|n| wanted(args, n));
    let pool = if needs_db {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(12).connect(&stack::database_url()).await.context("connecting to Postgres (SOUK_DATABASE_URL)")?;
        souk_projections::migrate(&pool).await?;
        Some(pool)
    } else {
        None
    };
    // HTTP components route and authenticate by tenant; the intent stage applies each tenant's
    // confidence threshold.
    let needs_tenants = topology.sinks.iter().any(|(n, s)| s.kind == "http" && wanted(args, n))
        || topology.producers.iter().any(|(n, p)| p.kind == "http" && wanted(args, n))
        || topology.stages.keys().any(|n| n == souk::intent_stage::NAME && wanted(args, n));
    let tenants = if needs_tenants {
        Arc::new(Tenants::load(&args.tenants).with_context(|| format!("loading the tenant registry {} (--tenants / SOUK_TENANTS; tenants.example.toml shows the format)", args.tenants.display()))?)
    } else {
        Arc::new(Tenants::default())
    };

    for name in topology.processors.keys().filter(|n| wanted(args, n)) {
        let rx = shutdown.clone();
        let n = name.clone();
        match name.as_str() {
            "inventory-pool" => {
                let e = engine(InventoryPool, topology, name, &codec, &settings)?;
                tasks.spawn(async move { (n, e.run(rx).await) });
            }
            "order-session" => {
                let e = engine(OrderSession, topology, name, &codec, &settings)?;
                tasks.spawn(async move { (n, e.run(rx).await) });
            }
            "invoicing" => {
                let e = engine(Invoicing, topology, name, &codec, &settings)?;
                tasks.spawn(async move { (n, e.run(rx).await) });
            }
            "ledger" => {
                let e = engine(Ledger, topology, name, &codec, &settings)?;
                tasks.spawn(async move { (n, e.run(rx).await) });
            }
            other => bail!("processor {other} is declared but this build has no implementation for it"),
        }
    }
    for name in topology.stages.keys().filter(|n| wanted(args, n)) {
        let (rx, n) = (shutdown.clone(), name.clone());
        match name.as_str() {
            souk::intent_stage::NAME => {
                let pool = pool.clone().expect("database pool for stages");
                let stage = match &args.llm_base_url {
                    Some(url) => IntentStage::with_llm(pool, tenants.clone(), LlmExtractor::new(LlmConfig::from_env(url, &args.llm_model)?)?),
                    None => IntentStage::new(pool, tenants.clone()),
                };
                let mut runner = StageRunner::new(Arc::new(stage), StageSpec::from_topology(topology, name)?, codec.clone(), &bootstrap, mode, &instance)?;
                runner.static_instance = args.instance_id.clone();
                tasks.spawn(async move { (n, runner.run(rx).await) });
            }
            other => bail!("stage {other} is declared but this build has no implementation for it"),
        }
    }
    for (name, decl) in topology.sinks.iter().filter(|(n, _)| wanted(args, n)) {
        let (topology, codec, bootstrap, rx, name) = (topology.clone(), codec.clone(), bootstrap.clone(), shutdown.clone(), name.clone());
        let pool = pool.clone().expect("database pool for sinks");
        match (name.as_str(), decl.kind.as_str()) {
            ("inventory-postgres", "postgres") => {
                tasks.spawn(async move {
                    let r = souk_sinks::postgres::run_inventory_sink(&topology, &name, &bootstrap, codec, pool, rx).await;
                    (name, r)
                });
            }
            ("commerce-postgres", "postgres") => {
                tasks.spawn(async move {
                    let r = souk_sinks::postgres::run_commerce_sink(&topology, &name, &bootstrap, codec, pool, rx).await;
                    (name, r)
                });
            }
            ("search-index", "tantivy") => {
                let dir = args.index_dir.clone();
                tasks.spawn(async move {
                    let r = souk_sinks::search::run_search_sink(&topology, &name, &bootstrap, codec, dir, rx).await;
                    (name, r)
                });
            }
            ("whatsapp-dispatcher", "http") => {
                let settings = DispatcherSettings { base_url: args.whatsapp_base_url.clone(), api_version: args.whatsapp_api_version.clone(), ..DispatcherSettings::default() };
                let tenants = tenants.clone();
                tasks.spawn(async move {
                    let r = souk_sinks::whatsapp::run_whatsapp_dispatcher(&topology, &name, &bootstrap, codec, pool, tenants, settings, rx).await;
                    (name, r)
                });
            }
            (other, kind) => bail!("sink {other} (kind {kind}) is declared but this build has no implementation for it"),
        }
    }
    let mut http_addr = None;
    for (name, p) in topology.producers.iter().filter(|(n, _)| wanted(args, n)) {
        match p.kind.as_str() {
            "ticker" => {
                let interval = Duration::from_millis(args.tick_interval_ms.or(p.interval_ms).unwrap_or(1000));
                let producer = souk_runtime::kafka::producer(&bootstrap)?;
                let (codec, topics, rx, name) = (codec.clone(), topology.ticked_topics(), shutdown.clone(), name.clone());
                tasks.spawn(async move { (name, ticker::run(producer, codec, topics, interval, rx).await) });
            }
            "http" => {
                let pool = pool.clone().expect("database pool for the gateway");
                let (addr, task) = serve_http(topology, codec.clone(), &bootstrap, pool, tenants.clone(), args, shutdown.clone()).await?;
                http_addr = Some(addr);
                let name = name.clone();
                tasks.spawn(async move { (name, task.await) });
            }
            other => bail!("producer {name} has unknown kind {other}"),
        }
    }
    if tasks.is_empty() {
        bail!("nothing to run");
    }
    tracing::info!(components = tasks.len(), "souk running; Ctrl-C stops after the current batches");
    Ok(Running { tasks, stop, http_addr })
}

/// Binds the gateway (webhook + owner commands), the read API and the search API on one address.
async fn serve_http(
    topology: &Topology,
    codec: Arc<Codec>,
    bootstrap: &str,
    pool: sqlx::PgPool,
    tenants: Arc<Tenants>,
    args: &RunArgs,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<(SocketAddr, impl Future<Output = anyhow::Result<()>>)> {
    use souk_producers::gateway::{GatewayState, KafkaPublisher, PgOrderDirectory};
    let publisher = Arc::new(KafkaPublisher::connect(bootstrap, codec, topology)?);
    let orders = Arc::new(PgOrderDirectory::new(pool.clone()));
    let (app, _) = souk::http::app(GatewayState::new(tenants.clone(), publisher, orders), pool, tenants, args.index_dir.clone());
    let listener = tokio::net::TcpListener::bind(&args.http_addr).await.with_context(|| format!("binding the gateway to {}", args.http_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "gateway: /webhooks/whatsapp, owner commands and read API under /v1, /openapi.json");
    let task = async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
            .context("gateway server")
    };
    Ok((addr, task))
}

/// Waits for `signal` (then stops everything) or for a component to fail (then stops the others).
pub async fn supervise(running: Running, signal: impl Future<Output = ()>) -> anyhow::Result<()> {
    let Running { mut tasks, stop, .. } = running;
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

/// Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
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
