//! The dispatcher as a [`Projection`] of the Postgres sink runner, which brings the consumer
//! loop, `sink_offsets` positioning and row-lock fencing, decode/DLQ of poison, retries, deferral
//! and the liveness probe. It reads two topics:
//! - `whatsapp.status`: a `DeliveryStatus` carrying `callback_data` (Meta's echo of the
//!   `biz_opaque_callback_data` every send carries: the request's event id) is recorded in
//!   `outbound_callbacks`, in the batch transaction — "Meta has request E, as wamid W";
//! - `whatsapp.outbound`: per request, [`plan::next`] decides from its `outbound_dispatch` row,
//!   that callback and the clock:
//!   1. finished (SENT/FAILED), or settled by a callback ⇒ no HTTP call, the outcome is recorded
//!      and reported;
//!   2. due ⇒ commit a SENDING row, make **one** HTTP attempt and commit what it means
//!      **immediately** (each write on its own connection, not in the batch transaction): SENT,
//!      FAILED (permanent), RETRYING (an outage: nothing accepted; next attempt after a backoff)
//!      or UNKNOWN (sent, answer lost: no resend before the bounded settle wait);
//!   3. not due (backing off, or waiting for the status of an unknown attempt) ⇒ the record is
//!      [`Deferred`]: the runner stores the partition's offset *at* it and retries it later, so
//!      later replies to the same customer never overtake it;
//!   4. finished ⇒ produce the result (`OutboundDispatched` / `OutboundFailed` to `status`; on
//!      failure also an `EscalationRaised` and, unless it may have been delivered, the request
//!      to the DLQ) and wait for the acks; the runner stores offset+1 and commits.
//!
//! A crash anywhere re-delivers the request; its row then answers it, or — a SENDING row, whose
//! attempt may have reached Meta — it is settled like an unknown outcome (its status, or the
//! bounded wait) before it is sent again, and the same callback data lets the status of either
//! attempt settle it. Results are re-produced byte-identical (ids derived from the request).
//! **The remaining window:** an attempt that reached Meta whose status webhook never arrives
//! within the settle wait is sent again — Meta has no idempotency key, so at-least-once is the
//! honest bound there, while nothing is ever skipped.

use super::cloud_api::{self, Delivery, DispatcherSettings, Failure, Outcome};
use super::consent::{Consents, NO_OPT_IN};
use super::ledger;
use super::plan::{self, Next, Progress, State};
use crate::postgres::{Deferred, Projection, SinkRecord};
use anyhow::Context;
use rdkafka::producer::FutureProducer;
use serde::Deserialize;
use souk_runtime::codec::Codec;
use souk_runtime::dead_letter::{dead_letter, Provenance};
use souk_runtime::kafka::{send_all, OutRecord};
use souk_runtime::tenants::Tenants;
use souk_schemas::orders::{EscalationEvent, EscalationRaised};
use souk_schemas::whatsapp::{OutboundDispatched, OutboundEvent, OutboundFailed, OutboundMessageRequested, StatusEvent};
use souk_schemas::Envelope;
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Escalation kind of a message refused for the 24-hour window (Meta 131047).
pub const OUTSIDE_WINDOW: &str = "OUTSIDE_WINDOW";
/// Escalation kind of any other failed delivery.
pub const DELIVERY_FAILED: &str = "DELIVERY_FAILED";
/// Escalation kind of a message whose window closed while an attempt's outcome was unknown: it
/// may have been delivered (the owner should check with the customer).
pub const DELIVERY_UNCONFIRMED: &str = "DELIVERY_UNCONFIRMED";

/// How long shutdown lets an HTTP attempt in flight finish before abandoning it (an abandoned
/// attempt's outcome is unknown and settled on restart).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

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

