//! The `intent` stage (topology.toml `[stages.intent]`): every customer message on
//! `whatsapp.inbound` becomes one `IntentResolved` on `orders.inputs`, resolved by the offline NLU
//! against the tenant's catalog snapshot (the Postgres read model: prices, aliases, availability),
//! or by an OpenAI-compatible model when `souk run --llm-base-url` is set (`crate::llm`).
//! The result is logged with the extractor's version; the order session only ever reads that event,
//! so replays never resolve a message again. The output's id derives from the message's, so a
//! re-run after a crash produces a copy the session drops by id.

use crate::llm::LlmExtractor;
use souk_processors::intent::{self, CatalogEntry, TenantCatalog};
use souk_projections::catalog::{load_tenant_catalog, CatalogRow};
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_schemas::orders::IntentResolved;
use souk_schemas::whatsapp::InboundEvent;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The stage's name in topology.toml.
pub const NAME: &str = "intent";

/// What the stage writes (`orders.inputs` carries it as one branch of its union).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentOutput {
    /// The meaning of one customer message.
    IntentResolved(IntentResolved),
}

souk_schemas::stream_event!(IntentOutput { IntentResolved });

/// The extractor's catalog from the read model's rows.
pub fn catalog_from_rows(rows: Vec<CatalogRow>) -> TenantCatalog {
    TenantCatalog {
        items: rows
            .into_iter()
            .map(|r| CatalogEntry {
                material: r.material,
                color: r.color,
                aliases: r.aliases,
                available_meters: r.available_meters,
                price_per_meter: r.price_per_meter,
                meters_per_roll: r.meters_per_roll,
            })
            .collect(),
    }
}

/// Resolves customer messages against the Postgres catalog snapshot: with the offline extractor,
/// or with an OpenAI-compatible model when one is configured (`crate::llm`).
pub struct IntentStage {
    pool: PgPool,
    llm: Option<LlmExtractor>,
}

impl IntentStage {
    /// A stage reading catalogs from `pool`, resolving offline.
    pub fn new(pool: PgPool) -> IntentStage {
        IntentStage { pool, llm: None }
    }

    /// A stage resolving message text with `llm` (reply ids stay offline; unusable answers fall
    /// back to the offline extractor; an unreachable model makes the stage retry).
    pub fn with_llm(pool: PgPool, llm: LlmExtractor) -> IntentStage {
        IntentStage { pool, llm: Some(llm) }
    }
}

impl Stage for IntentStage {
    type Input = InboundEvent;
    type Output = IntentOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn resolve(&self, key: &str, input: &InboundEvent) -> Result<Vec<StageOutput<IntentOutput>>, StageError> {
        let InboundEvent::InboundMessage(message) = input;
        let tenant = &message.envelope.tenant_id;
        if key != format!("{tenant}|{}", message.wa_id) {
            return Err(StageError::Permanent(format!("key {key:?} is not <tenant>|<wa_id> of the message ({tenant}|{})", message.wa_id)));
        }
        let rows = load_tenant_catalog(&self.pool, tenant).await.map_err(StageError::Transient)?;
        let envelope = message.envelope.derive(NAME, 0, message.envelope.occurred_at);
        let catalog = catalog_from_rows(rows);
        let resolved = match &self.llm {
            Some(llm) => llm.resolve(envelope, message, &catalog).await?,
            None => intent::resolve(envelope, message, &catalog),
        };
        Ok(vec![StageOutput { output: "intents", key: key.to_string(), event: IntentOutput::IntentResolved(resolved) }])
    }
}
