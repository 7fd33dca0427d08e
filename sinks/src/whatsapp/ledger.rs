//! The dispatcher's idempotency ledger (`outbound_dispatch`): one row per request event id, each
//! write committed on its own (not in the sink's batch transaction) so Meta's answer is durable as
//! soon as it arrives. See `dispatcher.rs` for the protocol.

use super::cloud_api::Delivery;
use anyhow::Context;
use souk_projections::outbound::OutboundDispatchRow;
use souk_schemas::whatsapp::OutboundMessageRequested;
use sqlx::PgPool;

/// The row of request `request_event_id`, if any.
pub async fn get(pool: &PgPool, tenant: &str, request_event_id: &str) -> anyhow::Result<Option<OutboundDispatchRow>> {
    sqlx::query_as::<_, OutboundDispatchRow>(
        "SELECT tenant_id, request_event_id, recipient, status, wamid, attempts, http_status, error_code, reason, updated_at \
         FROM outbound_dispatch WHERE tenant_id = $1 AND request_event_id = $2",
    )
    .bind(tenant)
    .bind(request_event_id)
    .fetch_optional(pool)
    .await
    .with_context(|| format!("reading outbound_dispatch {tenant}/{request_event_id}"))
}

/// The final outcome a row records (SENT or FAILED); `None` while SENDING.
pub fn finished(row: &OutboundDispatchRow) -> Option<Delivery> {
    match row.status.as_str() {
        "SENT" => Some(Delivery::Sent { wamid: row.wamid.clone().unwrap_or_default(), attempts: row.attempts }),
        "FAILED" => Some(Delivery::Failed { http_status: row.http_status, error_code: row.error_code, reason: row.reason.clone().unwrap_or_default(), attempts: row.attempts }),
        _ => None,
    }
}

/// Records that sending `req` starts (after `attempts` earlier attempts).
pub async fn mark_sending(pool: &PgPool, req: &OutboundMessageRequested, attempts: i32) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO outbound_dispatch (tenant_id, request_event_id, recipient, status, attempts, updated_at) VALUES ($1, $2, $3, 'SENDING', $4, now()) \
         ON CONFLICT (tenant_id, request_event_id) DO UPDATE SET status = 'SENDING', attempts = EXCLUDED.attempts, updated_at = now()",
    )
    .bind(&req.envelope.tenant_id)
    .bind(&req.envelope.event_id)
    .bind(&req.to)
    .bind(attempts)
    .execute(pool)
    .await
    .with_context(|| format!("marking {} as sending", req.envelope.event_id))?;
    Ok(())
}

/// Records the final outcome of `req`.
pub async fn record(pool: &PgPool, req: &OutboundMessageRequested, delivery: &Delivery) -> anyhow::Result<()> {
    let (status, wamid, attempts, http_status, error_code, reason) = match delivery {
        Delivery::Sent { wamid, attempts } => ("SENT", Some(wamid.as_str()), *attempts, None, None, None),
        Delivery::Failed { http_status, error_code, reason, attempts } => ("FAILED", None, *attempts, *http_status, *error_code, Some(reason.as_str())),
    };
    sqlx::query(
        "INSERT INTO outbound_dispatch (tenant_id, request_event_id, recipient, status, wamid, attempts, http_status, error_code, reason, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now()) \
         ON CONFLICT (tenant_id, request_event_id) DO UPDATE SET status = EXCLUDED.status, wamid = EXCLUDED.wamid, attempts = EXCLUDED.attempts, \
         http_status = EXCLUDED.http_status, error_code = EXCLUDED.error_code, reason = EXCLUDED.reason, updated_at = now()",
    )
    .bind(&req.envelope.tenant_id)
    .bind(&req.envelope.event_id)
    .bind(&req.to)
    .bind(status)
    .bind(wamid)
    .bind(attempts)
    .bind(http_status)
    .bind(error_code)
    .bind(reason)
    .execute(pool)
    .await
    .with_context(|| format!("recording the outcome of {}", req.envelope.event_id))?;
    Ok(())
}
