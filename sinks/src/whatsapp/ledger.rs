//! The dispatcher's ledger: `outbound_dispatch`, one row per request event id, each write
//! committed on its own (not in the sink's batch transaction) so Meta's answer — or the fact that
//! an attempt started — is durable as soon as it is known; and `outbound_callbacks`, what Meta's
//! status webhooks reported for each request's `biz_opaque_callback_data`, written in the batch
//! transaction from `whatsapp.status`. See `dispatcher.rs` for the protocol, `plan.rs` for the rules.

use super::cloud_api::{Delivery, Failure};
use super::plan::{Progress, State};
use anyhow::Context;
use chrono::{DateTime, Utc};
use souk_projections::outbound::OutboundDispatchRow;
use souk_schemas::whatsapp::{DeliveryStatus, OutboundMessageRequested};
use sqlx::{PgConnection, PgPool};

/// The row of request `request_event_id`, if any.
pub async fn get(pool: &PgPool, tenant: &str, request_event_id: &str) -> anyhow::Result<Option<OutboundDispatchRow>> {
    sqlx::query_as::<_, OutboundDispatchRow>(
        "SELECT tenant_id, request_event_id, recipient, status, wamid, attempts, http_status, error_code, reason, next_attempt_at, unconfirmed, updated_at \
         FROM outbound_dispatch WHERE tenant_id = $1 AND request_event_id = $2",
    )
    .bind(tenant)
    .bind(request_event_id)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("reading outbound_dispatch {tenant}/{request_event_id}"))
}

/// The row as the planner sees it.
pub fn progress(row: &OutboundDispatchRow) -> Progress {
    let last = Failure { http_status: row.http_status, error_code: row.error_code, reason: row.reason.clone().unwrap_or_default() };
    let state = match row.status.as_str() {
        "SENT" => State::Done(Delivery::Sent { wamid: row.wamid.clone().unwrap_or_default(), attempts: row.attempts }),
        "FAILED" => State::Done(Delivery::Failed { http_status: row.http_status, error_code: row.error_code, reason: last.reason.clone(), attempts: row.attempts, unconfirmed: row.unconfirmed }),
        "UNKNOWN" => State::Unknown,
        "RETRYING" => State::Retrying,
        _ => State::Sending,
    };
    Progress { state, attempts: row.attempts, not_before: row.next_attempt_at.map(|t| t.timestamp_millis()), updated_at: row.updated_at.timestamp_millis(), unconfirmed: row.unconfirmed, last }
}

/// The wamid of the first status webhook that carried request `request_event_id`'s callback data.
pub async fn settled_by(pool: &PgPool, tenant: &str, request_event_id: &str) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT wamid FROM outbound_callbacks WHERE tenant_id = $1 AND request_event_id = $2")
        .bind(tenant)
        .bind(request_event_id)
        .fetch_optional(pool)
        .await
        .with_context(|| format!("reading outbound_callbacks {tenant}/{request_event_id}"))?;
    Ok(row.map(|(w,)| w))
}

/// In the batch transaction: remembers that Meta reported `status` for the request named by its
/// callback data. The first report per request wins (later ones name the same wamid).
pub async fn record_callback(tx: &mut PgConnection, status: &DeliveryStatus, request_event_id: &str) -> anyhow::Result<()> {
    let at = DateTime::<Utc>::from_timestamp_millis(status.status_at).with_context(|| format!("status_at {} is not a time", status.status_at))?;
    sqlx::query(
        "INSERT INTO outbound_callbacks (tenant_id, request_event_id, wamid, status, status_at, event_id) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (tenant_id, request_event_id) DO NOTHING",
    )
    .bind(&status.envelope.tenant_id)
    .bind(request_event_id)
    .bind(&status.wamid)
    .bind(&status.status)
    .bind(at)
    .bind(&status.envelope.event_id)
    .execute(tx)
    .await
    .with_context(|| format!("recording status {} of {} for request {request_event_id}", status.status, status.wamid))?;
    Ok(())
}

/// Records that attempt number `attempt` of `req` starts (`unconfirmed` carried over).
pub async fn mark_sending(pool: &PgPool, req: &OutboundMessageRequested, attempt: i32, unconfirmed: bool) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO outbound_dispatch (tenant_id, request_event_id, recipient, status, attempts, unconfirmed, updated_at) VALUES ($1, $2, $3, 'SENDING', $4, $5, now()) \
         ON CONFLICT (tenant_id, request_event_id) DO UPDATE SET status = 'SENDING', attempts = EXCLUDED.attempts, unconfirmed = EXCLUDED.unconfirmed, \
         next_attempt_at = NULL, updated_at = now()",
    )
    .bind(&req.envelope.tenant_id)
    .bind(&req.envelope.event_id)
    .bind(&req.to)
    .bind(attempt)
    .bind(unconfirmed)
    .execute(pool)
    .await
    .with_context(|| format!("marking {} as sending", req.envelope.event_id))?;
    Ok(())
}

/// Records where `req` stands now (after an attempt, or settled/expired without one).
pub async fn record(pool: &PgPool, req: &OutboundMessageRequested, p: &Progress) -> anyhow::Result<()> {
    let (status, wamid, failure, unconfirmed) = match &p.state {
        State::Done(Delivery::Sent { wamid, .. }) => ("SENT", Some(wamid.as_str()), None, p.unconfirmed),
        State::Done(Delivery::Failed { http_status, error_code, reason, unconfirmed, .. }) => {
            ("FAILED", None, Some(Failure { http_status: *http_status, error_code: *error_code, reason: reason.clone() }), *unconfirmed)
        }
        State::Unknown => ("UNKNOWN", None, Some(p.last.clone()), p.unconfirmed),
        State::Retrying => ("RETRYING", None, Some(p.last.clone()), p.unconfirmed),
        State::Sending => ("SENDING", None, None, p.unconfirmed),
    };
    let failure = failure.unwrap_or_default();
    let not_before = p.not_before.and_then(DateTime::<Utc>::from_timestamp_millis);
    sqlx::query(
        "INSERT INTO outbound_dispatch (tenant_id, request_event_id, recipient, status, wamid, attempts, http_status, error_code, reason, next_attempt_at, unconfirmed, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, now()) \
         ON CONFLICT (tenant_id, request_event_id) DO UPDATE SET status = EXCLUDED.status, wamid = EXCLUDED.wamid, attempts = EXCLUDED.attempts, \
         http_status = EXCLUDED.http_status, error_code = EXCLUDED.error_code, reason = EXCLUDED.reason, next_attempt_at = EXCLUDED.next_attempt_at, \
         unconfirmed = EXCLUDED.unconfirmed, updated_at = now()",
    )
    .bind(&req.envelope.tenant_id)
    .bind(&req.envelope.event_id)
    .bind(&req.to)
    .bind(status)
    .bind(wamid)
    .bind(p.attempts)
    .bind(failure.http_status)
    .bind(failure.error_code)
    .bind((!failure.reason.is_empty()).then_some(failure.reason.as_str()))
    .bind(not_before)
    .bind(unconfirmed)
    .execute(pool)
    .await
    .with_context(|| format!("recording the outcome of {}", req.envelope.event_id))?;
    Ok(())
}