/// A record of the dispatcher's inputs: a request (`whatsapp.outbound`, a single-record topic)
/// or anything on `whatsapp.status` (Meta's statuses, and the dispatcher's own results).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DispatcherInput {
    /// A reply to send.
    Request(OutboundEvent),
    /// A status record.
    Status(StatusEvent),
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
    shutdown: watch::Receiver<bool>,
    /// Who agreed to messages.
    consents: Consents,
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl WhatsAppDispatcher {
    /// A dispatcher writing to `topics`, keeping its ledger in `pool`, sending only to people
    /// `consents` says agreed; an HTTP attempt in flight
    /// is abandoned [`SHUTDOWN_GRACE`] after `shutdown` turns true (its SENDING row is settled on
    /// restart), and no new one starts.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        topics: DispatcherTopics,
        codec: Arc<Codec>,
        pool: PgPool,
        tenants: Arc<Tenants>,
        settings: DispatcherSettings,
        producer: FutureProducer,
        consents: Consents,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let client = cloud_api::client(&settings).context("HTTP client")?;
        Ok(WhatsAppDispatcher { topics, codec, pool, tenants, settings, client, producer, shutdown, consents })
    }

    /// The outcome of `req` once it is final; `Err(Deferred)` while it must wait.
    async fn deliver(&self, req: &OutboundMessageRequested) -> anyhow::Result<Delivery> {
        let (tenant_id, id) = (&req.envelope.tenant_id, &req.envelope.event_id);
        let deadline = plan::deadline(req.envelope.occurred_at, &self.settings);
        loop {
            let row = ledger::get(&self.pool, tenant_id, id).await?;
            let prior = row.as_ref().map(ledger::progress);
            let settled_by = ledger::settled_by(&self.pool, tenant_id, id).await?;
            let now = now_ms();
            match plan::next(prior.as_ref(), settled_by.as_deref(), now, deadline, &self.settings) {
                Next::Done(delivery) => {
                    match &prior {
                        Some(Progress { state: State::Done(_), .. }) => {
                            tracing::info!(request = %id, "already dispatched; answering from the ledger")
                        }
                        _ => {
                            if settled_by.is_some() {
                                tracing::info!(request = %id, "settled by Meta's status webhook (its callback data names this request); not sending again");
                            }
                            let attempts = prior.as_ref().map_or(0, |p| p.attempts);
                            let unconfirmed = prior.as_ref().is_some_and(|p| p.unconfirmed);
                            ledger::record(&self.pool, req, &Progress { state: State::Done(delivery.clone()), attempts, not_before: None, updated_at: now, unconfirmed, last: Failure::default() })
                                .await?;
                        }
                    }
                    return Ok(delivery);
                }
                Next::Wait { until, why } => {
                    let retry_in = Duration::from_millis(u64::try_from(until.saturating_sub(now)).unwrap_or(0));
                    return Err(Deferred::new(retry_in, format!("request {id}: {why}")).into());
                }
                Next::Send { attempt } => {
                    if let Some(done) = self.attempt(req, attempt, prior.as_ref(), deadline).await? {
                        return Ok(done);
                    }
                    // RETRYING / UNKNOWN recorded: the next round of the loop defers it.
                }
            }
        }
    }

    /// Makes attempt number `attempt` and records what it means; the final outcome, if any.
    async fn attempt(&self, req: &OutboundMessageRequested, attempt: i32, prior: Option<&Progress>, deadline: i64) -> anyhow::Result<Option<Delivery>> {
        let id = &req.envelope.event_id;
        let unconfirmed = prior.is_some_and(|p| p.unconfirmed);
        let permanent = |reason: String| Outcome::Permanent(Failure::transport(reason));
        let refusal = self.consents.refusal(&req.envelope.tenant_id, &req.to).await?;
        let outcome = match (self.tenants.get(&req.envelope.tenant_id), cloud_api::message_body(req), refusal) {
            (None, _, _) => permanent(format!("tenant {} is not configured", req.envelope.tenant_id)),
            (_, Err(reason), _) => permanent(reason),
            (_, _, Some(refusal)) => permanent(refusal),
            (Some(tenant), Ok(body), None) => {
                if matches!(prior.map(|p| &p.state), Some(State::Sending | State::Unknown)) {
                    tracing::warn!(request = %id, attempt, "no status arrived for an attempt whose answer was lost; sending again with the same callback data (the customer may receive it twice)");
                }
                let stopping = *self.shutdown.borrow();
                if stopping {
                    anyhow::bail!("shutting down; {id} is not sent now (retried on restart)");
                }
                ledger::mark_sending(&self.pool, req, attempt, unconfirmed).await?;
                let mut shutdown = self.shutdown.clone();
                let send = cloud_api::attempt(&self.client, &self.settings, tenant, req, &body);
                tokio::pin!(send);
                tokio::select! {
                    o = &mut send => o,
                    // (the guard `wait_for` returns is not `Send`: drop it before awaiting more)
                    _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => {
                        // Most attempts end in milliseconds (refused, answered): let this one end
                        // so its outcome is known, but do not hold shutdown up for a hung one.
                        let grace = SHUTDOWN_GRACE.min(self.settings.request_timeout);
                        match tokio::time::timeout(grace, &mut send).await {
                            Ok(o) => o,
                            Err(_) => anyhow::bail!("shutting down during a send of {id}; its SENDING row is settled on restart"),
                        }
                    }
                }
            }
        };
        match &outcome {
            Outcome::NotSent { failure, .. } => {
                tracing::warn!(request = %id, attempt, error = %failure.reason, "Cloud API unavailable; nothing was sent, retrying after a backoff")
            }
            Outcome::Unknown(failure) => {
                tracing::warn!(request = %id, attempt, error = %failure.reason, settle_wait = ?self.settings.settle_wait, "the answer was lost after the request was sent; waiting for its status webhook before any resend")
            }
            _ => {}
        }
        let progress = plan::after(outcome, attempt, unconfirmed, now_ms(), deadline, &self.settings);
        ledger::record(&self.pool, req, &progress).await?;
        Ok(match progress.state {
            State::Done(d) => Some(d),
            _ => None,
        })
    }

    /// Status (+ escalation, and a dead letter unless it may have been delivered, on failure)
    /// records for `req`'s outcome.
    async fn outputs(&self, record: &SinkRecord<DispatcherInput>, req: &OutboundMessageRequested, delivery: &Delivery) -> anyhow::Result<Vec<OutRecord>> {
        let key = souk_schemas::key::CustomerKey::of(&req.envelope.tenant_id, &req.to);
        let scope = format!("{}/{key}", self.topics.sink);
        let derive = |i| req.envelope.derive(&scope, i, req.envelope.occurred_at);
        let request_event_id = req.envelope.event_id.clone();
        let mut out = Vec::new();
        match delivery {
            Delivery::Sent { wamid, attempts } => {
                let e = OutboundDispatched { envelope: derive(0), request_event_id, to: req.to.clone(), wamid: wamid.clone(), attempts: *attempts };
                let bytes = self.codec.encode(&self.topics.status, &StatusEvent::OutboundDispatched(e.clone())).await?;
                out.push(self.record(&self.topics.status, &key, &e.envelope, bytes));
            }
            Delivery::Failed { http_status, error_code, reason, attempts, unconfirmed } => {
                let e = OutboundFailed {
                    envelope: derive(0),
                    request_event_id: request_event_id.clone(),
                    to: req.to.clone(),
                    http_status: *http_status,
                    error_code: *error_code,
                    reason: reason.clone(),
                    attempts: *attempts,
                };
                let bytes = self.codec.encode(&self.topics.status, &StatusEvent::OutboundFailed(e.clone())).await?;
                out.push(self.record(&self.topics.status, &key, &e.envelope, bytes));
                let kind = if *unconfirmed {
                    DELIVERY_UNCONFIRMED
                } else if reason.starts_with(NO_OPT_IN) {
                    NO_OPT_IN
                } else if delivery.outside_window() {
                    OUTSIDE_WINDOW
                } else {
                    DELIVERY_FAILED
                };
                let verb = if *unconfirmed { "maybe not sent" } else { "not sent" };
                let esc = EscalationRaised {
                    envelope: derive(1),
                    escalation_id: format!("outbound:{request_event_id}"),
                    customer: Some(req.to.clone()),
                    order_id: req.order_id.clone(),
                    kind: kind.into(),
                    priority: "medium".into(),
                    detail: format!("WhatsApp message ({}) to {} {verb}: {reason}", req.purpose, req.to),
                };
                let bytes = self.codec.encode(&self.topics.escalations, &EscalationEvent::EscalationRaised(esc.clone())).await?;
                out.push(self.record(&self.topics.escalations, &key, &esc.envelope, bytes));
                if !*unconfirmed {
                    // The request itself, re-encoded with the topic's schema (deterministic Avro).
                    let original = self.codec.encode(&record.topic, &OutboundEvent::OutboundMessageRequested(req.clone())).await?;
                    let p = Provenance { topic: &record.topic, partition: record.partition, offset: record.offset, error: reason, component: &self.topics.sink };
                    out.push(dead_letter(&self.topics.dlq, &p, record.key.as_deref().map(str::as_bytes), Some(&original)));
                }
            }
        }
        Ok(out)
    }

    fn record(&self, topic: &str, key: &str, env: &Envelope, payload: Vec<u8>) -> OutRecord {
        OutRecord::event(topic, key, payload, env)
    }
}

impl Projection for WhatsAppDispatcher {
    type Event = DispatcherInput;

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<Self::Event>) -> anyhow::Result<()> {
        match &record.event {
            DispatcherInput::Request(r) => {
                let OutboundEvent::OutboundMessageRequested(req) = r.clone();
                let delivery = self.deliver(&req).await?;
                let outputs = self.outputs(record, &req, &delivery).await?;
                send_all(&self.producer, outputs).await.context("producing the dispatch result")?;
            }
            DispatcherInput::Status(StatusEvent::DeliveryStatus(s)) => {
                if let Some(request_event_id) = s.callback_data.as_deref().filter(|c| !c.is_empty()) {
                    ledger::record_callback(tx, s, request_event_id).await?;
                }
            }
            // The dispatcher's own results.
            DispatcherInput::Status(_) => {}
        }
        Ok(())
    }
}
