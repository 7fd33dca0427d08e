//! The orchestration system's documents in the search index: partners, their products, and the
//! tenant's discovery settings (ranking weights, partner promotions). Each keeps its whole record
//! as JSON in `payload`, so discovery ranks from what the index holds without a second store; the
//! fields it filters and searches on are indexed beside it.

use super::schema::{DocKind, SearchSchema};
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tantivy::schema::Value;
use tantivy::TantivyDocument;

/// Ten-thousandths per currency unit in `price_e4` (prices have at most 2 decimals; the filter's
/// bounds are rounded inward, so the range stays exact).
pub const PRICE_E4: i64 = 10_000;

/// A partner as discovery needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartnerDoc {
    /// Tenant.
    pub tenant: String,
    /// Partner id.
    pub partner_id: String,
    /// Name.
    pub name: String,
    /// florist, bakery, ...
    pub business_type: String,
    /// Where it prepares orders.
    pub lat: f64,
    /// Where it prepares orders.
    pub lng: f64,
    /// Capability tags.
    pub capabilities: Vec<String>,
    /// Trust score 0–100 (rules T1).
    pub trust_score: u32,
    /// Trust ≥ 70.
    pub white_glove: bool,
    /// Minutes it needs to prepare an order (time chain TC1).
    pub preparation_minutes: i64,
    /// Source time.
    pub occurred_at: i64,
}

/// A product as discovery shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDoc {
    /// Tenant.
    pub tenant: String,
    /// Product id.
    pub product_id: String,
    /// Its partner.
    pub partner_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Price.
    pub price: Decimal,
    /// ISO 4217.
    pub currency: String,
    /// Capability tags.
    pub capabilities: Vec<String>,
    /// −1 unlimited, 0 out of stock.
    pub inventory_count: i64,
    /// The platform's commission, percent of the price.
    pub margin_percent: Option<Decimal>,
    /// Source time.
    pub occurred_at: i64,
}

/// How discovery weighs its signals (rules D2); the source's defaults until an admin sets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weights {
    /// Text relevance.
    pub relevance: Decimal,
    /// Promotions.
    pub boost: Decimal,
    /// The partner's trust.
    pub quality: Decimal,
    /// The platform's margin.
    pub margin: Decimal,
}

impl Default for Weights {
    fn default() -> Self {
        Weights { relevance: Decimal::new(40, 2), boost: Decimal::new(30, 2), quality: Decimal::new(20, 2), margin: Decimal::new(10, 2) }
    }
}

/// A tenant's weights as set, with when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankingDoc {
    /// Tenant.
    pub tenant: String,
    /// The weights.
    pub weights: Weights,
    /// Source time of the change.
    pub occurred_at: i64,
}

/// A partner promotion (rules D3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PromotionDoc {
    /// Tenant.
    pub tenant: String,
    /// The promoted partner.
    pub partner_id: String,
    /// sponsored, featured, verified or margin_optimized.
    pub promotion_type: String,
    /// Multiplier of the type's base boost.
    pub weight: Decimal,
    /// Epoch ms; none = running.
    pub starts_at: Option<i64>,
    /// Epoch ms, exclusive; none = open-ended.
    pub ends_at: Option<i64>,
    /// Source time.
    pub occurred_at: i64,
}

impl PartnerDoc {
    /// `partner:<tenant>|<partner>`.
    pub fn doc_id_of(tenant: &str, partner_id: &str) -> String {
        format!("partner:{tenant}|{partner_id}")
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        let mut d = base(s, DocKind::Partner, &PartnerDoc::doc_id_of(&self.tenant, &self.partner_id), &self.tenant, self.occurred_at, self);
        d.add_text(s.name, &self.name);
        d.add_text(s.partner_id, &self.partner_id);
        d.add_text(s.text, &self.business_type);
        tags(s, &mut d, &self.capabilities);
        d
    }
}

impl ProductDoc {
    /// `product:<tenant>|<product>`.
    pub fn doc_id_of(tenant: &str, product_id: &str) -> String {
        format!("product:{tenant}|{product_id}")
    }

    /// The price in ten-thousandths (what the range filter compares).
    pub fn price_e4(price: Decimal) -> i64 {
        (price * Decimal::from(PRICE_E4)).trunc().try_into().unwrap_or(i64::MAX)
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        let mut d = base(s, DocKind::Product, &ProductDoc::doc_id_of(&self.tenant, &self.product_id), &self.tenant, self.occurred_at, self);
        d.add_text(s.name, &self.name);
        d.add_text(s.text, &self.description);
        d.add_text(s.partner_id, &self.partner_id);
        d.add_text(s.price, self.price.to_string());
        d.add_i64(s.price_e4, ProductDoc::price_e4(self.price));
        tags(s, &mut d, &self.capabilities);
        d
    }
}

impl RankingDoc {
    /// `ranking:<tenant>`.
    pub fn doc_id_of(tenant: &str) -> String {
        format!("ranking:{tenant}")
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        base(s, DocKind::Ranking, &RankingDoc::doc_id_of(&self.tenant), &self.tenant, self.occurred_at, self)
    }
}

impl PromotionDoc {
    /// `promotion:<tenant>|<partner>`.
    pub fn doc_id_of(tenant: &str, partner_id: &str) -> String {
        format!("promotion:{tenant}|{partner_id}")
    }

    /// Whether it runs at `now` (epoch ms).
    pub fn runs_at(&self, now: i64) -> bool {
        self.starts_at.is_none_or(|s| s <= now) && self.ends_at.is_none_or(|e| now < e)
    }

    /// The tantivy document.
    pub fn to_document(&self, s: &SearchSchema) -> TantivyDocument {
        let mut d = base(s, DocKind::Promotion, &PromotionDoc::doc_id_of(&self.tenant, &self.partner_id), &self.tenant, self.occurred_at, self);
        d.add_text(s.partner_id, &self.partner_id);
        d
    }
}

fn base(s: &SearchSchema, kind: DocKind, doc_id: &str, tenant: &str, occurred_at: i64, record: &impl Serialize) -> TantivyDocument {
    let mut d = TantivyDocument::default();
    d.add_text(s.doc_id, doc_id);
    d.add_text(s.tenant, tenant);
    d.add_text(s.kind, kind.as_str());
    d.add_i64(s.occurred_at, occurred_at);
    // Serializing plain records of strings, numbers and decimals cannot fail.
    d.add_text(s.payload, serde_json::to_string(record).unwrap_or_default());
    d
}

fn tags(s: &SearchSchema, d: &mut TantivyDocument, capabilities: &[String]) {
    for c in capabilities {
        d.add_text(s.capability, c.to_lowercase());
    }
    d.add_text(s.tags, capabilities.join(" "));
}

/// The record a document was written from (`None` for documents without a payload).
pub fn payload_of<T: DeserializeOwned>(s: &SearchSchema, doc: &TantivyDocument) -> Option<T> {
    doc.get_first(s.payload).and_then(|v| v.as_str()).and_then(|json| serde_json::from_str(json).ok())
}
