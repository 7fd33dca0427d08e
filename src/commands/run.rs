//! `souk run`: apply the topology, then run every declared processor, stage, sink and producer (or
//! the ones named with `--only`), each built by its kind's factory in the component registry
//! (`souk::registry`), until Ctrl-C/SIGTERM; each finishes its current batch before exiting.
//! `souk demo` starts the same components in-process through [`start`].

use anyhow::{anyhow, bail, Context};
use clap::Args;
use souk::registry::{self, BuildContext, Deployment};
use souk_runtime::codec::Codec;
use souk_runtime::engine::EngineSettings;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::Topology;
use souk_runtime::{metrics, stack};
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
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
    /// The clock does not tick by itself; `POST /v1/clock/ticks {"at"}` writes ticks at chosen
    /// times (tests and demos drive stream time through it).
    #[arg(long, env = "SOUK_DRIVEN_CLOCK")]
    pub driven_clock: bool,
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
    /// Base URL of the payment provider (a Stripe-compatible API) the payments dispatcher calls;
    /// a local recording stand-in in demo and tests.
    #[arg(long, default_value = "https://api.stripe.com", env = "SOUK_PAYMENTS_BASE_URL")]
    pub payments_base_url: String,
    /// Base URL of Instagram's Graph API (the social dispatcher's `/me/messages` calls); a local
    /// recording server in demo and tests.
    #[arg(long, default_value = "https://graph.instagram.com", env = "SOUK_INSTAGRAM_BASE_URL")]
    pub instagram_base_url: String,
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
    /// Where the HTTP API listens, when a running component serves routes.
    pub http_addr: Option<SocketAddr>,
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

impl RunArgs {
    /// The machine-specific settings components are built with.
    pub fn deployment(&self) -> Deployment {
        Deployment {
            tenants: self.tenants.clone(),
            http_addr: self.http_addr.clone(),
            index_dir: self.index_dir.clone(),
            whatsapp_base_url: self.whatsapp_base_url.clone(),
            whatsapp_api_version: self.whatsapp_api_version.clone(),
            payments_base_url: self.payments_base_url.clone(),
            instagram_base_url: self.instagram_base_url.clone(),
            llm: self.llm_base_url.clone().map(|url| (url, self.llm_model.clone())),
            tick_interval_ms: self.tick_interval_ms,
            driven_clock: self.driven_clock,
        }
    }
}

/// Starts every wanted component of `topology` (all, or `--only`) as a task, each built by the
/// factory its `kind` names in the component registry.
pub async fn start(topology: &Topology, codec: Arc<Codec>, args: &RunArgs) -> anyhow::Result<Running> {
    let registry = registry::builtin();
    let problems = registry.check(topology);
    if let Some(first) = problems.first() {
        bail!("{first}{}", if problems.len() > 1 { format!(" (and {} more; run `souk topology check`)", problems.len() - 1) } else { String::new() });
    }
    let selected = registry.selected(topology, &args.only)?;
    if selected.is_empty() {
        bail!("nothing to run");
    }
    let needs = registry.needs(topology, &selected)?;
    let bootstrap = stack::kafka_bootstrap();
    let (mode, why) = tokio::task::block_in_place(|| souk_runtime::exactly_once::resolve(args.exactly_once, &bootstrap));
    let instance = args.instance_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    tracing::info!(mode = %mode, reason = %why, instance = %instance, "exactly-once mode");
    eprintln!("souk: exactly-once mode {mode} ({why}); instance {instance}");
    let mut engine = EngineSettings::new(&bootstrap, mode).with_instance(&instance);
    engine.static_membership = args.instance_id.is_some();
    let db = if needs.database { Some(souk_projections::connect(&stack::database_url(), 12).await?) } else { None };
    let tenants = if needs.tenants {
        Arc::new(Tenants::load(&args.tenants).with_context(|| format!("loading the tenant registry {} (--tenants / SOUK_TENANTS; tenants.example.toml shows the format)", args.tenants.display()))?)
    } else {
        Arc::new(Tenants::default())
    };
    let (stop, shutdown) = watch::channel(false);
    let cx = Arc::new(BuildContext { topology: topology.clone(), codec, engine, db, tenants, deployment: args.deployment(), shutdown });
    let mut tasks: JoinSet<(String, anyhow::Result<()>)> = JoinSet::new();
    let mut surfaces = Vec::new();
    for (name, started) in registry.build(cx.clone(), &selected).await? {
        surfaces.extend(started.http);
        if let Some(task) = started.task {
            tasks.spawn(async move { (name, task.await) });
        }
    }
    let mut http_addr = None;
    if !surfaces.is_empty() {
        let (bound, server) = souk::http::serve(&cx.deployment.http_addr, surfaces, cx.shutdown.clone()).await?;
        http_addr = Some(bound);
        tasks.spawn(async move { ("http".to_string(), server.await) });
    }
    tracing::info!(components = tasks.len(), "souk running; Ctrl-C stops after the current batches");
    Ok(Running { tasks, stop, http_addr })
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
