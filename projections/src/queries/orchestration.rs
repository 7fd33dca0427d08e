//! Partners, products, bundles and negotiations of multi-vendor orchestration (system 2,
//! `migrations/0008_orchestration.sql`): what an operator or a UI reads about a bundle and its
//! negotiations. Every function filters on the tenant.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// Where a partner prepares orders.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, sqlx::FromRow)]
pub struct Location {
    /// Degrees latitude.
    pub lat: f64,
    /// Degrees longitude.
    pub lng: f64,
}

/// A partner (vendor) as last declared, with its trust score.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct PartnerRow {
    /// The partner.
    pub partner_id: String,
    /// Its name.
    pub name: String,
    /// florist, limo, restaurant, …
    pub business_type: String,
    /// Where it prepares orders.
    #[sqlx(flatten)]
    pub location: Location,
    /// What it can do.
    pub capabilities: Vec<String>,
    /// Its WhatsApp number.
    pub channel_id: String,
    /// Agreed to receive WhatsApp messages.
    pub opted_in: bool,
    /// none, soft or hard.
    pub lock_type: String,
    /// Minutes to prepare an order.
    pub preparation_minutes: i64,
    /// 0–100 (rules T1).
    pub trust_score: i32,
    /// Score of 70 or more.
    pub white_glove: bool,
    /// False once removed.
    pub active: bool,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// A partner's product as last declared.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    /// The product.
    pub product_id: String,
    /// The partner selling it.
    pub partner_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Price (exact; a JSON string).
    pub price: Decimal,
    /// ISO currency.
    pub currency: String,
    /// What a replacement must be able to do.
    pub capabilities: Vec<String>,
    /// −1 unlimited, 0 out of stock.
    pub inventory_count: i64,
    /// False once removed.
    pub active: bool,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// A bundle's latest snapshot with its timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BundleRow {
    /// The bundle.
    pub bundle_id: String,
    /// Who ordered it.
    pub user_id: String,
    /// The user's bundle thread.
    pub thread_id: String,
    /// open or changing.
    pub status: String,
    /// When the first leg starts.
    pub starts_at: DateTime<Utc>,
    /// Start to the last leg's arrival.
    pub total_minutes: i64,
    /// Every leg as in the event (price a string, times RFC 3339).
    pub legs: serde_json::Value,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// A negotiation's latest snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct NegotiationRow {
    /// The negotiation.
    pub negotiation_id: String,
    /// Its bundle.
    pub bundle_id: String,
    /// The leg negotiated.
    pub leg_id: String,
    /// product_change, price_negotiation or timing_change.
    pub negotiation_type: String,
    /// Where it stands (rules N1).
    pub status: String,
    /// The partner negotiated with.
    pub partner_id: String,
    /// Counter-offers so far.
    pub counter_offer_count: i32,
    /// Unreadable replies in a row.
    pub unclear_replies: i32,
    /// The machine sends the partner nothing more (rules N4).
    pub paused: bool,
    /// What is proposed to the user.
    pub proposal: Option<String>,
    /// Its price.
    pub proposal_price: Option<Decimal>,
    /// Why it ended as it did.
    pub reason: Option<String>,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// One partner reply and how it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReplyRow {
    /// The PartnerReplyClassified event.
    pub event_id: String,
    /// Who replied.
    pub partner_id: String,
    /// Free text, if any.
    pub text: Option<String>,
    /// The reply button, if any.
    pub button_id: Option<String>,
    /// accept, reject, counter_offer, frustrated or unclear.
    pub classification: String,
    /// An item offered instead.
    pub offered_item: Option<String>,
    /// A price named, exactly as read.
    pub offered_price: Option<Decimal>,
    /// A relative price change in percent, exactly as read.
    pub offered_change_percent: Option<Decimal>,
    /// offline-1 or llm:<model>.
    pub classifier: String,
    /// Source time.
    pub at: DateTime<Utc>,
}

/// A message to the user's bundle thread.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ThreadMessageRow {
    /// The UserNotified event.
    pub event_id: String,
    /// The negotiation it is about; null for a note about the bundle.
    pub negotiation_id: Option<String>,
    /// What kind of message.
    pub kind: String,
    /// The text.
    pub text: String,
    /// Source time.
    pub at: DateTime<Utc>,
}

/// A leg moved to another partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RecoveryRow {
    /// The negotiation that moved it.
    pub negotiation_id: String,
    /// The leg.
    pub leg_id: String,
    /// Who had it.
    pub old_partner_id: String,
    /// Who has it now.
    pub new_partner_id: String,
    /// The replacement product.
    pub product_id: String,
    /// Its name.
    pub item: String,
    /// Its price.
    pub price: Decimal,
    /// New total time − old, in minutes.
    pub delay_minutes: i64,
    /// Source time.
    pub at: DateTime<Utc>,
}

