//! The intent concept in one place: the offline NLU ([`nlu`], pure functions of a message and a
//! catalog), the optional model backend ([`llm`]) and the `intent` stage (topology.toml
//! `[stages.intent]`) that runs them. The stage: every customer message on
//! `whatsapp.inbound` becomes one `IntentResolved` on `orders.inputs`, resolved by the offline NLU
//! against the tenant's catalog (prices, aliases, availability) — a global table of the compacted
//! `inventory.levels` topic the inventory pools write, caught up before every batch, never a read
//! model — or by an OpenAI-compatible model when `souk run --llm-base-url` is set (`crate::llm`).
//! The result is logged with the extractor's version and the tenant's confidence threshold
//! (`tenants.toml` `intent_confidence_threshold`, rules B6); the order session only ever reads
//! that event, so replays never resolve a message again and judge it against the same threshold. The output's id derives from the message's, so a
//! re-run after a crash produces a copy the session drops by id.

pub mod llm;
pub mod nlu;

use crate::intent::llm::LlmExtractor;
use crate::intent::nlu::{CatalogEntry, TenantCatalog};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::SourceTopic;
use souk_schemas::inventory::{InventoryEvent, StockLevelChanged};
use souk_schemas::key::CustomerKey;
use souk_schemas::key::PoolKey;
use souk_schemas::orders::IntentResolved;
use souk_schemas::whatsapp::InboundEvent;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// The stage's name in topology.toml.
pub const NAME: &str = "intent";

/// What the stage writes (`orders.inputs` carries it as one branch of its union).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentOutput {
    /// The meaning of one customer message.
    IntentResolved(IntentResolved),
}

souk_schemas::stream_event!(IntentOutput { IntentResolved });

/// Stamps the threshold the tenant's messages are judged against (its `tenants.toml` setting;
/// the default when the tenant sets none or is not in the registry) on a resolved intent.
pub fn judged_for_tenant(mut resolved: IntentResolved, tenants: &Tenants) -> IntentResolved {
    let threshold = tenants.get(&resolved.envelope.tenant_id).map_or(souk_runtime::tenants::DEFAULT_CONFIDENCE_THRESHOLD, |t| t.confidence_threshold());
    resolved.confidence_threshold = Some(threshold);
    resolved
}

/// Every tenant's catalog by (material, color), as the latest levels of its pools say.
pub type Catalogs = HashMap<String, BTreeMap<(String, String), CatalogEntry>>;

/// The global table of the pools' latest levels (`inventory.levels`), folded into catalogs.
pub type CatalogTable = GlobalTable<InventoryEvent, BTreeMap<(String, String), CatalogEntry>>;

/// The catalog entry a pool's level gives: the pool's price (A4), else the price of the batch an
/// order would be cut from (FIFO-first with stock, else FIFO-first), and that batch's roll length.
pub fn catalog_entry(level: &StockLevelChanged) -> CatalogEntry {
    let first = level.batches.iter().min_by(|a, b| (a.available_meters <= Decimal::ZERO, a.received_at, &a.batch_id).cmp(&(b.available_meters <= Decimal::ZERO, b.received_at, &b.batch_id)));
    CatalogEntry {
        material: level.material.clone(),
        color: level.color.clone(),
        aliases: level.aliases.clone(),
        available_meters: level.available_meters,
        price_per_meter: level.price_per_meter.or_else(|| first.and_then(|b| b.price_per_meter)),
        meters_per_roll: first.map(|b| b.meters_per_roll),
    }
}

/// Folds one record of `inventory.levels` (key `<tenant>|<material>|<color>`) into the catalogs.
pub fn fold_level(catalogs: &mut Catalogs, key: &str, event: InventoryEvent) {
    let (InventoryEvent::StockLevelChanged(level), Ok(pool)) = (event, PoolKey::parse(key)) else { return };
    catalogs.entry(pool.tenant.to_string()).or_default().insert((pool.material.to_string(), pool.color.to_string()), catalog_entry(&level));
}

