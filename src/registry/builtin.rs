//! Every kind this build of souk can run: one [`Registry::register`] line per kind, and the small
//! factory that builds it from its declaration and the shared [`BuildContext`].

use super::{BuildContext, Kind, Needs, NoOptions, Registry, Started};
use crate::intent::llm::LlmExtractor;
use crate::intent::IntentStage;
use crate::model::ModelConfig;
use crate::orchestration::{chat::ChatIntentStage, narrator::NarratorStage, resourcing::ResourcingStage};
use futures::future::BoxFuture;
use serde::Deserialize;
use souk_processors::products::ProductInventory;
use souk_processors::rules::BusinessRules;
use souk_processors::security::AuthAnomalies;
use souk_processors::social::{ChannelConnection, ConversationProcessor, NotificationFeed};
use souk_processors::{escalation::EscalationProcessor, invoicing::Invoicing, ledger::Ledger, negotiation::NegotiationProcessor, order_session::OrderSession, InventoryPool};
use souk_processors::{intent_watch::IntentWatch, standing_intent::StandingIntentProcessor};
use souk_producers::catalog::{NegotiationRoutes, PartnerCatalog};
use souk_producers::gateway::{GatewayConfig, GatewayState, KafkaPublisher, LogOrderDirectory, OrchestrationTables};
use souk_runtime::engine::ProcessorEngine;
use souk_runtime::processor::Processor;
use souk_runtime::stage::{Stage, StageRunner};
use souk_runtime::topology::{ComponentSpec, Role, SourceTopic};
use souk_sinks::payments::PaymentsOptions;
use souk_sinks::postgres::{CommerceProjection, InventoryProjection, OrchestrationProjection, ProductProjection, Projection, RuleProjection};
use souk_sinks::whatsapp::DispatcherOptions;
use std::sync::Arc;
use std::time::Duration;

/// The registry of every built-in kind.
pub fn builtin() -> Registry {
    let mut r = Registry::default();
    r.register(Role::Processor, "inventory-pool", Kind::new::<NoOptions>(Needs::NOTHING, processor::<InventoryPool>))
        .register(Role::Processor, "order-session", Kind::new::<NoOptions>(Needs::NOTHING, processor::<OrderSession>))
        .register(Role::Processor, "invoicing", Kind::new::<NoOptions>(Needs::NOTHING, processor::<Invoicing>))
        .register(Role::Processor, "ledger", Kind::new::<NoOptions>(Needs::NOTHING, processor::<Ledger>))
        .register(Role::Processor, "negotiation", Kind::new::<NoOptions>(Needs::NOTHING, processor::<NegotiationProcessor>))
        .register(Role::Processor, "escalation", Kind::new::<NoOptions>(Needs::NOTHING, processor::<EscalationProcessor>))
        .register(Role::Processor, "standing-intent", Kind::new::<NoOptions>(Needs::NOTHING, processor::<StandingIntentProcessor>))
        .register(Role::Processor, "intent-watch", Kind::new::<NoOptions>(Needs::NOTHING, processor::<IntentWatch>))
        .register(Role::Processor, "social-conversation", Kind::new::<NoOptions>(Needs::NOTHING, processor::<ConversationProcessor>))
        .register(Role::Processor, "notification-feed", Kind::new::<NoOptions>(Needs::NOTHING, processor::<NotificationFeed>))
        .register(Role::Processor, "product-inventory", Kind::new::<NoOptions>(Needs::NOTHING, processor::<ProductInventory>))
        .register(Role::Processor, "channel-connection", Kind::new::<NoOptions>(Needs::NOTHING, processor::<ChannelConnection>))
        .register(Role::Processor, "auth-anomalies", Kind::new::<NoOptions>(Needs::NOTHING, processor::<AuthAnomalies>))
        .register(Role::Processor, "business-rules", Kind::new::<NoOptions>(Needs::NOTHING, processor::<BusinessRules>))
        .register(Role::Stage, "social-reply", Kind::new::<NoOptions>(Needs::TENANTS, social_reply_stage))
        .register(Role::Stage, "narrator", Kind::new::<NoOptions>(Needs::NOTHING, narrator_stage))
        .register(Role::Stage, "intent", Kind::new::<NoOptions>(Needs::TENANTS, intent_stage))
        .register(Role::Stage, "chat-intent", Kind::new::<NoOptions>(Needs::NOTHING, chat_intent_stage))
        .register(Role::Stage, "resourcing", Kind::new::<NoOptions>(Needs::NOTHING, resourcing_stage))
        .register(Role::Stage, "escalation-intake", Kind::new::<NoOptions>(Needs::NOTHING, escalation_intake))
        .register(Role::Sink, "inventory-postgres", Kind::new::<NoOptions>(Needs::DATABASE, postgres_sink::<InventoryProjection>))
        .register(Role::Sink, "commerce-postgres", Kind::new::<NoOptions>(Needs::DATABASE, postgres_sink::<CommerceProjection>))
        .register(Role::Sink, "orchestration-postgres", Kind::new::<NoOptions>(Needs::DATABASE, postgres_sink::<OrchestrationProjection>))
        .register(Role::Sink, "products-postgres", Kind::new::<NoOptions>(Needs::DATABASE, postgres_sink::<ProductProjection>))
        .register(Role::Sink, "rules-postgres", Kind::new::<NoOptions>(Needs::DATABASE, postgres_sink::<RuleProjection>))
        .register(Role::Sink, "social-postgres", Kind::new::<NoOptions>(Needs::DATABASE, social_postgres))
        .register(Role::Sink, "search-index", Kind::new::<NoOptions>(Needs::NOTHING, search_index))
        .register(Role::Sink, "whatsapp-dispatcher", Kind::new::<DispatcherOptions>(Needs::DATABASE_AND_TENANTS, whatsapp_dispatcher))
        .register(Role::Sink, "social-dispatcher", Kind::new::<souk_sinks::social::SocialDispatcherOptions>(Needs::DATABASE_AND_TENANTS, social_dispatcher))
        .register(Role::Sink, "payments-dispatcher", Kind::new::<PaymentsOptions>(Needs::DATABASE_AND_TENANTS, payments_dispatcher))
        .register(Role::Producer, "clock", Kind::new::<ClockOptions>(Needs::NOTHING, clock))
        .register(Role::Producer, souk_producers::gateway::GATEWAY_KIND, Kind::new::<GatewayConfig>(Needs::TENANTS, http_gateway))
        .register(Role::Producer, "partner-simulator", Kind::new::<NoOptions>(Needs::TENANTS, partner_simulator))
        .register(Role::Api, "read-api", Kind::new::<NoOptions>(Needs::DATABASE_AND_TENANTS, read_api))
        .register(Role::Api, "search-api", Kind::new::<NoOptions>(Needs::TENANTS, search_api));
    r
}

