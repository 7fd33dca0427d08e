//! Partners, their products, bundles and the user's bundle chat (docs/rules/orchestration.md).
//!
//! Partners and products are kept whole on compacted topics (`partners`, `partner.products`, key
//! `<tenant>|<id>`): readers fold them into tables. A bundle is requested with a snapshot of every
//! leg's partner and product as the catalog said then, so deciding about it never reads the catalog
//! again; the bundle's state lives with its negotiations (key `<tenant>|<bundle id>`).

use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Degrees of latitude or longitude (Avro `double`). Coordinates are never money and never NaN
/// (the gateway refuses non-finite numbers), so equality is total and records stay `Eq`.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Degrees(pub f64);

impl Eq for Degrees {}

/// A partner (vendor) as declared by its owner or an admin; the latest per partner is the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerUpserted {
    pub envelope: Envelope,
    pub partner_id: String,
    pub name: String,
    pub business_type: String,
    pub lat: Degrees,
    pub lng: Degrees,
    pub capabilities: Vec<String>,
    /// `whatsapp`.
    pub channel: String,
    /// The partner's WhatsApp number.
    pub channel_id: String,
    /// Agreed to receive WhatsApp messages from souk; without it nothing is sent.
    pub opted_in: bool,
    /// `HH:MM`, local.
    pub opens_at: String,
    /// `HH:MM`, local.
    pub closes_at: String,
    /// ISO weekdays, 1 = Monday.
    pub business_days: Vec<i32>,
    /// `none`, `soft` or `hard`.
    pub lock_type: String,
    pub preparation_minutes: i64,
    pub licence_verified: bool,
    pub insurance_verified: bool,
    pub tax_id_verified: bool,
    pub positive_reviews: i32,
    /// 0..=100.
    pub on_time_percent: i32,
    /// `false` = removed.
    pub active: bool,
    /// Their payout account at the payment provider (Stripe Connect `acct_...`).
    #[serde(default)]
    pub payout_account: Option<String>,
}

/// A partner's product; the latest per product is the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpserted {
    pub envelope: Envelope,
    pub product_id: String,
    pub partner_id: String,
    pub name: String,
    pub description: String,
    pub price: Decimal,
    pub currency: String,
    pub capabilities: Vec<String>,
    /// −1 = unlimited, 0 = out of stock.
    pub inventory_count: i64,
    /// `false` = removed.
    pub active: bool,
    /// The platform's commission, percent of the price (discovery's margin signal); `None` = 0.
    #[serde(default)]
    pub margin_percent: Option<Decimal>,
}

/// `partners`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PartnerEvent {
    PartnerUpserted(PartnerUpserted),
}

/// `partner.products`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductEvent {
    ProductUpserted(ProductUpserted),
}

crate::stream_event!(PartnerEvent { PartnerUpserted });
crate::stream_event!(ProductEvent { ProductUpserted });

/// One leg of a bundle, with its partner's and product's facts as of the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleLeg {
    pub leg_id: String,
    /// What the leg is, for people ("Flowers").
    pub name: String,
    pub partner_id: String,
    pub partner_name: String,
    /// The partner's WhatsApp number.
    pub partner_contact: String,
    pub partner_lat: Degrees,
    pub partner_lng: Degrees,
    pub preparation_minutes: i64,
    pub hard_locked: bool,
    pub product_id: String,
    pub item: String,
    pub price: Decimal,
    pub currency: String,
    pub capabilities: Vec<String>,
    /// Just-in-time: 15 minutes for the partner to answer instead of 60.
    pub is_jit: bool,
    /// Epoch ms.
    pub starts_at: i64,
    /// Epoch ms.
    pub deadline: i64,
    pub destination_lat: Degrees,
    pub destination_lng: Degrees,
    /// Epoch ms, from the time chain; absent in a request.
    pub arrives_at: Option<i64>,
    /// The partner agreed to receive WhatsApp messages (absent in older records: true).
    #[serde(default = "opted_in_by_default")]
    pub partner_opted_in: bool,
    /// The platform's commission on the leg's product, percent of its price (`None` = 0).
    #[serde(default)]
    pub margin_percent: Option<Decimal>,
    /// The partner's payout account at the payment provider (Stripe `acct_...`).
    #[serde(default)]
    pub payout_account: Option<String>,
}

fn opted_in_by_default() -> bool {
    true
}

/// A user orders a bundle of legs from several partners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleRequested {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub user_id: String,
    pub thread_id: String,
    /// Epoch ms.
    pub starts_at: i64,
    pub legs: Vec<BundleLeg>,
}

/// A bundle's snapshot with its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleUpdated {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub user_id: String,
    pub thread_id: String,
    /// `open` or `changing`.
    pub status: String,
    pub starts_at: i64,
    pub total_minutes: i64,
    pub legs: Vec<BundleLeg>,
}

/// A user's message in a bundle's thread, not yet understood.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessageReceived {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub user_id: String,
    pub text: String,
}

/// What a bundle message asks for, as read once by the chat intent stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatIntentResolved {
    pub envelope: Envelope,
    pub bundle_id: String,
    pub user_id: String,
    pub text: String,
    /// `change_item`, `approve`, `reject` or `unknown`.
    pub intent: String,
    pub requested_item: Option<String>,
    pub original_item: Option<String>,
    /// Parser and version, e.g. `chat-offline-1`.
    pub parser: String,
}

/// The user wants an item added to a leg's delivery, with the item's partner as of now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemAddRequested {
    pub envelope: Envelope,
    pub command_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    pub item: String,
    pub product_id: String,
    pub partner_id: String,
    pub partner_name: String,
    pub partner_lat: Degrees,
    pub partner_lng: Degrees,
    pub preparation_minutes: i64,
    pub price: Decimal,
    pub currency: String,
}

/// What adding the item does to the leg's deadline (rules TC2, TC3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConflictSimulated {
    pub envelope: Envelope,
    pub command_id: String,
    pub bundle_id: String,
    pub leg_id: String,
    pub leg_name: String,
    pub item: String,
    pub has_conflict: bool,
    pub time_impact_minutes: i64,
    pub new_arrival: i64,
    pub deadline: i64,
    /// New arrival − deadline when late, else 0.
    pub delay_minutes: i64,
    /// `separate_delivery` when the delay is over 10 minutes.
    pub suggestion: Option<String>,
    pub suggestion_message: Option<String>,
    pub courier_cost: Option<Decimal>,
}

/// `chat.inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatEvent {
    ChatMessageReceived(ChatMessageReceived),
}

crate::stream_event!(ChatEvent { ChatMessageReceived });
