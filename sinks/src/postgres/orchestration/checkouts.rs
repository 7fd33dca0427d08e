//! `negotiation.events` → checkout snapshots (`checkouts`, `checkout_legs` of
//! `projections/migrations/0012_checkouts.sql`): the checkout moves only forward by
//! `(updated_at, source_offset)` like every snapshot, and its legs are replaced by the snapshot's
//! exactly when the checkout row is, so a replay or an older snapshot changes neither. Legs are
//! stored by their position in the snapshot: a leg re-sourced after payment (rules CO8) keeps its
//! leg id beside its replacement.

use super::{snapshot_upsert, Meta};
use anyhow::Context;
use souk_schemas::payments::{CheckoutLeg, CheckoutUpdated};
use sqlx::PgConnection;

const CHECKOUT_COLUMNS: [&str; 22] = [
    "tenant_id",
    "checkout_id",
    "bundle_id",
    "user_id",
    "thread_id",
    "status",
    "payment_status",
    "escrow_status",
    "total",
    "captured",
    "refunded",
    "released",
    "currency",
    "payment_intent_id",
    "platform_fee",
    "affiliate_id",
    "affiliate_commission",
    "affiliate_status",
    "reason",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const LEG_COLUMNS: [&str; 18] = [
    "tenant_id",
    "checkout_id",
    "leg_id",
    "partner_id",
    "partner_name",
    "item",
    "amount",
    "partner_share",
    "platform_fee",
    "affiliate_commission",
    "status",
    "escrow_status",
    "release_trigger",
    "transfer_id",
    "refund_id",
    "payment_intent_id",
    "negotiation_id",
    "position",
];

/// A checkout's snapshot; when it is newer than the stored one, its legs replace the stored legs.
pub(super) async fn checkout(tx: &mut PgConnection, meta: &Meta<'_>, e: &CheckoutUpdated) -> anyhow::Result<()> {
    // RETURNING answers a row only when one was inserted or replaced, not when the guard kept it.
    let upsert = format!("{} RETURNING checkout_id", snapshot_upsert("checkouts", &["tenant_id", "checkout_id"], &CHECKOUT_COLUMNS));
    let written: Option<String> = sqlx::query_scalar(&upsert)
        .bind(meta.tenant)
        .bind(&e.checkout_id)
        .bind(&e.bundle_id)
        .bind(&e.user_id)
        .bind(&e.thread_id)
        .bind(&e.status)
        .bind(&e.payment_status)
        .bind(&e.escrow_status)
        .bind(e.total)
        .bind(e.captured)
        .bind(e.refunded)
        .bind(e.released)
        .bind(&e.currency)
        .bind(&e.payment_intent_id)
        .bind(e.platform_fee)
        .bind(&e.affiliate_id)
        .bind(e.affiliate_commission)
        .bind(&e.affiliate_status)
        .bind(&e.reason)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .fetch_optional(&mut *tx)
        .await
        .with_context(|| format!("upserting checkout {}", e.checkout_id))?;
    if written.is_none() {
        // The stored snapshot is as new or newer: its legs stay.
        return Ok(());
    }
    sqlx::query("DELETE FROM checkout_legs WHERE tenant_id = $1 AND checkout_id = $2")
        .bind(meta.tenant)
        .bind(&e.checkout_id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("clearing the legs of checkout {}", e.checkout_id))?;
    let placeholders: Vec<String> = (1..=LEG_COLUMNS.len()).map(|i| format!("${i}")).collect();
    let insert = format!("INSERT INTO checkout_legs ({}) VALUES ({})", LEG_COLUMNS.join(", "), placeholders.join(", "));
    for (position, leg) in e.legs.iter().enumerate() {
        insert_leg(tx, &insert, meta.tenant, &e.checkout_id, position, leg).await?;
    }
    Ok(())
}

async fn insert_leg(tx: &mut PgConnection, insert: &str, tenant: &str, checkout_id: &str, position: usize, leg: &CheckoutLeg) -> anyhow::Result<()> {
    sqlx::query(insert)
        .bind(tenant)
        .bind(checkout_id)
        .bind(&leg.leg_id)
        .bind(&leg.partner_id)
        .bind(&leg.partner_name)
        .bind(&leg.item)
        .bind(leg.amount)
        .bind(leg.partner_share)
        .bind(leg.platform_fee)
        .bind(leg.affiliate_commission)
        .bind(&leg.status)
        .bind(&leg.escrow_status)
        .bind(&leg.release_trigger)
        .bind(&leg.transfer_id)
        .bind(&leg.refund_id)
        .bind(&leg.payment_intent_id)
        .bind(&leg.negotiation_id)
        .bind(i32::try_from(position).context("a checkout with over 2^31 legs")?)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("storing leg {} of checkout {checkout_id}", leg.leg_id))?;
    Ok(())
}
