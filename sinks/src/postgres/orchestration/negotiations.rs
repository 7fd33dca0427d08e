//! `negotiation.events` → bundle and negotiation snapshots (`bundles`, `negotiations`) and the
//! append-only logs of one bundle: partner replies as read (`negotiation_replies`), the user's
//! thread (`thread_messages`) and replaced legs (`recoveries`).

use super::{append_once, snapshot_upsert, ts, Meta};
use anyhow::Context;
use chrono::SecondsFormat;
use serde_json::Value;
use souk_schemas::bundles::{BundleLeg, BundleUpdated, ConflictSimulated};
use souk_schemas::orchestration::{LegReplaced, NegotiationUpdated, PartnerReplyClassified, UserNotified};
use sqlx::PgConnection;

const BUNDLE_COLUMNS: [&str; 11] = ["tenant_id", "bundle_id", "user_id", "thread_id", "status", "starts_at", "total_minutes", "legs", "last_event_id", "updated_at", "source_offset"];

const NEGOTIATION_COLUMNS: [&str; 16] = [
    "tenant_id",
    "negotiation_id",
    "bundle_id",
    "leg_id",
    "negotiation_type",
    "status",
    "partner_id",
    "counter_offer_count",
    "unclear_replies",
    "paused",
    "proposal",
    "proposal_price",
    "reason",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const REPLY_COLUMNS: [&str; 14] = [
    "tenant_id",
    "event_id",
    "negotiation_id",
    "bundle_id",
    "partner_id",
    "text",
    "button_id",
    "classification",
    "offered_item",
    "offered_price",
    "offered_change_percent",
    "classifier",
    "at",
    "source_offset",
];

const MESSAGE_COLUMNS: [&str; 9] = ["tenant_id", "event_id", "bundle_id", "thread_id", "negotiation_id", "kind", "text", "at", "source_offset"];

const RECOVERY_COLUMNS: [&str; 13] =
    ["tenant_id", "event_id", "negotiation_id", "bundle_id", "leg_id", "old_partner_id", "new_partner_id", "product_id", "item", "price", "delay_minutes", "at", "source_offset"];

/// An epoch-ms time as the read API shows times (RFC 3339, UTC).
fn rfc3339(ms: i64, what: &str) -> Result<Value, String> {
    Ok(Value::String(ts(ms, what)?.to_rfc3339_opts(SecondsFormat::AutoSi, true)))
}

/// The legs as stored and served: each `BundleLeg` as in the event (price a string), its times in
/// RFC 3339 (`arrives_at` null until the time chain ran). Fails on an unrepresentable time.
pub(super) fn legs_json(legs: &[BundleLeg]) -> Result<Value, String> {
    let mut out = Vec::with_capacity(legs.len());
    for leg in legs {
        let mut v = serde_json::to_value(leg).map_err(|e| format!("leg {}: {e}", leg.leg_id))?;
        v["starts_at"] = rfc3339(leg.starts_at, "leg starts_at")?;
        v["deadline"] = rfc3339(leg.deadline, "leg deadline")?;
        v["arrives_at"] = match leg.arrives_at {
            Some(ms) => rfc3339(ms, "leg arrives_at")?,
            None => Value::Null,
        };
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// A bundle's snapshot with its timeline.
pub(super) async fn bundle(tx: &mut PgConnection, meta: &Meta<'_>, e: &BundleUpdated) -> anyhow::Result<()> {
    let starts_at = ts(e.starts_at, "starts_at").map_err(anyhow::Error::msg)?;
    let legs = legs_json(&e.legs).map_err(anyhow::Error::msg)?;
    sqlx::query(&snapshot_upsert("bundles", &["tenant_id", "bundle_id"], &BUNDLE_COLUMNS))
        .bind(meta.tenant)
        .bind(&e.bundle_id)
        .bind(&e.user_id)
        .bind(&e.thread_id)
        .bind(&e.status)
        .bind(starts_at)
        .bind(e.total_minutes)
        .bind(legs)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting bundle {}", e.bundle_id))?;
    Ok(())
}

/// A negotiation's snapshot.
pub(super) async fn negotiation(tx: &mut PgConnection, meta: &Meta<'_>, e: &NegotiationUpdated) -> anyhow::Result<()> {
    sqlx::query(&snapshot_upsert("negotiations", &["tenant_id", "negotiation_id"], &NEGOTIATION_COLUMNS))
        .bind(meta.tenant)
        .bind(&e.negotiation_id)
        .bind(&e.bundle_id)
        .bind(&e.leg_id)
        .bind(&e.negotiation_type)
        .bind(&e.status)
        .bind(&e.partner_id)
        .bind(e.counter_offer_count)
        .bind(e.unclear_replies)
        .bind(e.paused)
        .bind(&e.proposal)
        .bind(e.proposal_price)
        .bind(&e.reason)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting negotiation {}", e.negotiation_id))?;
    Ok(())
}

/// How one partner reply was read (once per event).
pub(super) async fn reply(tx: &mut PgConnection, meta: &Meta<'_>, e: &PartnerReplyClassified) -> anyhow::Result<()> {
    sqlx::query(&append_once("negotiation_replies", &REPLY_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.negotiation_id)
        .bind(&e.bundle_id)
        .bind(&e.partner_id)
        .bind(&e.text)
        .bind(&e.button_id)
        .bind(&e.classification)
        .bind(&e.offered_item)
        .bind(e.offered_price)
        .bind(e.offered_change_percent)
        .bind(&e.classifier)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending a reply to negotiation {}", e.negotiation_id))?;
    Ok(())
}

/// A message to the user's bundle thread (once per event); an empty negotiation id is a note about
/// the bundle itself.
pub(super) async fn thread_message(tx: &mut PgConnection, meta: &Meta<'_>, e: &UserNotified) -> anyhow::Result<()> {
    let negotiation_id = Some(e.negotiation_id.as_str()).filter(|id| !id.is_empty());
    sqlx::query(&append_once("thread_messages", &MESSAGE_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.bundle_id)
        .bind(&e.thread_id)
        .bind(negotiation_id)
        .bind(&e.kind)
        .bind(&e.text)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending a message to the thread of bundle {}", e.bundle_id))?;
    Ok(())
}

/// A leg moved to another partner (once per event).
pub(super) async fn recovery(tx: &mut PgConnection, meta: &Meta<'_>, e: &LegReplaced) -> anyhow::Result<()> {
    sqlx::query(&append_once("recoveries", &RECOVERY_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.negotiation_id)
        .bind(&e.bundle_id)
        .bind(&e.leg_id)
        .bind(&e.old_partner_id)
        .bind(&e.new_partner_id)
        .bind(&e.product_id)
        .bind(&e.item)
        .bind(e.price)
        .bind(e.delay_minutes)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending the recovery of leg {} of bundle {}", e.leg_id, e.bundle_id))?;
    Ok(())
}

const CONFLICT_COLUMNS: [&str; 17] = [
    "tenant_id",
    "event_id",
    "command_id",
    "bundle_id",
    "leg_id",
    "leg_name",
    "item",
    "has_conflict",
    "time_impact_minutes",
    "new_arrival",
    "deadline",
    "delay_minutes",
    "suggestion",
    "suggestion_message",
    "courier_cost",
    "at",
    "source_offset",
];

/// What adding an item did to a leg's deadline, once per event.
pub(super) async fn conflict(tx: &mut PgConnection, meta: &Meta<'_>, e: &ConflictSimulated) -> anyhow::Result<()> {
    let time = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).context("a time out of range");
    sqlx::query(&append_once("bundle_conflicts", &CONFLICT_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.command_id)
        .bind(&e.bundle_id)
        .bind(&e.leg_id)
        .bind(&e.leg_name)
        .bind(&e.item)
        .bind(e.has_conflict)
        .bind(e.time_impact_minutes)
        .bind(time(e.new_arrival)?)
        .bind(time(e.deadline)?)
        .bind(e.delay_minutes)
        .bind(&e.suggestion)
        .bind(&e.suggestion_message)
        .bind(e.courier_cost)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending the conflict of {} on leg {} of bundle {}", e.item, e.leg_id, e.bundle_id))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_schemas::bundles::Degrees;

    fn leg(arrives_at: Option<i64>) -> BundleLeg {
        BundleLeg {
            leg_id: "l1".into(),
            name: "Flowers".into(),
            partner_id: "pa".into(),
            partner_name: "Flower Shop A".into(),
            partner_contact: "1234567890".into(),
            partner_lat: Degrees(40.7128),
            partner_lng: Degrees(-74.006),
            preparation_minutes: 20,
            hard_locked: false,
            product_id: "p1".into(),
            item: "Red Flowers".into(),
            price: "50.00".parse().unwrap(),
            currency: "USD".into(),
            capabilities: vec!["florist".into()],
            is_jit: false,
            starts_at: 1_767_261_600_000,
            deadline: 1_767_265_200_500,
            destination_lat: Degrees(40.75),
            destination_lng: Degrees(-73.99),
            arrives_at,
            partner_opted_in: true,
            margin_percent: None,
            payout_account: None,
        }
    }

    /// The stored leg is the event's, with an exact price string and RFC 3339 times.
    #[test]
    fn legs_keep_the_event_shape_with_readable_times() {
        let legs = legs_json(&[leg(Some(1_767_263_700_000)), leg(None)]).unwrap();
        assert_eq!(legs[0]["price"], "50.00");
        assert_eq!(legs[0]["partner_lat"], 40.7128);
        assert_eq!((legs[0]["starts_at"].as_str(), legs[0]["deadline"].as_str()), (Some("2026-01-01T10:00:00Z"), Some("2026-01-01T11:00:00.500Z")));
        assert_eq!(legs[0]["arrives_at"], "2026-01-01T10:35:00Z");
        assert!(legs[1]["arrives_at"].is_null());
        assert_eq!(legs[1]["capabilities"], serde_json::json!(["florist"]));
        assert!(legs_json(&[BundleLeg { deadline: i64::MAX, ..leg(None) }]).unwrap_err().contains("deadline"));
    }
}
