//! The dispatcher as a [`Projection`] of the Postgres sink runner (offsets, fencing, deferral,
//! DLQ and liveness come from there). Per `SocialSendRequested`, decided from its
//! `social_dispatch` row:
//! 1. SENT / FAILED ⇒ no call; the result is reported again (same event id: the conversation
//!    takes it once);
//! 2. RETRYING / THROTTLED and not due ⇒ [`Deferred`] until due (later replies of the
//!    conversation wait behind it);
//! 3. otherwise take a call of the connection's budget (`ledger::reserve_call`); none left ⇒
//!    THROTTLED, reported `throttled` once with when it will go, deferred until then;
//! 4. one HTTP call: accepted ⇒ SENT; refused for good ⇒ FAILED; an outage or the channel's own
//!    rate limit ⇒ RETRYING after a backoff (2^n, up to `max_retries` for outages; the channel's
//!    `Retry-After` for its rate limit, without giving up); sent but no answer ⇒ FAILED
//!    "unconfirmed" (Instagram has no idempotency key: sending again could duplicate it).
//!
//! A crash after an attempt started leaves a SENDING row: the reply is sent again (the one
//! at-least-once hole, as for any channel without an idempotency key).

use super::ledger::{self, DispatchRow, Target};
use crate::postgres::{Deferred, Projection, SinkRecord};
use crate::whatsapp::cloud_api::{post_message, Outcome};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rdkafka::producer::FutureProducer;
use serde_json::json;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{send_all, OutRecord};
use souk_runtime::privacy::{KeyRing, PrivacyError};
use souk_runtime::tenants::Tenants;
use souk_schemas::social::{SocialInput, SocialOutbound, SocialSendRequested, SocialSendResult};
use sqlx::{PgConnection, PgPool};
use std::sync::Arc;
use std::time::Duration;

/// Where and how the dispatcher calls the channels.
#[derive(Debug, Clone)]
pub struct SocialDispatcherSettings {
    /// Instagram Graph API base URL (`https://graph.instagram.com`).
    pub instagram_base_url: String,
    /// Its version segment (source 002: v17.0).
    pub instagram_api_version: String,
    /// WhatsApp Cloud API base URL.
    pub whatsapp_base_url: String,
    /// Its version segment.
    pub whatsapp_api_version: String,
    /// First retry delay after an outage; doubles per retry.
    pub backoff: Duration,
    /// Retries of an outage before the reply fails (F.2.10: 3).
    pub max_retries: i32,
    /// Timeout of one HTTP call.
    pub request_timeout: Duration,
}

/// `[sinks.<name>]` options of kind `social-dispatcher` (milliseconds); the URLs are the
/// deployment's.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocialDispatcherOptions {
    /// [`SocialDispatcherSettings::backoff`] (default 1000).
    pub backoff_ms: Option<u64>,
    /// [`SocialDispatcherSettings::max_retries`] (default 3).
    pub max_retries: Option<i32>,
    /// [`SocialDispatcherSettings::request_timeout`] (default 15000).
    pub request_timeout_ms: Option<u64>,
}

impl SocialDispatcherOptions {
    /// The settings with these options and the deployment's channel URLs.
    pub fn settings(&self, instagram_base_url: &str, whatsapp_base_url: &str, whatsapp_api_version: &str) -> SocialDispatcherSettings {
        SocialDispatcherSettings {
            instagram_base_url: instagram_base_url.to_string(),
            instagram_api_version: "v17.0".into(),
            whatsapp_base_url: whatsapp_base_url.to_string(),
            whatsapp_api_version: whatsapp_api_version.to_string(),
            backoff: Duration::from_millis(self.backoff_ms.unwrap_or(1000)),
            max_retries: self.max_retries.unwrap_or(3),
            request_timeout: Duration::from_millis(self.request_timeout_ms.unwrap_or(15_000)),
        }
    }
}

/// Instagram / Meta codes of "too many calls" (4 app limit, 32 page limit, 613 calls per period).
const RATE_LIMIT_CODES: [i32; 3] = [4, 32, 613];
/// How often a throttled reply looks at its connection's budget again: the budget is shared by
/// every instance and every conversation of the connection, so it is re-read rather than trusted.
const BUDGET_RECHECK: Duration = Duration::from_secs(5);
/// How long to wait on the channel's rate limit when it does not say.
const RATE_LIMIT_WAIT: Duration = Duration::from_secs(60);

/// Sends each reply once and reports the result.
pub struct SocialDispatcher {
    name: String,
    results: String,
    codec: Arc<Codec>,
    pool: PgPool,
    tenants: Arc<Tenants>,
    ring: Arc<KeyRing>,
    settings: SocialDispatcherSettings,
    client: reqwest::Client,
    producer: FutureProducer,
}