/// What adding an item did to a leg's deadline (rules TC2, TC3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ConflictRow {
    /// The add-item command.
    pub command_id: String,
    /// The leg.
    pub leg_id: String,
    /// Its name.
    pub leg_name: String,
    /// The item added.
    pub item: String,
    /// The leg would be late.
    pub has_conflict: bool,
    /// New arrival − old, in minutes.
    pub time_impact_minutes: i64,
    /// When the leg would arrive with the item.
    pub new_arrival: DateTime<Utc>,
    /// The leg's deadline.
    pub deadline: DateTime<Utc>,
    /// New arrival − deadline when late, else 0.
    pub delay_minutes: i64,
    /// `separate_delivery` when over 10 minutes late.
    pub suggestion: Option<String>,
    /// What the user is asked.
    pub suggestion_message: Option<String>,
    /// The courier's price for the separate delivery.
    pub courier_cost: Option<Decimal>,
    /// Source time.
    pub at: DateTime<Utc>,
}

/// A partner with its products.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PartnerDetail {
    /// The partner.
    pub partner: PartnerRow,
    /// Its products, by id.
    pub products: Vec<ProductRow>,
}

/// A bundle with everything that happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BundleDetail {
    /// The bundle.
    pub bundle: BundleRow,
    /// Its negotiations, least recently changed first.
    pub negotiations: Vec<NegotiationRow>,
    /// The user's thread, in log order.
    pub messages: Vec<ThreadMessageRow>,
    /// Legs moved to another partner, in log order.
    pub recoveries: Vec<RecoveryRow>,
    /// Items added to legs and what they did to the deadlines, in log order.
    pub conflicts: Vec<ConflictRow>,
    /// Its latest checkout with the legs' splits and escrow; null until it is checked out.
    pub checkout: Option<super::CheckoutDetail>,
}

/// A negotiation with the partner's replies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NegotiationDetail {
    /// The negotiation.
    pub negotiation: NegotiationRow,
    /// The replies as read, in log order.
    pub replies: Vec<ReplyRow>,
}

/// Filters of the product list; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductFilter {
    /// Only this partner's products.
    pub partner_id: Option<String>,
    /// Only products with this capability (case-insensitive).
    pub capability: Option<String>,
}

/// Filters of the negotiation list; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NegotiationFilter {
    /// Only this bundle's negotiations.
    pub bundle_id: Option<String>,
    /// Only negotiations in this status.
    pub status: Option<String>,
    /// Page size (clamped by `clamp_limit`).
    pub limit: Option<i64>,
}

const PARTNER_COLUMNS: &str = "partner_id, name, business_type, lat, lng, capabilities, channel_id, opted_in, lock_type, \
     preparation_minutes, trust_score, white_glove, active, updated_at";
const PRODUCT_COLUMNS: &str = "product_id, partner_id, name, description, price, currency, capabilities, inventory_count, active, updated_at";
const NEGOTIATION_COLUMNS: &str = "negotiation_id, bundle_id, leg_id, negotiation_type, status, partner_id, counter_offer_count, \
     unclear_replies, paused, proposal, proposal_price, reason, updated_at";

