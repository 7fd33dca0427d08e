//! The dispatcher as a [`Projection`] of the Postgres sink runner, which brings the consumer
//! loop, `sink_offsets` positioning and row-lock fencing, decode/DLQ of poison, retries and the
//! liveness probe. Per request, inside the batch's transaction (which holds the partition's
//! offset row lock, so a second instance during a rebalance waits and then skips):
//! 1. look the request's event id up in `outbound_dispatch`; SENT/FAILED ⇒ no HTTP call, the
//!    outcome comes from the row;
//! 2. otherwise commit a SENDING row, call the Cloud API (with retries) and commit the SENT/FAILED
//!    row **immediately** — each on its own connection, not in the batch transaction, so Meta's
//!    answer is durable milliseconds after it arrives;
//! 3. produce the result (`OutboundDispatched` / `OutboundFailed` to `status`; on failure also an
//!    `EscalationRaised` and the request to the DLQ) and wait for the acks;
//! 4. the runner stores offset+1 and commits.
//!
//! A crash anywhere re-delivers the request; step 1 then answers it from the ledger and step 3
//! re-produces byte-identical outputs (ids derived from the request's envelope). **The remaining
//! window:** a crash after Meta accepted the message but before the SENT row committed leaves a
//! SENDING row; the request is then sent again (logged as a possible duplicate) — Meta has no
//! idempotency key, so at-least-once is the honest bound there, while nothing is ever skipped.

use super::cloud_api::{self, Delivery, DispatcherSettings};
use super::ledger;
use souk_runtime::dead_letter::{dead_letter, Provenance};
use crate::postgres::{Projection, SinkRecord};
use crate::wire::{encode_for, Bare};
use anyhow::Context;
use rdkafka::producer::FutureProducer;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{headers, make_headers, send_all, OutRecord};
use souk_runtime::tenants::Tenants;
use souk_schemas::orders::{EscalationEvent, EscalationRaised};
use souk_schemas::whatsapp::{OutboundDispatched, OutboundEvent, OutboundFailed, OutboundMessageRequested, StatusEvent};
use souk_schemas::Envelope;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;

/// Escalation kind of a message refused for the 24-hour window (Meta 131047).
pub const OUTSIDE_WINDOW: &str = "OUTSIDE_WINDOW";
/// Escalation kind of any other failed delivery.
pub const DELIVERY_FAILED: &str = "DELIVERY_FAILED";

/// Topics the dispatcher writes, resolved from its `outputs` in topology.toml.
#[derive(Debug, Clone)]
pub struct DispatcherTopics {
    /// Sink name (scope of derived ids, DLQ component).
    pub sink: String,
    /// `whatsapp.status`.
    pub status: String,
    /// `escalations`.
    pub escalations: String,
    /// The sink's dead-letter topic.
    pub dlq: String,
}

/// Sends each `OutboundMessageRequested` once and reports the result.
pub struct WhatsAppDispatcher {
    topics: DispatcherTopics,
    codec: Arc<Codec>,
    pool: PgPool,
    tenants: Arc<Tenants>,
    settings: DispatcherSettings,
    client: reqwest::Client,
    producer: FutureProducer,
}

