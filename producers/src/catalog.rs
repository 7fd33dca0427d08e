//! The orchestration catalog on the write path, from the log: partners and their products (the
//! compacted `partners` and `partner.products` topics the gateway writes) and which negotiation
//! waits on which partner number (the compacted `negotiations.directory` the negotiation processor
//! writes), each a global table. The gateway snapshots a bundle's partners and products from them
//! and routes partners' WhatsApp replies by them; the re-sourcing stage searches them. Never a read
//! model: a projection's lag would decide.

use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::topology::SourceTopic;
use souk_schemas::bundles::{PartnerEvent, PartnerUpserted, ProductEvent, ProductUpserted};
use souk_schemas::key::CatalogKey;
use souk_schemas::orchestration::NegotiationEvent;
use std::collections::HashMap;
use std::time::Duration;

/// Longest wait for a table to catch up with its topic (then the caller answers 503 or retries).
pub const CATCH_UP: Duration = Duration::from_secs(10);
const LOAD: Duration = Duration::from_secs(60);

/// Partners and products by `<tenant>|<id>`.
pub struct PartnerCatalog {
    partners: GlobalTable<PartnerEvent, PartnerUpserted>,
    products: GlobalTable<ProductEvent, ProductUpserted>,
}

impl PartnerCatalog {
    /// Loads both tables from the beginning of their topics.
    pub async fn load(bootstrap: &str, codec: std::sync::Arc<Codec>, partners: &SourceTopic, products: &SourceTopic) -> anyhow::Result<PartnerCatalog> {
        let fold_partner = Box::new(|rows: &mut HashMap<String, PartnerUpserted>, key: &str, PartnerEvent::PartnerUpserted(p): PartnerEvent| {
            rows.insert(key.to_string(), p);
        });
        let fold_product = Box::new(|rows: &mut HashMap<String, ProductUpserted>, key: &str, ProductEvent::ProductUpserted(p): ProductEvent| {
            rows.insert(key.to_string(), p);
        });
        Ok(PartnerCatalog {
            partners: GlobalTable::of(bootstrap, codec.clone(), partners, fold_partner, LOAD).await?,
            products: GlobalTable::of(bootstrap, codec, products, fold_product, LOAD).await?,
        })
    }

    /// Waits until both tables reflect everything committed before the call.
    pub async fn catch_up(&self) -> anyhow::Result<()> {
        self.partners.catch_up(CATCH_UP).await?;
        self.products.catch_up(CATCH_UP).await
    }

    /// Partner `id` of `tenant` as last declared (removed ones too: `active` says).
    pub fn partner(&self, tenant: &str, id: &str) -> Option<PartnerUpserted> {
        self.partners.read(|rows| rows.get(&CatalogKey::of(tenant, id)).cloned())
    }

    /// Product `id` of `tenant` as last declared.
    pub fn product(&self, tenant: &str, id: &str) -> Option<ProductUpserted> {
        self.products.read(|rows| rows.get(&CatalogKey::of(tenant, id)).cloned())
    }

    /// Every active product of `tenant` with its active partner, by product id.
    pub fn offers(&self, tenant: &str) -> Vec<(ProductUpserted, PartnerUpserted)> {
        let products: Vec<ProductUpserted> = self.products.read(|rows| rows.values().filter(|p| p.envelope.tenant_id == tenant && p.active).cloned().collect());
        let mut offers: Vec<_> = products.into_iter().filter_map(|product| self.partner(tenant, &product.partner_id).filter(|p| p.active).map(|partner| (product, partner))).collect();
        offers.sort_by(|a, b| a.0.product_id.cmp(&b.0.product_id));
        offers
    }
}

/// Where a partner's reply goes: the bundle and negotiation waiting on their number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NegotiationRoute {
    /// The bundle (the key of `negotiation.inputs`).
    pub bundle_id: String,
    /// The negotiation.
    pub negotiation_id: String,
    /// The partner it waits on.
    pub partner_id: String,
    /// Still open, or paused for a human (who reads what the partner writes).
    pub open: bool,
    /// Stream time of the snapshot, to prefer the newest.
    pub at: i64,
}

/// Final statuses of a negotiation (rules N1).
const FINAL: [&str; 5] = ["accepted", "rejected", "rejected_by_user", "recovered_autonomously", "escalated"];

/// Negotiations by partner number, from `negotiations.directory`.
pub struct NegotiationRoutes {
    /// Rows by `<tenant>|<negotiation id>`: the partner number and the route.
    table: GlobalTable<NegotiationEvent, (String, NegotiationRoute)>,
}

impl NegotiationRoutes {
    /// Loads the table from the beginning of `topic`.
    pub async fn load(bootstrap: &str, codec: std::sync::Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<NegotiationRoutes> {
        let fold = Box::new(|rows: &mut HashMap<String, (String, NegotiationRoute)>, key: &str, event: NegotiationEvent| {
            let NegotiationEvent::NegotiationUpdated(n) = event else { return };
            let Some(contact) = n.partner_contact else { return };
            let open = !FINAL.contains(&n.status.as_str()) || n.paused;
            let route = NegotiationRoute { bundle_id: n.bundle_id, negotiation_id: n.negotiation_id, partner_id: n.partner_id, open, at: n.envelope.occurred_at };
            rows.insert(key.to_string(), (format!("{}|{contact}", n.envelope.tenant_id), route));
        });
        Ok(NegotiationRoutes { table: GlobalTable::of(bootstrap, codec, topic, fold, LOAD).await? })
    }

    /// The bundle negotiation `negotiation_id` of `tenant` belongs to, if it exists.
    pub async fn bundle_of(&self, tenant: &str, negotiation_id: &str) -> anyhow::Result<Option<String>> {
        self.table.catch_up(CATCH_UP).await?;
        Ok(self.table.read(|rows| rows.get(&souk_schemas::key::NegotiationKey::of(tenant, negotiation_id)).map(|(_, r)| r.bundle_id.clone())))
    }

    /// The negotiation a message from `contact` answers: the newest open one, else the newest
    /// (its processor then records that nobody waits); `None` if the number never negotiated.
    pub async fn route(&self, tenant: &str, contact: &str) -> anyhow::Result<Option<NegotiationRoute>> {
        self.table.catch_up(CATCH_UP).await?;
        let wanted = format!("{tenant}|{contact}");
        Ok(self.table.read(|rows| rows.values().filter(|(c, _)| *c == wanted).map(|(_, r)| r).max_by(|a, b| (a.open, a.at, &a.negotiation_id).cmp(&(b.open, b.at, &b.negotiation_id))).cloned()))
    }
}
