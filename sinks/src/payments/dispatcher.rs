//! The payments dispatcher as a [`Projection`] of the Postgres sink runner, which brings the
//! consumer loop, `sink_offsets` positioning and row-lock fencing, decode/DLQ of poison, deferral
//! and the liveness probe. Per `PaymentCommand` of `payments.commands`, in order per partition:
//! 1. refuse it without a call when it cannot be made — the tenant has no payments secret key
//!    (`not_configured`), the amount is not one the currency can express (`invalid_amount`), a
//!    field the action needs is missing (`invalid_command`);
//! 2. else make **one** HTTP attempt with the tenant's secret key and `Idempotency-Key: <command
//!    id>`; a transient failure (5xx, 429, a key still in use, transport) answers [`Deferred`]:
//!    the runner holds the partition at the command and tries it again after a backoff (1 s
//!    doubling to 30 s by default), logging a warning each time, for as long as it takes —
//!    compensations (void, refund) must eventually happen;
//! 3. produce the `PaymentResult` (keyed like the command) to `results` and wait for the ack, so
//!    the runner stores offset+1 only once the answer is durable.
//!
//! A crash anywhere re-delivers the command; its attempt carries the same key, so the provider
//! replays its first answer instead of executing it again (nothing is charged twice), and the
//! result is re-produced byte-identical (its envelope derives from the command's). Results are
//! therefore at-least-once with stable event ids; the saga applies an answer once, by command id.
//! The dispatcher keeps nothing in Postgres beyond the runner's offsets: the provider's
//! idempotency is the ledger.

use super::stripe::{self, Answer, PaymentsSettings, Verdict};
use crate::postgres::{Deferred, Projection, SinkRecord};
use anyhow::Context;
use rdkafka::producer::FutureProducer;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{send_all, OutRecord};
use souk_runtime::tenants::Tenants;
use souk_schemas::key::BundleKey;
use souk_schemas::orchestration::NegotiationInput;
use souk_schemas::payments::{PaymentCommand, PaymentCommandEvent, PaymentResult};
use sqlx::PgConnection;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// How long shutdown lets an HTTP attempt in flight finish before abandoning it (an abandoned
/// attempt is made again on restart with the same key: the provider replays it if it ran).
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Topics the dispatcher writes, resolved from its `outputs` in topology.toml.
#[derive(Debug, Clone)]
pub struct PaymentsTopics {
    /// Sink name (scope of the results' derived ids).
    pub sink: String,
    /// `results` (`negotiation.inputs`).
    pub results: String,
}

/// Makes each `PaymentCommand`'s provider call once and reports the `PaymentResult`.
pub struct PaymentsDispatcher {
    topics: PaymentsTopics,
    codec: Arc<Codec>,
    tenants: Arc<Tenants>,
    settings: PaymentsSettings,
    client: reqwest::Client,
    producer: FutureProducer,
    shutdown: watch::Receiver<bool>,
    /// Transient failures in a row per command (`<tenant>/<command id>`), for the backoff; a
    /// restart starts the backoff over (the calls themselves stay idempotent).
    failures: Mutex<HashMap<String, u32>>,
}

/// The `PaymentResult` of `cmd` with `answer`; its envelope derives from the command's (scope
/// `<sink>/<command id>`), so a re-run produces it byte-identical.
pub fn result_of(sink: &str, cmd: &PaymentCommand, answer: &Answer) -> PaymentResult {
    let scope = format!("{sink}/{}", cmd.command_id);
    PaymentResult {
        envelope: cmd.envelope.derive(&scope, 0, cmd.envelope.occurred_at),
        command_id: cmd.command_id.clone(),
        checkout_id: cmd.checkout_id.clone(),
        bundle_id: cmd.bundle_id.clone(),
        action: cmd.action.clone(),
        leg_id: cmd.leg_id.clone(),
        succeeded: answer.succeeded,
        provider_id: answer.provider_id.clone(),
        provider_status: answer.provider_status.clone(),
        failure_code: answer.failure_code.clone(),
        failure_reason: answer.failure_reason.clone(),
        amount: cmd.amount,
    }
}

impl PaymentsDispatcher {
    /// A dispatcher calling the provider of `settings` with each tenant's secret key from
    /// `tenants`, answering on `topics.results`; an HTTP attempt in flight is abandoned
    /// [`SHUTDOWN_GRACE`] after `shutdown` turns true, and no new one starts.
    pub fn new(topics: PaymentsTopics, codec: Arc<Codec>, tenants: Arc<Tenants>, settings: PaymentsSettings, producer: FutureProducer, shutdown: watch::Receiver<bool>) -> anyhow::Result<Self> {
        let client = stripe::client(&settings).context("HTTP client")?;
        Ok(PaymentsDispatcher { topics, codec, tenants, settings, client, producer, shutdown, failures: Mutex::new(HashMap::new()) })
    }

    fn failure_key(cmd: &PaymentCommand) -> String {
        format!("{}/{}", cmd.envelope.tenant_id, cmd.command_id)
    }