/// What to report for a reply.
enum Report {
    Sent(String),
    Failed(String),
    Throttled(DateTime<Utc>, i32),
}

impl SocialDispatcher {
    /// A dispatcher named `name` reporting to topic `results`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        name: &str,
        results: String,
        codec: Arc<Codec>,
        pool: PgPool,
        tenants: Arc<Tenants>,
        ring: Arc<KeyRing>,
        settings: SocialDispatcherSettings,
        producer: FutureProducer,
    ) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder().connect_timeout(Duration::from_secs(5)).build().context("HTTP client")?;
        Ok(SocialDispatcher { name: name.to_string(), results, codec, pool, tenants, ring, settings, client, producer })
    }

    async fn report(&self, key: &str, req: &SocialSendRequested, report: Report) -> anyhow::Result<()> {
        let now = Utc::now().timestamp_millis();
        let (outcome, index, platform_message_id, detail, retry_at) = match report {
            Report::Sent(id) => ("sent", 0, Some(id), "sent".to_string(), None),
            Report::Failed(why) => ("failed", 1, None, why, None),
            Report::Throttled(at, attempt) => ("throttled", 2 + attempt as u32, None, format!("the connection's hourly budget is used up: sends at {}", at.to_rfc3339()), Some(at.timestamp_millis())),
        };
        let result = SocialSendResult { envelope: req.envelope.derive(&self.name, index, now), reply_id: req.reply_id.clone(), outcome: outcome.into(), platform_message_id, detail, retry_at };
        let bytes = self.codec.encode(&self.results, &SocialInput::SocialSendResult(result.clone())).await?;
        send_all(&self.producer, vec![OutRecord::event(&self.results, key, bytes, &result.envelope)]).await.context("producing the send result")?;
        Ok(())
    }

    /// Opens one sealed field, catching the ring up once if its key is not known yet.
    async fn open(&self, tenant: &str, sealed: &str) -> anyhow::Result<Result<String, PrivacyError>> {
        match self.ring.open(tenant, sealed) {
            Err(PrivacyError::Shredded(_)) => {
                self.ring.catch_up(Duration::from_secs(10)).await?;
                Ok(self.ring.open(tenant, sealed))
            }
            other => Ok(other),
        }
    }

    async fn dispatch(&self, key: &str, req: &SocialSendRequested) -> anyhow::Result<()> {
        let tenant_id = req.envelope.tenant_id.as_str();
        let target = Target { tenant: tenant_id, reply_id: &req.reply_id, platform: &req.platform, connection_id: &req.connection_id };
        let row = ledger::get(&self.pool, target).await?;
        let now = Utc::now();
        if let Some(r) = &row {
            match r.status.as_str() {
                "SENT" => return self.report(key, req, Report::Sent(r.platform_message_id.clone().unwrap_or_default())).await,
                "FAILED" => return self.report(key, req, Report::Failed(r.reason.clone().unwrap_or_default())).await,
                "RETRYING" => {
                    if let Some(due) = r.next_attempt_at.filter(|due| *due > now) {
                        let wait = (due - now).to_std().unwrap_or_default();
                        return Err(Deferred::new(wait, format!("reply {}: {}", req.reply_id, r.reason.clone().unwrap_or_default())).into());
                    }
                }
                _ => {}
            }
        }
        let attempts = row.as_ref().map_or(0, |r| r.attempts);
        let fail = |why: String, http_status: Option<i32>| DispatchRow { status: "FAILED".into(), attempts, platform_message_id: None, http_status, reason: Some(why), next_attempt_at: None };
        let Some(tenant) = self.tenants.get(tenant_id) else {
            let row = fail(format!("tenant {tenant_id} is not configured"), None);
            ledger::put(&self.pool, target, &row).await?;
            return self.report(key, req, Report::Failed(row.reason.unwrap_or_default())).await;
        };
        let (url, token, limit) = match req.platform.as_str() {
            "instagram" => match &tenant.instagram {
                Some(ig) if ig.page_id == req.connection_id => (
                    format!("{}/{}/me/messages", self.settings.instagram_base_url.trim_end_matches('/'), self.settings.instagram_api_version),
                    ig.access_token.expose().to_string(),
                    Some(ig.calls_per_hour),
                ),
                _ => {
                    let row = fail(format!("tenant {tenant_id} has no Instagram connection for page {}", req.connection_id), None);
                    ledger::put(&self.pool, target, &row).await?;
                    return self.report(key, req, Report::Failed(row.reason.unwrap_or_default())).await;
                }
            },
            _ => (
                format!("{}/{}/{}/messages", self.settings.whatsapp_base_url.trim_end_matches('/'), self.settings.whatsapp_api_version, req.connection_id),
                tenant.access_token.expose().to_string(),
                None,
            ),
        };
        let (sender, text) = match (self.open(tenant_id, &req.recipient).await?, self.open(tenant_id, &req.text).await?) {
            (Ok(s), Ok(t)) => (s, t),
            (Err(e), _) | (_, Err(e)) => {
                let row = fail(format!("the reply cannot be opened ({e}): the customer was erased"), None);
                ledger::put(&self.pool, target, &row).await?;
                return self.report(key, req, Report::Failed(row.reason.unwrap_or_default())).await;
            }
        };
        let recipient = serde_json::from_str::<serde_json::Value>(&sender).ok().and_then(|v| v.get("id").and_then(|i| i.as_str()).map(str::to_string)).unwrap_or(sender);
        let body = match req.platform.as_str() {
            "instagram" => json!({ "recipient": { "id": recipient }, "message": { "text": text } }),
            _ => json!({ "messaging_product": "whatsapp", "to": recipient, "type": "text", "text": { "body": text } }),
        };
        let attempt = attempts + 1;
        if let Err(room_at) = ledger::reserve_call(&self.pool, target, attempt, limit, now).await? {
            let reason = format!("over the connection's {} calls per hour until {}", limit.unwrap_or_default(), room_at.to_rfc3339());
            let first_time = row.as_ref().is_none_or(|r| r.status != "THROTTLED");
            ledger::put(
                &self.pool,
                target,
                &DispatchRow { status: "THROTTLED".into(), attempts, platform_message_id: None, http_status: None, reason: Some(reason.clone()), next_attempt_at: Some(room_at) },
            )
            .await?;
            if first_time {
                self.report(key, req, Report::Throttled(room_at, attempts)).await?;
            }
            tracing::info!(reply_id = %req.reply_id, platform = %req.platform, until = %room_at, "reply throttled by the connection's budget");
            return Err(Deferred::new((room_at - now).to_std().unwrap_or_default().min(BUDGET_RECHECK), reason).into());
        }
        match post_message(&self.client, &url, &token, &req.reply_id, self.settings.request_timeout, &body).await {
            Outcome::Accepted { wamid } => {
                ledger::put(
                    &self.pool,
                    target,
                    &DispatchRow { status: "SENT".into(), attempts: attempt, platform_message_id: Some(wamid.clone()), http_status: Some(200), reason: None, next_attempt_at: None },
                )
                .await?;
                self.report(key, req, Report::Sent(wamid)).await
            }
            Outcome::Permanent(f) => {
                let row = DispatchRow { attempts: attempt, ..fail(f.reason.clone(), f.http_status) };
                ledger::put(&self.pool, target, &row).await?;
                self.report(key, req, Report::Failed(f.reason)).await
            }
            Outcome::Unknown(f) => {
                let why = format!("delivery unconfirmed (the channel may have it, so it is not sent again): {}", f.reason);
                let row = DispatchRow { attempts: attempt, ..fail(why.clone(), f.http_status) };
                ledger::put(&self.pool, target, &row).await?;
                self.report(key, req, Report::Failed(why)).await
            }
            Outcome::NotSent { failure, retry_after } => {
                let rate_limited = failure.http_status == Some(429) || failure.error_code.is_some_and(|c| RATE_LIMIT_CODES.contains(&c));
                if !rate_limited && attempt > self.settings.max_retries {
                    let why = format!("gave up after {attempt} attempts: {}", failure.reason);
                    ledger::put(&self.pool, target, &DispatchRow { attempts: attempt, ..fail(why.clone(), failure.http_status) }).await?;
                    return self.report(key, req, Report::Failed(why)).await;
                }
                let wait = if rate_limited { retry_after.unwrap_or(RATE_LIMIT_WAIT) } else { self.settings.backoff * 2u32.saturating_pow((attempt - 1) as u32) };
                let due = now + chrono::Duration::from_std(wait).unwrap_or_default();
                ledger::put(
                    &self.pool,
                    target,
                    &DispatchRow {
                        status: "RETRYING".into(),
                        attempts: attempt,
                        platform_message_id: None,
                        http_status: failure.http_status,
                        reason: Some(failure.reason.clone()),
                        next_attempt_at: Some(due),
                    },
                )
                .await?;
                tracing::warn!(reply_id = %req.reply_id, platform = %req.platform, attempt, reason = %failure.reason, "send failed; retrying");
                Err(Deferred::new(wait, failure.reason).into())
            }
        }
    }
}

impl Projection for SocialDispatcher {
    type Event = SocialOutbound;

    async fn apply(&self, _tx: &mut PgConnection, record: &SinkRecord<SocialOutbound>) -> anyhow::Result<()> {
        let SocialOutbound::SocialSendRequested(req) = &record.event;
        self.dispatch(record.key.as_deref().unwrap_or_default(), req).await
    }
}