/// A keyed processor on the Kafka engine; the processor value itself is stateless.
fn processor<P: Processor + Default>(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let engine = ProcessorEngine::new(Arc::new(P::default()), spec, cx.codec.clone(), cx.engine.clone())?;
        Ok(Started::task(engine.run(cx.shutdown.clone())))
    })
}

fn intent_stage(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let tenants = cx.tenants.clone();
        let catalogs = Arc::new(crate::intent::load_catalogs(&cx.engine.bootstrap, cx.codec.clone(), spec.table("inventory.levels")?).await?);
        let stage = match &cx.deployment.llm {
            Some((url, model)) => IntentStage::with_llm(catalogs, tenants, LlmExtractor::new(&ModelConfig::from_env(url, model)?)),
            None => IntentStage::new(catalogs, tenants),
        };
        run_stage(&cx, stage, spec)
    })
}

/// Runs `stage` on Kafka as `spec` declares it.
fn run_stage<S: Stage>(cx: &BuildContext, stage: S, spec: ComponentSpec) -> anyhow::Result<Started> {
    let mut runner = StageRunner::new(Arc::new(stage), spec, cx.codec.clone(), &cx.engine.bootstrap, cx.engine.mode, &cx.engine.instance)?;
    runner.static_instance = cx.static_instance();
    Ok(Started::task(runner.run(cx.shutdown.clone())))
}

/// Reads bundle chat messages once (offline parser).
fn chat_intent_stage(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move { run_stage(&cx, ChatIntentStage, spec) })
}

/// Renders narrative ledger entries (with the model when `--llm-base-url` is set).
fn narrator_stage(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let stage = match &cx.deployment.llm {
            Some((url, model)) => NarratorStage::with_model(crate::model::ModelClient::new(&ModelConfig::from_env(url, model)?)),
            None => NarratorStage::offline(),
        };
        run_stage(&cx, stage, spec)
    })
}