    /// The final answer to `cmd`; `Err(Deferred)` after a transient failure.
    async fn answer(&self, cmd: &PaymentCommand) -> anyhow::Result<Answer> {
        let tenant_id = &cmd.envelope.tenant_id;
        let secret = self.tenants.get(tenant_id).and_then(|t| t.payments_secret_key.as_ref());
        let Some(secret) = secret.filter(|s| !s.expose().trim().is_empty()) else {
            let reason = match self.tenants.get(tenant_id) {
                None => format!("tenant {tenant_id} is not configured"),
                Some(_) => format!("tenant {tenant_id} has no payments_secret_key"),
            };
            return Ok(Answer::refused(stripe::Refusal { code: stripe::failure::NOT_CONFIGURED, reason }));
        };
        let call = match stripe::call_for(cmd) {
            Ok(call) => call,
            Err(refusal) => return Ok(Answer::refused(refusal)),
        };
        if *self.shutdown.borrow() {
            anyhow::bail!("shutting down; command {} is not sent now (made on restart)", cmd.command_id);
        }
        let mut shutdown = self.shutdown.clone();
        let send = stripe::attempt(&self.client, &self.settings, secret.expose(), &cmd.command_id, &cmd.action, &call);
        tokio::pin!(send);
        let verdict = tokio::select! {
            v = &mut send => v,
            // (the guard `wait_for` returns is not `Send`: drop it before awaiting more)
            _ = async { shutdown.wait_for(|s| *s).await.is_ok() } => {
                match tokio::time::timeout(SHUTDOWN_GRACE.min(self.settings.request_timeout), &mut send).await {
                    Ok(v) => v,
                    Err(_) => anyhow::bail!("shutting down during the {} call of command {}; it is made again on restart with the same Idempotency-Key", cmd.action, cmd.command_id),
                }
            }
        };
        match verdict {
            Verdict::Final(answer) => Ok(answer),
            Verdict::Retry { reason, retry_after } => {
                let failures = {
                    let mut map = self.failures.lock().map_err(|_| anyhow::anyhow!("failure counts poisoned"))?;
                    let n = map.entry(Self::failure_key(cmd)).or_insert(0);
                    *n += 1;
                    *n
                };
                let retry_in = self.settings.retry_in(failures, retry_after);
                tracing::warn!(command = %cmd.command_id, action = %cmd.action, checkout = %cmd.checkout_id, failures, ?retry_in, error = %reason, "payment provider unavailable; the same call (same Idempotency-Key) is retried after a backoff");
                Err(Deferred::new(retry_in, format!("{} command {}: {reason}", cmd.action, cmd.command_id)).into())
            }
        }
    }
}

impl Projection for PaymentsDispatcher {
    type Event = PaymentCommandEvent;

    async fn apply(&self, _tx: &mut PgConnection, record: &SinkRecord<Self::Event>) -> anyhow::Result<()> {
        let PaymentCommandEvent::PaymentCommand(cmd) = &record.event;
        let answer = self.answer(cmd).await?;
        let result = result_of(&self.topics.sink, cmd, &answer);
        let key = record.key.clone().unwrap_or_else(|| BundleKey::of(&cmd.envelope.tenant_id, &cmd.bundle_id));
        let payload = self.codec.encode(&self.topics.results, &NegotiationInput::PaymentResult(result.clone())).await?;
        send_all(&self.producer, vec![OutRecord::event(&self.topics.results, &key, payload, &result.envelope)]).await.context("producing the payment result")?;
        if let Ok(mut map) = self.failures.lock() {
            map.remove(&Self::failure_key(cmd));
        }
        if answer.succeeded {
            tracing::info!(command = %cmd.command_id, action = %cmd.action, checkout = %cmd.checkout_id, provider_id = ?answer.provider_id, status = %answer.provider_status, "payment call done");
        } else {
            tracing::warn!(command = %cmd.command_id, action = %cmd.action, checkout = %cmd.checkout_id, code = ?answer.failure_code, reason = ?answer.failure_reason, "payment call failed for good");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_schemas::payments::action;
    use souk_schemas::Envelope;

    #[test]
    fn results_derive_their_envelope_from_the_command_and_carry_its_amount() {
        let cmd = PaymentCommand {
            envelope: Envelope::external("acme", "c1", 5),
            command_id: "cmd-1".into(),
            checkout_id: "co-1".into(),
            bundle_id: "b1".into(),
            action: action::CAPTURE.into(),
            amount: "55.00".parse().unwrap(),
            currency: "EUR".into(),
            payment_method: None,
            payment_intent_id: Some("pi_1".into()),
            destination: None,
            recipient_kind: None,
            leg_id: Some("leg-1".into()),
        };
        let answer = Answer { succeeded: true, provider_id: Some("pi_1".into()), provider_status: "succeeded".into(), failure_code: None, failure_reason: None };
        let r = result_of("payments-dispatcher", &cmd, &answer);
        assert_eq!(r, result_of("payments-dispatcher", &cmd, &answer), "deterministic");
        assert_eq!(r.envelope, cmd.envelope.derive("payments-dispatcher/cmd-1", 0, 5));
        assert_eq!(r.envelope.causation_id.as_deref(), Some(cmd.envelope.event_id.as_str()));
        assert_eq!((r.command_id.as_str(), r.action.as_str(), r.leg_id.as_deref(), r.amount), ("cmd-1", "capture", Some("leg-1"), cmd.amount));
        assert_eq!((r.succeeded, r.provider_id.as_deref(), r.provider_status.as_str()), (true, Some("pi_1"), "succeeded"));
    }
}
