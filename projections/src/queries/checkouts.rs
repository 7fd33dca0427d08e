//! Checkouts of bundles (`migrations/0012_checkouts.sql`): what a UI shows of a bundle's payment,
//! escrow and payouts — the checkout's latest snapshot with each leg's split. Tenant scoped; money
//! is exact (JSON strings).

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A checkout's latest snapshot (rules CO1–CO8).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CheckoutRow {
    /// The checkout.
    pub checkout_id: String,
    /// The bundle it pays for.
    pub bundle_id: String,
    /// Who pays.
    pub user_id: String,
    /// The user's bundle thread.
    pub thread_id: String,
    /// Where the saga stands.
    pub status: String,
    /// The payment's state at the provider (authorised, captured, …).
    pub payment_status: String,
    /// The escrow's state over all legs.
    pub escrow_status: String,
    /// What the user pays.
    pub total: Decimal,
    /// Captured so far.
    pub captured: Decimal,
    /// Refunded to the user so far.
    pub refunded: Decimal,
    /// Paid out of escrow to partners so far.
    pub released: Decimal,
    /// ISO currency.
    pub currency: String,
    /// The provider's PaymentIntent (`pi_...`) once authorised.
    pub payment_intent_id: Option<String>,
    /// The platform's commission, the affiliate's share included.
    pub platform_fee: Decimal,
    /// Who referred the user, if anyone.
    pub affiliate_id: Option<String>,
    /// The affiliate's share of the platform's commission.
    pub affiliate_commission: Decimal,
    /// Where the affiliate's payout stands.
    pub affiliate_status: String,
    /// Why it failed or was refunded.
    pub reason: Option<String>,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// One leg of a checkout: the partner's share and its escrow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CheckoutLegRow {
    /// The bundle's leg.
    pub leg_id: String,
    /// The partner paid for it.
    pub partner_id: String,
    /// Its name.
    pub partner_name: String,
    /// What the leg delivers.
    pub item: String,
    /// What the user pays for the leg.
    pub amount: Decimal,
    /// What the partner is paid out.
    pub partner_share: Decimal,
    /// The platform's commission on it, the affiliate's share included.
    pub platform_fee: Decimal,
    /// The affiliate's share of it.
    pub affiliate_commission: Decimal,
    /// Where the leg stands.
    pub status: String,
    /// held, released or refunded.
    pub escrow_status: String,
    /// What released (or refunded) its escrow.
    pub release_trigger: Option<String>,
    /// The payout transfer (`tr_...`).
    pub transfer_id: Option<String>,
    /// The refund (`re_...`).
    pub refund_id: Option<String>,
    /// A replacement leg charged on its own (`pi_...`).
    pub payment_intent_id: Option<String>,
    /// The reservation request to the partner.
    pub negotiation_id: Option<String>,
}

/// A checkout with its legs, as `GET /v1/bundles/{bundle_id}/checkout` serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckoutDetail {
    /// The snapshot.
    #[serde(flatten)]
    pub checkout: CheckoutRow,
    /// Its legs, in the snapshot's order; a leg re-sourced after payment (rules CO8) is listed
    /// beside its replacement under the same leg id.
    pub legs: Vec<CheckoutLegRow>,
}

/// The latest checkout of bundle `bundle_id` with its legs; `None` if the bundle has none (or the
/// tenant no such bundle). Read on the caller's connection: in the read API's scoped transaction
/// (one repeatable-read snapshot), so the legs are the checkout's even while the sink replaces them.
pub async fn bundle_checkout(db: &mut sqlx::PgConnection, tenant: &str, bundle_id: &str) -> anyhow::Result<Option<CheckoutDetail>> {
    let checkout: Option<CheckoutRow> = sqlx::query_as(
        "SELECT checkout_id, bundle_id, user_id, thread_id, status, payment_status, escrow_status, total, captured, refunded, released, currency, \
         payment_intent_id, platform_fee, affiliate_id, affiliate_commission, affiliate_status, reason, updated_at FROM checkouts \
         WHERE tenant_id = $1 AND bundle_id = $2 ORDER BY updated_at DESC, source_offset DESC, checkout_id LIMIT 1",
    )
    .bind(tenant)
    .bind(bundle_id)
    .fetch_optional(&mut *db)
    .await
    .with_context(|| format!("reading the checkout of bundle {bundle_id}"))?;
    let Some(checkout) = checkout else { return Ok(None) };
    let legs = sqlx::query_as(
        "SELECT leg_id, partner_id, partner_name, item, amount, partner_share, platform_fee, affiliate_commission, status, escrow_status, release_trigger, \
         transfer_id, refund_id, payment_intent_id, negotiation_id FROM checkout_legs WHERE tenant_id = $1 AND checkout_id = $2 ORDER BY position",
    )
    .bind(tenant)
    .bind(&checkout.checkout_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the legs of checkout {}", checkout.checkout_id))?;
    Ok(Some(CheckoutDetail { checkout, legs }))
}