impl WhatsAppDispatcher {
    /// A dispatcher writing to `topics`, keeping its ledger in `pool`.
    pub fn new(topics: DispatcherTopics, codec: Arc<Codec>, pool: PgPool, tenants: Arc<Tenants>, settings: DispatcherSettings, producer: FutureProducer) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().build().context("HTTP client")?;
        Ok(WhatsAppDispatcher { topics, codec, pool, tenants, settings, client, producer })
    }

    /// The outcome of `req`: from the ledger when an earlier run finished it, else by sending.
    async fn deliver(&self, req: &OutboundMessageRequested) -> anyhow::Result<Delivery> {
        let (tenant_id, id) = (&req.envelope.tenant_id, &req.envelope.event_id);
        let prior = ledger::get(&self.pool, tenant_id, id).await?;
        if let Some(done) = prior.as_ref().and_then(ledger::finished) {
            tracing::info!(request = %id, "already dispatched; answering from the ledger");
            return Ok(done);
        }
        let prior_attempts = prior.as_ref().map_or(0, |r| r.attempts);
        if prior.is_some() {
            tracing::warn!(request = %id, tenant = %tenant_id, "an earlier run stopped while sending this message; sending again (the customer may receive it twice)");
        }
        let delivery = match self.tenants.get(tenant_id) {
            None => Delivery::Failed { http_status: None, error_code: None, reason: format!("tenant {tenant_id} is not configured"), attempts: prior_attempts },
            Some(tenant) => {
                ledger::mark_sending(&self.pool, req, prior_attempts).await?;
                cloud_api::send(&self.client, &self.settings, tenant, req, prior_attempts).await
            }
        };
        ledger::record(&self.pool, req, &delivery).await?;
        Ok(delivery)
    }

    /// Status (+ escalation and dead letter on failure) records for `req`'s outcome.
    async fn outputs(&self, record: &SinkRecord<Bare<OutboundMessageRequested, OutboundEvent>>, req: &OutboundMessageRequested, delivery: &Delivery) -> anyhow::Result<Vec<OutRecord>> {
        let key = format!("{}|{}", req.envelope.tenant_id, req.to);
        let scope = format!("{}/{key}", self.topics.sink);
        let derive = |i| req.envelope.derive(&scope, i, req.envelope.occurred_at);
        let request_event_id = req.envelope.event_id.clone();
        let mut out = Vec::new();
        match delivery {
            Delivery::Sent { wamid, attempts } => {
                let e = OutboundDispatched { envelope: derive(0), request_event_id, to: req.to.clone(), wamid: wamid.clone(), attempts: *attempts };
                let bytes = encode_for(&self.codec, &self.topics.status, &e, &StatusEvent::OutboundDispatched(e.clone())).await?;
                out.push(self.record(&self.topics.status, &key, &e.envelope, bytes));
            }
            Delivery::Failed { http_status, error_code, reason, attempts } => {
                let e = OutboundFailed { envelope: derive(0), request_event_id: request_event_id.clone(), to: req.to.clone(), http_status: *http_status, error_code: *error_code, reason: reason.clone(), attempts: *attempts };
                let bytes = encode_for(&self.codec, &self.topics.status, &e, &StatusEvent::OutboundFailed(e.clone())).await?;
                out.push(self.record(&self.topics.status, &key, &e.envelope, bytes));
                let kind = if delivery.outside_window() { OUTSIDE_WINDOW } else { DELIVERY_FAILED };
                let esc = EscalationRaised {
                    envelope: derive(1),
                    escalation_id: format!("outbound:{request_event_id}"),
                    customer: Some(req.to.clone()),
                    order_id: req.order_id.clone(),
                    kind: kind.into(),
                    priority: "medium".into(),
                    detail: format!("WhatsApp message ({}) to {} not sent: {reason}", req.purpose, req.to),
                };
                let bytes = encode_for(&self.codec, &self.topics.escalations, &esc, &EscalationEvent::EscalationRaised(esc.clone())).await?;
                out.push(self.record(&self.topics.escalations, &key, &esc.envelope, bytes));
                // The request itself, re-encoded with the topic's schema (deterministic Avro).
                let original = encode_for(&self.codec, &record.topic, req, &OutboundEvent::OutboundMessageRequested(req.clone())).await?;
                let p = Provenance { topic: &record.topic, partition: record.partition, offset: record.offset, error: reason, component: &self.topics.sink };
                out.push(dead_letter(&self.topics.dlq, &p, record.key.as_deref().map(str::as_bytes), Some(&original)));
            }
        }
        Ok(out)
    }

    fn record(&self, topic: &str, key: &str, env: &Envelope, payload: Vec<u8>) -> OutRecord {
        let causation = env.causation_id.clone().unwrap_or_default();
        OutRecord {
            topic: topic.to_string(),
            partition: None,
            key: Some(key.to_string()),
            payload: Some(payload),
            headers: make_headers(&[(headers::EVENT_ID, &env.event_id), (headers::CORRELATION_ID, &env.correlation_id), (headers::CAUSATION_ID, &causation)]),
        }
    }
}

impl Projection for WhatsAppDispatcher {
    type Event = Bare<OutboundMessageRequested, OutboundEvent>;

    async fn apply(&self, _tx: &mut PgConnection, record: &SinkRecord<Self::Event>) -> anyhow::Result<()> {
        let OutboundEvent::OutboundMessageRequested(req) = record.event.clone().into_event(OutboundEvent::OutboundMessageRequested);
        let delivery = self.deliver(&req).await?;
        let outputs = self.outputs(record, &req, &delivery).await?;
        send_all(&self.producer, outputs).await.context("producing the dispatch result")?;
        Ok(())
    }
}
