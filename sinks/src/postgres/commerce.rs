//! The commerce projection (`commerce-postgres` in topology.toml): WhatsApp messages and statuses,
//! order snapshots, command outcomes, escalations, invoices, payments and the ledger → the tables of
//! `projections/migrations/0003_commerce.sql`, read by the owner dashboard API.
//!
//! The runner applies each record once (offsets move in the same transaction), yet every write here
//! is an idempotent upsert, and rows fed by several topics (a message and its dispatch result, an
//! inbound message and the order it caused) are correct in whichever order the topics are read.

mod billing;
mod escalations;
mod messages;
mod orders;

use super::runner::{Projection, SinkRecord};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use souk_schemas::billing::{InvoiceIssued, LedgerEntryAppended, PaymentRecorded, PaymentReminderDue};
use souk_schemas::clock::Tick;
use souk_schemas::escalations::{EscalationCommandRejected, EscalationUpdated};
use souk_schemas::orders::{CommandOutcome, EscalationRaised, OrderUpdated};
use souk_schemas::whatsapp::{DeliveryStatus, InboundMessage, OutboundDispatched, OutboundFailed, OutboundMessageRequested};
use souk_schemas::{Envelope, StreamEvent};
use sqlx::PgConnection;

/// Every record of the sink's eight input topics, as one type (the runner decodes one event type;
/// the codec presents single-record topics in their union form, so no record is told apart by its
/// fields).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum CommerceEvent {
    InboundMessage(InboundMessage),
    DeliveryStatus(DeliveryStatus),
    OutboundDispatched(OutboundDispatched),
    OutboundFailed(OutboundFailed),
    OutboundMessageRequested(OutboundMessageRequested),
    OrderUpdated(OrderUpdated),
    CommandOutcome(CommandOutcome),
    EscalationRaised(EscalationRaised),
    InvoiceIssued(InvoiceIssued),
    PaymentRecorded(PaymentRecorded),
    Tick(Tick),
    LedgerEntryAppended(LedgerEntryAppended),
    PaymentReminderDue(PaymentReminderDue),
    EscalationUpdated(EscalationUpdated),
    EscalationCommandRejected(EscalationCommandRejected),
}

souk_schemas::stream_event!(CommerceEvent { InboundMessage, DeliveryStatus, OutboundDispatched, OutboundFailed, OutboundMessageRequested, OrderUpdated, CommandOutcome, EscalationRaised, InvoiceIssued, PaymentRecorded, Tick, LedgerEntryAppended, PaymentReminderDue, EscalationUpdated, EscalationCommandRejected } tick Tick);

/// Projects the commerce topics into the dashboard's read models.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommerceProjection;

/// What every write of one record shares: its tenant, event id and source time.
pub(crate) struct Meta<'a> {
    tenant: &'a str,
    event_id: &'a str,
    at: DateTime<Utc>,
    /// Offset of the source record: orders rows that share `at` (migrations 0005, 0006).
    offset: i64,
}

impl<'a> Meta<'a> {
    fn of(envelope: &'a Envelope) -> Result<Meta<'a>, String> {
        Ok(Meta { tenant: &envelope.tenant_id, event_id: &envelope.event_id, at: ts(envelope.occurred_at, "occurred_at")?, offset: 0 })
    }
}

fn ts(ms: i64, what: &str) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("{what} {ms} is not a representable time"))
}

/// The tenant part of a `<tenant>|<customer>` key.
fn key_tenant(key: Option<&str>) -> Result<&str, String> {
    let key = key.ok_or("record has no key")?;
    souk_schemas::key::CustomerKey::parse(key).map(|k| k.tenant).map_err(|e| e.to_string())
}

/// Every epoch-ms field the projection stores besides `occurred_at`.
fn extra_times(event: &CommerceEvent) -> Vec<(i64, &'static str)> {
    match event {
        CommerceEvent::DeliveryStatus(e) => vec![(e.status_at, "status_at")],
        CommerceEvent::OrderUpdated(e) => vec![(e.opened_at, "opened_at")],
        CommerceEvent::InvoiceIssued(e) => vec![(e.issued_at, "issued_at")],
        CommerceEvent::EscalationUpdated(e) => [(e.raised_at, "raised_at"), (e.assign_due_at, "assign_due_at")].into_iter().chain(e.resolved_at.map(|t| (t, "resolved_at"))).collect(),
        _ => vec![],
    }
}

impl Projection for CommerceProjection {
    type Event = CommerceEvent;