/// The customers' data keys, for a component that declares the `privacy.keys` table.
async fn key_ring(cx: &BuildContext, spec: &ComponentSpec) -> anyhow::Result<Arc<souk_runtime::privacy::KeyRing>> {
    let master = souk_runtime::privacy::MasterKey::from_env()?;
    let keys: &SourceTopic = spec.table("privacy.keys")?;
    let ring = souk_runtime::privacy::KeyRing::load(&cx.engine.bootstrap, cx.codec.clone(), keys, master, Duration::from_secs(60)).await?;
    Ok(Arc::new(ring))
}

/// Drafts the social inbox's replies.
fn social_reply_stage(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let ring = key_ring(&cx, &spec).await?;
        let products = Arc::new(crate::social::availability::load(&cx.engine.bootstrap, cx.codec.clone(), spec.table("products.availability")?).await?);
        let rules = Arc::new(crate::social::rules::load(&cx.engine.bootstrap, cx.codec.clone(), spec.table("rules.table")?).await?);
        run_stage(&cx, crate::social::reply::ReplyStage::new(ring, products, rules, cx.tenants.clone()), spec)
    })
}

/// Re-keys raised escalations by their id.
fn escalation_intake(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move { run_stage(&cx, crate::escalations::EscalationIntake, spec) })
}

/// Answers re-sourcing requests from the partners and products tables.
fn resourcing_stage(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let catalog = PartnerCatalog::load(&cx.engine.bootstrap, cx.codec.clone(), spec.table("partners")?, spec.table("partner.products")?).await?;
        run_stage(&cx, ResourcingStage::new(Arc::new(catalog)), spec)
    })
}

/// A Postgres projection; `P::default()` is the projection.
fn postgres_sink<P: Projection + Default>(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let db = cx.db()?;
        Ok(Started::task(async move { souk_sinks::postgres::run_projection_sink(P::default(), &cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), db, cx.shutdown.clone()).await }))
    })
}

/// The social inbox's read models, opened with the customers' keys.
fn social_postgres(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let db = cx.db()?;
        let projection = souk_sinks::postgres::SocialProjection::new(key_ring(&cx, &spec).await?);
        Ok(Started::task(async move { souk_sinks::postgres::run_projection_sink(projection, &cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), db, cx.shutdown.clone()).await }))
    })
}

fn search_index(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let dir = cx.deployment.index_dir.clone();
        let ring = if spec.tables.iter().any(|t| t.declared == "privacy.keys") { Some(key_ring(&cx, &spec).await?) } else { None };
        Ok(Started::task(async move { souk_sinks::search::run_search_sink(&cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), ring, dir, cx.shutdown.clone()).await }))
    })
}

fn whatsapp_dispatcher(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let (db, tenants) = (cx.db()?, cx.tenants.clone());
        let settings = spec.options::<DispatcherOptions>()?.settings(&cx.deployment.whatsapp_base_url, &cx.deployment.whatsapp_api_version);
        Ok(Started::task(
            async move { souk_sinks::whatsapp::run_whatsapp_dispatcher(&cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), db, tenants, settings, cx.shutdown.clone()).await },
        ))
    })
}

/// Sends the social inbox's replies within each connection's budget.
fn social_dispatcher(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let (db, tenants) = (cx.db()?, cx.tenants.clone());
        let d = &cx.deployment;
        let settings = spec.options::<souk_sinks::social::SocialDispatcherOptions>()?.settings(&d.instagram_base_url, &d.whatsapp_base_url, &d.whatsapp_api_version);
        let ring = key_ring(&cx, &spec).await?;
        Ok(Started::task(
            async move { souk_sinks::social::run_social_dispatcher(&cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), db, tenants, ring, settings, cx.shutdown.clone()).await },
        ))
    })
}

/// Makes the checkout saga's payment provider calls with each tenant's secret key.
fn payments_dispatcher(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let (db, tenants) = (cx.db()?, cx.tenants.clone());
        let settings = spec.options::<PaymentsOptions>()?.settings(&cx.deployment.payments_base_url);
        Ok(Started::task(
            async move { souk_sinks::payments::run_payments_dispatcher(&cx.topology, &spec.name, &cx.engine.bootstrap, cx.codec.clone(), db, tenants, settings, cx.shutdown.clone()).await },
        ))
    })
}

