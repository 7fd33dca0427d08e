//! The orchestration projection (`orchestration-postgres` in topology.toml): partners, their
//! products, bundles with their timeline, negotiations, partner replies as read, the user's bundle
//! thread, replaced legs and the conflicts of added items → the tables of `projections/migrations/0008_orchestration.sql`, read by
//! the read API (`GET /v1/partners`, `/v1/bundles/{id}`, `/v1/negotiations`, …).
//!
//! Standing intents' snapshots and progress ledger (`intents.events`, `narrations`) go to
//! `standing_intents` and `progress_ledger` (`intents.rs`); checkout snapshots (`CheckoutUpdated`
//! on `negotiation.events`) to `checkouts` and `checkout_legs` (`checkouts.rs`).
//!
//! Snapshots (partners, products, bundles, negotiations) are upserts that only move forward: the
//! stored `(updated_at, source_offset)` must be below the record's, so a replay, a redelivery or an
//! older snapshot never moves a row back. Replies, thread messages and recoveries are appended once
//! per event id. `ResourcingRequested` is a request to the resourcing stage: nothing to project.

mod catalog;
mod checkouts;
mod intents;
mod negotiations;

use super::runner::{Projection, SinkRecord};
use super::snapshot_upsert;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use souk_schemas::bundles::{BundleUpdated, ConflictSimulated, PartnerUpserted, ProductUpserted};
use souk_schemas::intents::{Narrated, ProgressLogged, StandingIntentUpdated};
use souk_schemas::key::{BundleKey, CatalogKey, IntentKey};
use souk_schemas::orchestration::{LegReplaced, NegotiationUpdated, PartnerReplyClassified, ResourcingRequested, UserNotified};
use souk_schemas::payments::CheckoutUpdated;
use souk_schemas::{Envelope, StreamEvent};
use sqlx::PgConnection;

/// Every record of the sink's five input topics as one type: `partners`, `partner.products` and
/// `narrations` carry one record each (the codec presents them in union form), `negotiation.events`
/// and `intents.events` the rest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum OrchestrationEvent {
    PartnerUpserted(PartnerUpserted),
    ProductUpserted(ProductUpserted),
    NegotiationUpdated(NegotiationUpdated),
    PartnerReplyClassified(PartnerReplyClassified),
    ResourcingRequested(ResourcingRequested),
    UserNotified(UserNotified),
    LegReplaced(LegReplaced),
    BundleUpdated(BundleUpdated),
    ConflictSimulated(ConflictSimulated),
    CheckoutUpdated(CheckoutUpdated),
    StandingIntentUpdated(StandingIntentUpdated),
    ProgressLogged(ProgressLogged),
    Narrated(Narrated),
}

souk_schemas::stream_event!(OrchestrationEvent {
    PartnerUpserted,
    ProductUpserted,
    NegotiationUpdated,
    PartnerReplyClassified,
    ResourcingRequested,
    UserNotified,
    LegReplaced,
    BundleUpdated,
    ConflictSimulated,
    CheckoutUpdated,
    StandingIntentUpdated,
    ProgressLogged,
    Narrated
});

/// Projects the orchestration topics into the read models of system 2.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrchestrationProjection;

/// What every write of one record shares: its tenant, event id, source time and source offset.
pub(crate) struct Meta<'a> {
    tenant: &'a str,
    event_id: &'a str,
    at: DateTime<Utc>,
    /// Offset of the source record: one entity's records share a key (a partition), so the offset
    /// orders snapshots with the same `at` and is the log order of a bundle's thread.
    offset: i64,
}

impl<'a> Meta<'a> {
    fn of(envelope: &'a Envelope, offset: i64) -> Result<Meta<'a>, String> {
        Ok(Meta { tenant: &envelope.tenant_id, event_id: &envelope.event_id, at: ts(envelope.occurred_at, "occurred_at")?, offset })
    }
}

fn ts(ms: i64, what: &str) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("{what} {ms} is not a representable time"))
}