    fn check(&self, record: &SinkRecord<CommerceEvent>) -> Result<(), String> {
        if record.event.is_tick() {
            return Ok(());
        }
        let tenant = &record.event.envelope().tenant_id;
        let key_tenant = key_tenant(record.key.as_deref())?;
        if key_tenant != tenant {
            return Err(format!("key tenant {key_tenant} differs from the event's tenant {tenant}"));
        }
        Meta::of(record.event.envelope())?;
        for (ms, what) in extra_times(&record.event) {
            ts(ms, what)?;
        }
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<CommerceEvent>) -> anyhow::Result<()> {
        let meta = Meta { offset: record.offset, ..Meta::of(record.event.envelope()).map_err(anyhow::Error::msg)? };
        match &record.event {
            CommerceEvent::InboundMessage(e) => messages::inbound(tx, &meta, e).await,
            CommerceEvent::OutboundMessageRequested(e) => {
                messages::requested(tx, &meta, e).await?;
                match &e.order_id {
                    Some(order_id) => {
                        let detail = serde_json::json!({ "message_id": meta.event_id, "purpose": e.purpose, "text": e.text });
                        orders::history(tx, &meta, order_id, "MESSAGE_OUT", None, Some(&e.purpose), detail).await
                    }
                    None => Ok(()),
                }
            }
            CommerceEvent::OutboundDispatched(e) => messages::dispatched(tx, &meta, e).await,
            CommerceEvent::OutboundFailed(e) => messages::failed(tx, &meta, e).await,
            CommerceEvent::DeliveryStatus(e) => messages::delivery_status(tx, &meta, e).await,
            CommerceEvent::OrderUpdated(e) => orders::order_updated(tx, &meta, e).await,
            CommerceEvent::CommandOutcome(e) => orders::command_outcome(tx, &meta, e).await,
            CommerceEvent::EscalationRaised(e) => {
                souk_runtime::metrics::Metrics::global().escalations_raised.with_label_values(&[e.kind.as_str(), e.priority.as_str()]).inc();
                orders::escalation(tx, &meta, e).await
            }
            CommerceEvent::InvoiceIssued(e) => billing::invoice(tx, &meta, e).await,
            CommerceEvent::PaymentRecorded(e) => billing::payment(tx, &meta, e).await,
            CommerceEvent::LedgerEntryAppended(e) => billing::ledger_entry(tx, &meta, e).await,
            CommerceEvent::PaymentReminderDue(e) => billing::reminder(tx, &meta, e).await,
            CommerceEvent::EscalationUpdated(e) => escalations::updated(tx, &meta, e).await,
            CommerceEvent::EscalationCommandRejected(e) => escalations::rejected(tx, &meta, e).await,
            CommerceEvent::Tick(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> serde_json::Value {
        serde_json::json!({"event_id": "e1", "tenant_id": "acme", "occurred_at": 1, "causation_id": null, "correlation_id": "e1"})
    }

    /// Through the codec, a single-record topic's bare record and a union topic's branch both decode
    /// as their `CommerceEvent` variant; anything else is undecodable (a dead letter).
    #[tokio::test]
    async fn every_input_topic_decodes_through_the_codec() {
        let catalog = souk_schemas::Catalog::builtin().unwrap();
        let topics = vec![
            ("escalations".to_string(), vec!["souk.orders.EscalationRaised".to_string()]),
            ("orders.events".to_string(), vec!["souk.orders.OrderUpdated".to_string(), "souk.orders.CommandOutcome".to_string()]),
        ];
        let codec = souk_runtime::codec::Codec::in_memory(&topics, &catalog).unwrap();
        let outcome = serde_json::json!({"CommandOutcome": {"envelope": env(), "command_id": "c", "order_id": "o", "command": "APPROVE", "accepted": false, "code": "INVALID_STATE", "detail": "d"}});
        let bytes = codec.encode_json("orders.events", &outcome).await.unwrap();
        assert!(matches!(codec.decode::<CommerceEvent>(&bytes).await.unwrap(), CommerceEvent::CommandOutcome(c) if c.code.as_deref() == Some("INVALID_STATE")));
        let escalation = serde_json::json!({"envelope": env(), "escalation_id": "x", "customer": null, "order_id": "o", "kind": "k", "priority": "high", "detail": "d"});
        let bytes = codec.encode_json("escalations", &escalation).await.unwrap();
        assert!(matches!(codec.decode::<CommerceEvent>(&bytes).await.unwrap(), CommerceEvent::EscalationRaised(_)));
        assert!(codec.decode::<CommerceEvent>(b"\x00\x00\x00\x00\x09junk").await.is_err());
        assert!(serde_json::from_value::<CommerceEvent>(serde_json::json!({"Nope": {}})).is_err());
    }

    #[test]
    fn keys_name_the_tenant() {
        assert_eq!(key_tenant(Some("acme|9190")).unwrap(), "acme");
        assert_eq!(key_tenant(Some("*|tick")).unwrap(), "*");
        assert!(key_tenant(Some("acme")).is_err());
        assert!(key_tenant(Some("|9190")).is_err());
        assert!(key_tenant(None).is_err());
        assert!(ts(i64::MAX, "x").is_err());
    }
}
