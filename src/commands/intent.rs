//! `souk intent "<message>" --tenant <t>`: what the offline NLU makes of a message against the
//! tenant's catalog — the same table of `inventory.levels` the intent stage matches against, or a
//! JSON file — printed as the `IntentResolved` the intent stage would log. For people tuning
//! the catalog (aliases, colors) and for support explaining why a message was read the way it was.

use anyhow::Context;
use clap::Args;
use souk::intent::nlu::extract;
use souk::intent::{judged_for_tenant, load_catalogs, IntentStage};
use souk_runtime::stack;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::Role;
use souk_schemas::Envelope;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options of `souk intent`.
#[derive(Args, Debug)]
pub struct IntentArgs {
    /// The customer's message text.
    pub message: Option<String>,
    /// The tenant whose catalog the message is matched against.
    #[arg(long)]
    pub tenant: String,
    /// A reply-button id instead of (or with) the text, e.g. `accept_available:2`.
    #[arg(long)]
    pub reply_id: Option<String>,
    /// Read the catalog from this JSON file (`{"items": [{material, color, aliases,
    /// available_meters, price_per_meter, meters_per_roll}]}`) instead of Postgres.
    #[arg(long)]
    pub catalog: Option<PathBuf>,
    /// The tenant registry whose `intent_confidence_threshold` is stamped on the result, as the
    /// stage does (default: SOUK_TENANTS, else tenants.toml when present, else the default 0.80).
    #[arg(long, env = "SOUK_TENANTS")]
    pub tenants: Option<PathBuf>,
}

/// Loads the catalog, extracts, prints the event as pretty JSON (decimals as strings).
pub async fn intent(topology: &Path, args: IntentArgs) -> anyhow::Result<()> {
    let catalog = match &args.catalog {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            serde_json::from_str(&text).with_context(|| format!("parsing the catalog {}", path.display()))?
        }
        None => {
            // The stage's catalog: the table of the pools' latest levels, read from Kafka.
            let (topology, schemas) = super::load(topology)?;
            let codec = Arc::new(stack::codec_for(&topology, &schemas, &stack::schema_registry_url())?);
            let stage = topology.component(Role::Stage, souk::intent::NAME)?;
            let levels = stage.table("inventory.levels")?;
            let table = load_catalogs(&stack::kafka_bootstrap(), codec, levels).await.context("reading the catalog table (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL)")?;
            IntentStage::new(Arc::new(table), Arc::new(Tenants::default())).catalog(&args.tenant)
        }
    };
    if catalog.items.is_empty() {
        tracing::warn!(tenant = %args.tenant, "the catalog is empty: no material can match");
    }
    let text = args.message.as_deref();
    let source = format!("cli/{}", uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{text:?}/{:?}", args.reply_id).as_bytes()));
    let envelope = Envelope::external(&args.tenant, &source, 0);
    let event_id = envelope.event_id.clone();
    let resolved = extract(text, args.reply_id.as_deref(), &catalog).into_resolved(envelope, "cli", &event_id, &source, args.message.clone(), args.reply_id.clone());
    let tenants = match args.tenants.clone().or_else(|| Some(PathBuf::from("tenants.toml")).filter(|p| p.exists())) {
        Some(path) => Tenants::load(&path)?,
        None => Tenants::default(),
    };
    let resolved = judged_for_tenant(resolved, &tenants);
    println!("{}", serde_json::to_string_pretty(&resolved)?);
    Ok(())
}