/// The key a record must have (topology.toml: `tenant|partner`, `tenant|product`, `tenant|bundle`):
/// the event's own tenant and entity, so a row is written for the tenant the key says and one
/// entity's records are ordered by their offsets.
fn expected_key(event: &OrchestrationEvent) -> String {
    let tenant = &event.envelope().tenant_id;
    match event {
        OrchestrationEvent::PartnerUpserted(e) => CatalogKey::of(tenant, &e.partner_id),
        OrchestrationEvent::ProductUpserted(e) => CatalogKey::of(tenant, &e.product_id),
        OrchestrationEvent::NegotiationUpdated(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::PartnerReplyClassified(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::ResourcingRequested(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::UserNotified(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::LegReplaced(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::BundleUpdated(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::ConflictSimulated(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::CheckoutUpdated(e) => BundleKey::of(tenant, &e.bundle_id),
        OrchestrationEvent::StandingIntentUpdated(e) => IntentKey::of(tenant, &e.intent_id),
        OrchestrationEvent::ProgressLogged(e) => IntentKey::of(tenant, &e.subject_id),
        OrchestrationEvent::Narrated(e) => IntentKey::of(tenant, &e.subject_id),
    }
}

impl Projection for OrchestrationProjection {
    type Event = OrchestrationEvent;

    fn check(&self, record: &SinkRecord<OrchestrationEvent>) -> Result<(), String> {
        let key = record.key.as_deref().ok_or("record has no key")?;
        let expected = expected_key(&record.event);
        if key != expected {
            return Err(format!("key {key:?} is not {expected:?} (the event's tenant and entity)"));
        }
        Meta::of(record.event.envelope(), record.offset)?;
        if let OrchestrationEvent::BundleUpdated(e) = &record.event {
            ts(e.starts_at, "starts_at")?;
            negotiations::legs_json(&e.legs)?;
        }
        match &record.event {
            OrchestrationEvent::StandingIntentUpdated(e) => intents::check_intent(e)?,
            OrchestrationEvent::ProgressLogged(e) => {
                intents::json(&e.context, "context")?;
            }
            OrchestrationEvent::Narrated(e) => {
                intents::json(&e.card, "card")?;
            }
            _ => {}
        }
        if let OrchestrationEvent::ConflictSimulated(e) = &record.event {
            ts(e.new_arrival, "new_arrival")?;
            ts(e.deadline, "deadline")?;
        }
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<OrchestrationEvent>) -> anyhow::Result<()> {
        let meta = Meta::of(record.event.envelope(), record.offset).map_err(anyhow::Error::msg)?;
        count(&record.event);
        match &record.event {
            OrchestrationEvent::PartnerUpserted(e) => catalog::partner(tx, &meta, e).await,
            OrchestrationEvent::ProductUpserted(e) => catalog::product(tx, &meta, e).await,
            OrchestrationEvent::BundleUpdated(e) => negotiations::bundle(tx, &meta, e).await,
            OrchestrationEvent::NegotiationUpdated(e) => negotiations::negotiation(tx, &meta, e).await,
            OrchestrationEvent::PartnerReplyClassified(e) => negotiations::reply(tx, &meta, e).await,
            OrchestrationEvent::UserNotified(e) => negotiations::thread_message(tx, &meta, e).await,
            OrchestrationEvent::LegReplaced(e) => negotiations::recovery(tx, &meta, e).await,
            OrchestrationEvent::ConflictSimulated(e) => negotiations::conflict(tx, &meta, e).await,
            OrchestrationEvent::CheckoutUpdated(e) => checkouts::checkout(tx, &meta, e).await,
            OrchestrationEvent::ResourcingRequested(_) => Ok(()),
            OrchestrationEvent::StandingIntentUpdated(e) => intents::intent(tx, &meta, e).await,
            OrchestrationEvent::ProgressLogged(e) => intents::entry(tx, &meta, &record.topic, e).await,
            OrchestrationEvent::Narrated(e) => intents::narrated(tx, &meta, &record.topic, e).await,
        }
    }
}

/// The business counters of system 2 (negotiation outcomes, re-sourcing outcomes and duration),
/// counted as records are projected.
fn count(event: &OrchestrationEvent) {
    let m = souk_runtime::metrics::Metrics::global();
    match event {
        OrchestrationEvent::NegotiationUpdated(n) if FINAL_STATUSES.contains(&n.status.as_str()) => {
            m.negotiation_outcomes.with_label_values(&[n.status.as_str()]).inc();
            if n.status == "escalated" && n.reason.as_deref().is_some_and(|r| r.starts_with("No alternative")) {
                m.recoveries.with_label_values(&["escalated"]).inc();
            }
        }
        OrchestrationEvent::LegReplaced(l) => {
            m.recoveries.with_label_values(&["recovered"]).inc();
            if let Some(started) = l.started_at {
                m.recovery_seconds.with_label_values(&["recovered"]).observe((l.envelope.occurred_at - started).max(0) as f64 / 1000.0);
            }
        }
        _ => {}
    }
}

/// Final statuses of a negotiation (rules N1).
const FINAL_STATUSES: [&str; 5] = ["accepted", "rejected", "rejected_by_user", "recovered_autonomously", "escalated"];

/// `INSERT` of `columns` into an append-only table keyed by `(tenant_id, event_id)`: once per event.
fn append_once(table: &str, columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    format!("INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT (tenant_id, event_id) DO NOTHING", columns.join(", "), placeholders.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> serde_json::Value {
        serde_json::json!({"event_id": "e1", "tenant_id": "acme", "occurred_at": 1, "causation_id": null, "correlation_id": "e1"})
    }

    fn record(key: &str, event: serde_json::Value) -> SinkRecord<OrchestrationEvent> {
        SinkRecord { topic: "t".into(), partition: 0, offset: 3, key: Some(key.into()), event: serde_json::from_value(event).unwrap() }
    }

    fn notified(bundle: &str) -> serde_json::Value {
        serde_json::json!({"UserNotified": {"envelope": env(), "negotiation_id": "", "bundle_id": bundle, "thread_id": "t1", "kind": "note", "text": "hi"}})
    }

    fn logged(subject: &str, log_type: &str, context: &str) -> serde_json::Value {
        serde_json::json!({"ProgressLogged": {"envelope": env(), "subject_kind": "intent", "subject_id": subject, "thread_id": "thread-i1", "step": 2,
            "step_name": "condition_wait", "log_type": log_type, "status": "waiting", "text": "checked", "context": context, "if_text": null, "then_text": null}})
    }

    fn narrated(subject: &str, card: &str) -> serde_json::Value {
        serde_json::json!({"Narrated": {"envelope": env(), "subject_kind": "intent", "subject_id": subject, "thread_id": "thread-i1", "entry_id": "e0", "step": 2,
            "status": "waiting", "narrative": "Still raining.", "reasoning": "rain", "renderer": "narrator-offline-1", "card": card}})
    }

    fn intent_updated(intent: &str) -> serde_json::Value {
        serde_json::json!({"StandingIntentUpdated": {"envelope": env(), "intent_id": intent, "user_id": "u1", "thread_id": "thread-i1", "description": "d",
            "status": "active", "trust_level": "high", "requires_approval": false, "if_text": "Weather == Sunny", "then_text": "Order Flowers",
            "checks": [{"kind": "weather", "value": "sunny", "met": false, "observed": "rainy"}], "checks_count": 1, "last_checked_at": 2, "expires_at": 9,
            "approval_due_at": null, "bundle_id": null, "reason": null, "created_at": 1, "vendors_found": 2}})
    }

    fn checkout_updated(bundle: &str, legs: &[&str]) -> serde_json::Value {
        let leg = |id: &str| {
            serde_json::json!({"leg_id": id, "partner_id": "pa", "partner_name": "Flower Shop A", "item": "Red roses", "amount": "55.00", "partner_share": "48.13",
                "platform_fee": "6.87", "affiliate_commission": "2.06", "status": "confirmed", "escrow_status": "held", "release_trigger": null, "transfer_id": null,
                "refund_id": null, "payment_intent_id": null, "negotiation_id": "res-1"})
        };
        serde_json::json!({"CheckoutUpdated": {"envelope": env(), "checkout_id": "co-1", "bundle_id": bundle, "user_id": "u1", "thread_id": "thread-b1", "status": "paid",
            "payment_status": "captured", "escrow_status": "held", "total": "55.00", "captured": "55.00", "refunded": "0", "released": "0", "currency": "EUR",
            "payment_intent_id": "pi_1", "platform_fee": "6.87", "affiliate_id": null, "affiliate_commission": "0", "affiliate_status": "none", "reason": null,
            "legs": legs.iter().map(|id| leg(id)).collect::<Vec<_>>()}})
    }

    /// A checkout snapshot is keyed by its bundle (its saga lives in the bundle's state) and
    /// decodes from `negotiation.events`, a re-sourced leg beside its replacement under one id.
    #[tokio::test]
    async fn checkout_snapshots_are_keyed_by_their_bundle() {
        let catalog = souk_schemas::Catalog::builtin().unwrap();
        let topics = vec![("negotiation.events".to_string(), vec!["souk.orchestration.UserNotified".to_string(), "souk.payments.CheckoutUpdated".to_string()])];
        let codec = souk_runtime::codec::Codec::in_memory(&topics, &catalog).unwrap();
        let value = checkout_updated("b1", &["l1", "l2", "l2"]);
        let bytes = codec.encode_json("negotiation.events", &value).await.unwrap();
        assert_eq!(codec.decode::<OrchestrationEvent>(&bytes).await.unwrap(), serde_json::from_value(value.clone()).unwrap());
        let p = OrchestrationProjection;
        assert_eq!(p.check(&record("acme|b1", value.clone())), Ok(()));
        assert!(p.check(&record("acme|co-1", value.clone())).is_err(), "keyed by the bundle, not the checkout");
        assert!(p.check(&record("other|b1", value)).is_err());
    }

    /// Through the codec, the catalog topics' bare records and a union branch of
    /// `negotiation.events` decode as their `OrchestrationEvent` variant.
    #[tokio::test]
    async fn every_input_topic_decodes_through_the_codec() {
        let catalog = souk_schemas::Catalog::builtin().unwrap();
        let topics = vec![
            ("partner.products".to_string(), vec!["souk.orchestration.ProductUpserted".to_string()]),
            ("negotiation.events".to_string(), vec!["souk.orchestration.UserNotified".to_string(), "souk.orchestration.LegReplaced".to_string()]),
        ];
        let codec = souk_runtime::codec::Codec::in_memory(&topics, &catalog).unwrap();
        let product = serde_json::json!({"envelope": env(), "product_id": "p1", "partner_id": "pa", "name": "Red Flowers", "description": "",
            "price": "50.00", "currency": "USD", "capabilities": ["florist"], "inventory_count": -1, "active": true});
        let bytes = codec.encode_json("partner.products", &product).await.unwrap();
        assert!(matches!(codec.decode::<OrchestrationEvent>(&bytes).await.unwrap(), OrchestrationEvent::ProductUpserted(p) if p.price.to_string() == "50.00"));
        let bytes = codec.encode_json("negotiation.events", &notified("b1")).await.unwrap();
        assert!(matches!(codec.decode::<OrchestrationEvent>(&bytes).await.unwrap(), OrchestrationEvent::UserNotified(n) if n.negotiation_id.is_empty()));
    }

    /// The standing intents' topics: a union branch of `intents.events` and the bare record of
    /// `narrations` decode as their variant.
    #[tokio::test]
    async fn intent_topics_decode_through_the_codec() {
        let catalog = souk_schemas::Catalog::builtin().unwrap();
        let topics = vec![
            ("intents.events".to_string(), vec!["souk.intents.StandingIntentUpdated".to_string(), "souk.intents.ProgressLogged".to_string()]),
            ("narrations".to_string(), vec!["souk.intents.Narrated".to_string()]),
        ];
        let codec = souk_runtime::codec::Codec::in_memory(&topics, &catalog).unwrap();
        for value in [intent_updated("i1"), logged("i1", "thought", "{}")] {
            let bytes = codec.encode_json("intents.events", &value).await.unwrap();
            assert_eq!(codec.decode::<OrchestrationEvent>(&bytes).await.unwrap(), serde_json::from_value(value).unwrap());
        }
        let bytes = codec.encode_json("narrations", &narrated("i1", "{}")["Narrated"]).await.unwrap();
        assert!(matches!(codec.decode::<OrchestrationEvent>(&bytes).await.unwrap(), OrchestrationEvent::Narrated(n) if n.entry_id == "e0"));
    }

    /// Intent records are keyed `<tenant>|<intent>` (a ledger entry and a narrative by their
    /// subject); a context or card that is not JSON, or an unrepresentable time, is refused.
    #[test]
    fn intent_records_are_keyed_by_intent_and_checked() {
        let p = OrchestrationProjection;
        assert_eq!(p.check(&record("acme|i1", intent_updated("i1"))), Ok(()));
        assert_eq!(p.check(&record("acme|i1", logged("i1", "narrative", r#"{"weather": "rainy"}"#))), Ok(()));
        assert_eq!(p.check(&record("acme|i1", narrated("i1", r#"{"type": "AdaptiveCard"}"#))), Ok(()));
        for wrong in [record("acme|i2", intent_updated("i1")), record("other|i1", logged("i1", "thought", "{}")), record("acme|b1", narrated("i1", "{}"))] {
            assert!(p.check(&wrong).is_err(), "{:?} is not keyed by its intent", wrong.event);
        }
        assert!(p.check(&record("acme|i1", logged("i1", "thought", "not json"))).unwrap_err().contains("context"));
        assert!(p.check(&record("acme|i1", narrated("i1", "{\"type\":"))).unwrap_err().contains("card"));
        for field in ["last_checked_at", "expires_at", "created_at", "approval_due_at"] {
            let mut late = intent_updated("i1");
            late["StandingIntentUpdated"][field] = serde_json::json!(i64::MAX);
            assert!(p.check(&record("acme|i1", late)).unwrap_err().contains(field), "{field}");
        }
    }

    /// A record must be keyed by its own tenant and entity; its times must be representable.
    #[test]
    fn keys_name_the_events_tenant_and_entity() {
        let p = OrchestrationProjection;
        assert_eq!(p.check(&record("acme|b1", notified("b1"))), Ok(()));
        assert!(p.check(&record("other|b1", notified("b1"))).unwrap_err().contains("tenant"));
        assert!(p.check(&record("acme|b2", notified("b1"))).is_err());
        let mut none = record("acme|b1", notified("b1"));
        none.key = None;
        assert!(p.check(&none).is_err());
        let mut late = notified("b1");
        late["UserNotified"]["envelope"]["occurred_at"] = serde_json::json!(i64::MAX);
        assert!(p.check(&record("acme|b1", late)).unwrap_err().contains("occurred_at"));
    }

    /// Negotiation outcomes, re-sourcing outcomes and their duration are counted from what is
    /// projected: a final snapshot once, a replaced leg with its time since the negotiation opened.
    #[test]
    fn business_counters_follow_the_projected_records() {
        let m = souk_runtime::metrics::Metrics::global();
        let recovered = || m.recoveries.with_label_values(&["recovered"]).get();
        let (before, outcomes_before) = (recovered(), m.negotiation_outcomes.with_label_values(&["recovered_autonomously"]).get());
        let secs_before = m.recovery_seconds.with_label_values(&["recovered"]).get_sample_sum();
        let replaced = serde_json::json!({"LegReplaced": {"envelope": env(), "negotiation_id": "n1", "bundle_id": "b1", "leg_id": "l1", "old_partner_id": "pa", "new_partner_id": "pb",
            "product_id": "p", "item": "Pink Flowers", "price": "55.00", "delay_minutes": 5, "started_at": -299_999}});
        count(&serde_json::from_value(replaced).unwrap());
        let updated = |status: &str| {
            serde_json::json!({"NegotiationUpdated": {"envelope": env(), "negotiation_id": "n1", "bundle_id": "b1", "leg_id": "l1", "negotiation_type": "product_change",
            "status": status, "partner_id": "pb", "counter_offer_count": 0, "unclear_replies": 0, "paused": false, "proposal": null, "proposal_price": null, "reason": null, "partner_contact": null}})
        };
        count(&serde_json::from_value(updated("awaiting_partner_reply")).unwrap());
        count(&serde_json::from_value(updated("recovered_autonomously")).unwrap());
        assert_eq!(recovered(), before + 1);
        assert_eq!(m.negotiation_outcomes.with_label_values(&["recovered_autonomously"]).get(), outcomes_before + 1, "only final statuses are outcomes");
        assert!((m.recovery_seconds.with_label_values(&["recovered"]).get_sample_sum() - secs_before - 300.0).abs() < 1e-6, "5 minutes from opening to the replaced leg");
    }

    #[test]
    fn snapshot_upserts_only_move_forward() {
        let sql = snapshot_upsert("bundles", &["tenant_id", "bundle_id"], &["tenant_id", "bundle_id", "status", "updated_at", "source_offset"]);
        assert!(sql.contains("VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, bundle_id) DO UPDATE SET status = EXCLUDED.status, updated_at"), "{sql}");
        assert!(sql.ends_with("WHERE (bundles.updated_at, bundles.source_offset) < (EXCLUDED.updated_at, EXCLUDED.source_offset)"), "{sql}");
        assert!(append_once("recoveries", &["tenant_id", "event_id"]).ends_with("ON CONFLICT (tenant_id, event_id) DO NOTHING"));
    }
}