/// Every partner of `tenant` (removed ones too, `active` false), by id.
pub async fn partners(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<PartnerRow>> {
    sqlx::query_as(&format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id = $1 ORDER BY partner_id"))
        .bind(tenant)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("listing partners of tenant {tenant}"))
}

/// One partner with its products; `None` if the tenant has no such partner.
pub async fn partner_detail(db: &mut sqlx::PgConnection, tenant: &str, partner_id: &str) -> anyhow::Result<Option<PartnerDetail>> {
    let partner: Option<PartnerRow> = sqlx::query_as(&format!("SELECT {PARTNER_COLUMNS} FROM partners WHERE tenant_id = $1 AND partner_id = $2"))
        .bind(tenant)
        .bind(partner_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading partner {partner_id}"))?;
    let Some(partner) = partner else {
        return Ok(None);
    };
    let filter = ProductFilter { partner_id: Some(partner_id.to_string()), capability: None };
    Ok(Some(PartnerDetail { partner, products: products(&mut *db, tenant, &filter).await? }))
}

/// Products of `tenant`, by id.
pub async fn products(db: &mut sqlx::PgConnection, tenant: &str, filter: &ProductFilter) -> anyhow::Result<Vec<ProductRow>> {
    sqlx::query_as(&format!(
        "SELECT {PRODUCT_COLUMNS} FROM partner_products WHERE tenant_id = $1 AND ($2::text IS NULL OR partner_id = $2) \
         AND ($3::text IS NULL OR EXISTS (SELECT 1 FROM unnest(capabilities) c WHERE lower(c) = lower($3))) ORDER BY product_id"
    ))
    .bind(tenant)
    .bind(&filter.partner_id)
    .bind(&filter.capability)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("listing products of tenant {tenant}"))
}

/// One bundle with its negotiations, thread, recoveries, conflicts and checkout; `None` if the
/// tenant has no such bundle.
pub async fn bundle_detail(db: &mut sqlx::PgConnection, tenant: &str, bundle_id: &str) -> anyhow::Result<Option<BundleDetail>> {
    let bundle: Option<BundleRow> = sqlx::query_as(
        "SELECT bundle_id, user_id, thread_id, status, starts_at, total_minutes, legs, updated_at FROM bundles \
         WHERE tenant_id = $1 AND bundle_id = $2",
    )
    .bind(tenant)
    .bind(bundle_id)
    .fetch_optional(&mut *db)
    .await
    .with_context(|| format!("reading bundle {bundle_id}"))?;
    let Some(bundle) = bundle else {
        return Ok(None);
    };
    let negotiations = sqlx::query_as(&format!("SELECT {NEGOTIATION_COLUMNS} FROM negotiations WHERE tenant_id = $1 AND bundle_id = $2 ORDER BY updated_at, source_offset, negotiation_id"))
        .bind(tenant)
        .bind(bundle_id)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("reading the negotiations of bundle {bundle_id}"))?;
    let messages = sqlx::query_as("SELECT event_id, negotiation_id, kind, text, at FROM thread_messages WHERE tenant_id = $1 AND bundle_id = $2 ORDER BY source_offset, event_id")
        .bind(tenant)
        .bind(bundle_id)
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("reading the thread of bundle {bundle_id}"))?;
    let recoveries = sqlx::query_as(
        "SELECT negotiation_id, leg_id, old_partner_id, new_partner_id, product_id, item, price, delay_minutes, at FROM recoveries \
         WHERE tenant_id = $1 AND bundle_id = $2 ORDER BY source_offset, event_id",
    )
    .bind(tenant)
    .bind(bundle_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the recoveries of bundle {bundle_id}"))?;
    let conflicts = sqlx::query_as(
        "SELECT command_id, leg_id, leg_name, item, has_conflict, time_impact_minutes, new_arrival, deadline, delay_minutes, suggestion, suggestion_message, courier_cost, at \
         FROM bundle_conflicts WHERE tenant_id = $1 AND bundle_id = $2 ORDER BY source_offset, event_id",
    )
    .bind(tenant)
    .bind(bundle_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the conflicts of bundle {bundle_id}"))?;
    let checkout = super::bundle_checkout(&mut *db, tenant, bundle_id).await?;
    Ok(Some(BundleDetail { bundle, negotiations, messages, recoveries, conflicts, checkout }))
}

/// Negotiations of `tenant`, most recently changed first.
pub async fn negotiations(db: &mut sqlx::PgConnection, tenant: &str, filter: &NegotiationFilter) -> anyhow::Result<Vec<NegotiationRow>> {
    sqlx::query_as(&format!(
        "SELECT {NEGOTIATION_COLUMNS} FROM negotiations WHERE tenant_id = $1 AND ($2::text IS NULL OR bundle_id = $2) \
         AND ($3::text IS NULL OR status = $3) ORDER BY updated_at DESC, source_offset DESC, negotiation_id LIMIT $4"
    ))
    .bind(tenant)
    .bind(&filter.bundle_id)
    .bind(&filter.status)
    .bind(super::clamp_limit(filter.limit))
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("listing negotiations of tenant {tenant}"))
}

/// One negotiation with its replies; `None` if the tenant has no such negotiation.
pub async fn negotiation_detail(db: &mut sqlx::PgConnection, tenant: &str, negotiation_id: &str) -> anyhow::Result<Option<NegotiationDetail>> {
    let negotiation: Option<NegotiationRow> = sqlx::query_as(&format!("SELECT {NEGOTIATION_COLUMNS} FROM negotiations WHERE tenant_id = $1 AND negotiation_id = $2"))
        .bind(tenant)
        .bind(negotiation_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading negotiation {negotiation_id}"))?;
    let Some(negotiation) = negotiation else {
        return Ok(None);
    };
    let replies = sqlx::query_as(
        "SELECT event_id, partner_id, text, button_id, classification, offered_item, offered_price, offered_change_percent, classifier, at \
         FROM negotiation_replies WHERE tenant_id = $1 AND negotiation_id = $2 ORDER BY source_offset, event_id",
    )
    .bind(tenant)
    .bind(negotiation_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the replies of negotiation {negotiation_id}"))?;
    Ok(Some(NegotiationDetail { negotiation, replies }))
}