/// Loads the catalog table of `topic` (the stage's `tables` entry).
pub async fn load_catalogs(bootstrap: &str, codec: Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<CatalogTable> {
    GlobalTable::of(bootstrap, codec, topic, Box::new(fold_level), TABLE_DEADLINE).await
}

/// Longest wait for the catalog table to catch up before a batch (then the batch is retried).
const TABLE_DEADLINE: Duration = Duration::from_secs(30);

/// Resolves customer messages against the catalog table: with the offline extractor, or with an
/// OpenAI-compatible model when one is configured (`crate::llm`).
pub struct IntentStage {
    catalogs: Arc<CatalogTable>,
    tenants: Arc<Tenants>,
    llm: Option<LlmExtractor>,
}

impl IntentStage {
    /// A stage matching against `catalogs` with per-tenant settings from `tenants`, resolving offline.
    pub fn new(catalogs: Arc<CatalogTable>, tenants: Arc<Tenants>) -> IntentStage {
        IntentStage { catalogs, tenants, llm: None }
    }

    /// A stage resolving message text with `llm` (reply ids stay offline; unusable answers fall
    /// back to the offline extractor; an unreachable model makes the stage retry).
    pub fn with_llm(catalogs: Arc<CatalogTable>, tenants: Arc<Tenants>, llm: LlmExtractor) -> IntentStage {
        IntentStage { catalogs, tenants, llm: Some(llm) }
    }

    /// The catalog of `tenant` as the table holds it now (ordered by material and color).
    pub fn catalog(&self, tenant: &str) -> TenantCatalog {
        TenantCatalog { items: self.catalogs.read(|c| c.get(tenant).map(|pools| pools.values().cloned().collect()).unwrap_or_default()) }
    }
}

impl Stage for IntentStage {
    type Input = InboundEvent;
    type Output = IntentOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    /// Every level the pools committed before the batch is in the catalog it is matched against.
    async fn before_batch(&self) -> Result<(), StageError> {
        self.catalogs.catch_up(TABLE_DEADLINE).await.map_err(StageError::Transient)
    }

    async fn resolve(&self, key: &str, input: &InboundEvent) -> Result<Vec<StageOutput<IntentOutput>>, StageError> {
        let InboundEvent::InboundMessage(message) = input;
        let tenant = &message.envelope.tenant_id;
        if key != CustomerKey::of(tenant, &message.wa_id) {
            return Err(StageError::Permanent(format!("key {key:?} is not <tenant>|<wa_id> of the message ({tenant}|{})", message.wa_id)));
        }
        let envelope = message.envelope.derive(NAME, 0, message.envelope.occurred_at);
        let catalog = self.catalog(tenant);
        let resolved = match &self.llm {
            Some(llm) => llm.resolve(envelope, message, &catalog).await?,
            None => nlu::resolve(envelope, message, &catalog),
        };
        let event = IntentOutput::IntentResolved(judged_for_tenant(resolved, &self.tenants));
        Ok(vec![StageOutput { output: "intents", key: key.to_string(), event }])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intent::nlu::extract;
    use rust_decimal_macros::dec;
    use souk_schemas::Envelope;

    /// A `[[tenants]]` entry with `extra` settings.
    fn entry(id: &str, number: &str, extra: &str) -> String {
        format!("[[tenants]]\nid = {id:?}\nname = \"{id} shop\"\nphone_number_id = {number:?}\napp_secret = \"a\"\nverify_token = \"v\"\napi_key = \"k{number}\"\naccess_token = \"t\"\n{extra}\n")
    }

    fn judged(tenant: &str) -> Option<rust_decimal::Decimal> {
        let resolved = extract(Some("20m blue cotton"), None, &TenantCatalog::default()).into_resolved(Envelope::external(tenant, "w1", 1), "91", "m1", "w1", None, None);
        let tenants = Tenants::parse(&format!("{}{}", entry("strict", "1", "intent_confidence_threshold = 0.9"), entry("plain", "2", ""))).unwrap();
        judged_for_tenant(resolved, &tenants).confidence_threshold
    }

    fn batch(id: &str, available: i64, per_roll: i64, price: Option<i64>, received_at: i64) -> souk_schemas::inventory::BatchLevel {
        souk_schemas::inventory::BatchLevel {
            batch_id: id.into(),
            dye_lot: None,
            rolls: 1,
            meters_per_roll: Decimal::from(per_roll),
            loose_meters: Decimal::ZERO,
            held_meters: Decimal::ZERO,
            available_meters: Decimal::from(available),
            price_per_meter: price.map(Decimal::from),
            received_at,
        }
    }

    fn level(batches: Vec<souk_schemas::inventory::BatchLevel>, pool_price: Option<i64>) -> StockLevelChanged {
        StockLevelChanged {
            envelope: Envelope::external("t", "l", 1),
            material: "cotton".into(),
            color: "blue".into(),
            on_hand_meters: batches.iter().map(|b| b.available_meters).sum(),
            held_meters: Decimal::ZERO,
            available_meters: batches.iter().map(|b| b.available_meters).sum(),
            batches,
            price_per_meter: pool_price.map(Decimal::from),
            aliases: vec!["sooti".into()],
        }
    }

    /// The entry an order is matched against: the pool's price (A4) else the price of the batch it
    /// would be cut from — the oldest with stock, else the oldest — and that batch's roll length.
    #[rstest::rstest]
    #[case::pool_price_wins(vec![batch("b1", 10, 50, Some(90), 1)], Some(120), Some(120), Some(50))]
    #[case::oldest_batch_with_stock(vec![batch("old", 0, 40, Some(80), 1), batch("new", 5, 60, Some(95), 2)], None, Some(95), Some(60))]
    #[case::oldest_when_none_has_stock(vec![batch("b2", 0, 60, Some(95), 2), batch("b1", 0, 40, Some(80), 1)], None, Some(80), Some(40))]
    #[case::no_batches(vec![], None, None, None)]
    fn catalog_entries_follow_the_pools_level(#[case] batches: Vec<souk_schemas::inventory::BatchLevel>, #[case] pool_price: Option<i64>, #[case] price: Option<i64>, #[case] per_roll: Option<i64>) {
        let entry = catalog_entry(&level(batches, pool_price));
        assert_eq!((entry.price_per_meter, entry.meters_per_roll), (price.map(Decimal::from), per_roll.map(Decimal::from)));
        assert_eq!((entry.material.as_str(), entry.color.as_str(), entry.aliases.clone()), ("cotton", "blue", vec!["sooti".to_string()]));
    }

    #[test]
    fn levels_fold_into_each_tenants_catalog_by_pool() {
        let mut catalogs = Catalogs::new();
        fold_level(&mut catalogs, "t|cotton|blue", InventoryEvent::StockLevelChanged(level(vec![batch("b1", 10, 50, None, 1)], None)));
        fold_level(&mut catalogs, "t|cotton|blue", InventoryEvent::StockLevelChanged(level(vec![batch("b1", 3, 50, None, 1)], None)));
        fold_level(&mut catalogs, "not-a-pool-key", InventoryEvent::StockLevelChanged(level(vec![], None)));
        assert_eq!(catalogs.len(), 1);
        assert_eq!(catalogs["t"][&("cotton".to_string(), "blue".to_string())].available_meters, Decimal::from(3), "the latest level wins");
    }

    #[test]
    fn every_intent_carries_its_tenants_threshold_or_the_default() {
        assert_eq!(judged("strict"), Some(dec!(0.9)));
        assert_eq!(judged("plain"), Some(dec!(0.800)));
        assert_eq!(judged("unregistered"), Some(dec!(0.800)));
    }
}