/// Options of the `clock` producer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClockOptions {
    /// Time between ticks (overridden by `souk run --tick-interval-ms`).
    #[serde(default = "ClockOptions::default_interval_ms")]
    interval_ms: u64,
    /// No ticks of its own: `POST /v1/clock/ticks` produces them (also `souk run --driven-clock`).
    #[serde(default)]
    driven: bool,
}

impl ClockOptions {
    fn default_interval_ms() -> u64 {
        1000
    }
}

fn clock(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let options: ClockOptions = spec.options()?;
        if options.driven || cx.deployment.driven_clock {
            if cx.tenants.iter().next().is_none() {
                anyhow::bail!("the driven clock authenticates with tenant API keys: run it with a component that loads the tenant registry (e.g. the gateway)");
            }
            let producer = souk_runtime::kafka::producer(&cx.engine.bootstrap)?;
            return Ok(Started::http(souk_producers::clock::driven::surface(producer, cx.codec.clone(), cx.topology.ticked_topics(), cx.tenants.clone())));
        }
        let interval = Duration::from_millis(cx.deployment.tick_interval_ms.unwrap_or(options.interval_ms));
        let producer = souk_runtime::kafka::producer(&cx.engine.bootstrap)?;
        Ok(Started::task(souk_producers::clock::run(producer, cx.codec.clone(), cx.topology.ticked_topics(), interval, cx.shutdown.clone())))
    })
}

/// The gateway: the WhatsApp webhook and owner commands, turned into events.
fn http_gateway(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let config: GatewayConfig = spec.options()?;
        let publisher = Arc::new(KafkaPublisher::connect(&cx.engine.bootstrap, cx.codec.clone(), &cx.topology)?);
        let orders = Arc::new(LogOrderDirectory::load(&cx.engine.bootstrap, cx.codec.clone(), spec.table("orders.directory")?).await?);
        let mut state = GatewayState::new(cx.tenants.clone(), publisher, orders).with_config(config);
        // Orchestration (partners, bundles, partner replies) when the gateway declares its tables.
        if spec.tables.iter().any(|t| t.declared == "negotiations.directory") {
            let (b, codec) = (&cx.engine.bootstrap, cx.codec.clone());
            let catalog = PartnerCatalog::load(b, codec.clone(), spec.table("partners")?, spec.table("partner.products")?).await?;
            let routes = NegotiationRoutes::load(b, codec, spec.table("negotiations.directory")?).await?;
            state = state.with_orchestration(Arc::new(OrchestrationTables { catalog, routes }));
        }
        // The social inbox when it declares the customers' keys.
        if spec.tables.iter().any(|t| t.declared == "privacy.keys") {
            state = state.with_privacy(key_ring(&cx, &spec).await?);
        }
        // The authentication audit (rules AU3) when the gateway declares where attempts go.
        let audited = cx.topology.producers.get(&spec.name).is_some_and(|p| p.outputs.contains_key("security"));
        Ok(Started::http(if audited { souk_producers::gateway::audited_surface(state) } else { souk_producers::gateway::surface(state) }))
    })
}

/// The partner simulator; it answers souk's webhook on this process's own HTTP address.
fn partner_simulator(cx: Arc<BuildContext>, spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move {
        let souk_url = format!("http://{}", cx.deployment.http_addr);
        // Its own log, read back whole (not a table of latest records: every answer counts).
        let declared =
            cx.topology.producers.get(&spec.name).and_then(|p| p.outputs.get("log")).map(|o| o.get_ref().clone()).ok_or_else(|| anyhow::anyhow!("producer {} declares no `log` output", spec.name))?;
        let log = SourceTopic { topic: cx.topology.topic(&declared), partitions: cx.topology.partitions(&declared), declared };
        Ok(Started::http(souk_producers::simulator::start(&spec, &log, &cx.engine.bootstrap, cx.codec.clone(), cx.tenants.clone(), &souk_url).await?))
    })
}

/// The tenant-scoped read API over the Postgres read models.
fn read_api(cx: Arc<BuildContext>, _spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move { Ok(Started::http(souk_projections::api::surface(cx.db()?, cx.tenants.clone()))) })
}

/// The tenant-scoped search API over the search sink's index.
fn search_api(cx: Arc<BuildContext>, _spec: ComponentSpec) -> BoxFuture<'static, anyhow::Result<Started>> {
    Box::pin(async move { Ok(Started::http(souk_projections::search::search_surface(cx.deployment.index_dir.clone(), cx.tenants.clone()))) })
}
