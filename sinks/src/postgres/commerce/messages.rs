//! The message log (rules F3.21): inbound messages, outbound requests, the dispatcher's results and
//! Meta's delivery statuses → `messages` (plus `message_statuses` for statuses that arrive before
//! the dispatcher reported the wamid). Status moves forward only, via the migration's
//! `souk_message_status_next`: received/pending < sent < delivered < read; failed is final.

use super::Meta;
use anyhow::Context;
use souk_schemas::whatsapp::{DeliveryStatus, InboundMessage, OutboundDispatched, OutboundFailed, OutboundMessageRequested};
use sqlx::PgConnection;

/// Statuses Meta reports that the log tracks; others (e.g. `deleted`) are ignored.
const TRACKED: [&str; 4] = ["sent", "delivered", "read", "failed"];

/// A customer message, with its order when the order snapshot that it caused came first.
pub(super) async fn inbound(tx: &mut PgConnection, meta: &Meta<'_>, e: &InboundMessage) -> anyhow::Result<()> {
    let chosen = match &e.reply_id {
        Some(id) => serde_json::json!([{ "id": id, "title": e.text }]),
        None => serde_json::json!([]),
    };
    sqlx::query(
        "INSERT INTO messages (tenant_id, message_id, direction, customer, order_id, kind, text, buttons, status, wamid, \
         occurred_at, last_event_id, updated_at, source_offset) \
         VALUES ($1, $2, 'in', $3, (SELECT order_id FROM message_order_links WHERE tenant_id = $1 AND wamid = $2), \
         $4, $5, $6, 'received', $2, $7, $8, $7, $9) \
         ON CONFLICT (tenant_id, message_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(&e.wamid)
    .bind(&e.wa_id)
    .bind(&e.kind)
    .bind(&e.text)
    .bind(chosen)
    .bind(meta.at)
    .bind(meta.event_id)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting inbound message {}", e.wamid))?;
    Ok(())
}

/// A reply souk wants sent (`pending`); completes the row a dispatcher result may have opened.
pub(super) async fn requested(tx: &mut PgConnection, meta: &Meta<'_>, e: &OutboundMessageRequested) -> anyhow::Result<()> {
    let buttons = serde_json::to_value(&e.buttons).context("serializing buttons")?;
    sqlx::query(
        "INSERT INTO messages (tenant_id, message_id, direction, customer, order_id, kind, text, buttons, status, \
         occurred_at, last_event_id, updated_at, source_offset) \
         VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, 'pending', $8, $2, $8, $9) \
         ON CONFLICT (tenant_id, message_id) DO UPDATE SET order_id = EXCLUDED.order_id, kind = EXCLUDED.kind, \
         text = EXCLUDED.text, buttons = EXCLUDED.buttons, occurred_at = EXCLUDED.occurred_at, \
         source_offset = COALESCE(messages.source_offset, EXCLUDED.source_offset), updated_at = GREATEST(messages.updated_at, EXCLUDED.updated_at)",
    )
    .bind(meta.tenant)
    .bind(meta.event_id)
    .bind(&e.to)
    .bind(&e.order_id)
    .bind(&e.purpose)
    .bind(&e.text)
    .bind(buttons)
    .bind(meta.at)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting outbound message {}", meta.event_id))?;
    Ok(())
}

/// Moves an outbound message (by request id) to `status`, opening the row if the request itself
/// has not been projected yet; `wamid` and `error` are set when given. `last_event_id` changes only
/// with the status or wamid, so re-applying an old result leaves the row as it was.
async fn outbound_result(tx: &mut PgConnection, meta: &Meta<'_>, request_event_id: &str, to: &str, status: &str, wamid: Option<&str>, error: Option<serde_json::Value>) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO messages (tenant_id, message_id, direction, customer, status, wamid, error, occurred_at, last_event_id, updated_at) \
         VALUES ($1, $2, 'out', $3, $4, $5, $6, $7, $8, $7) \
         ON CONFLICT (tenant_id, message_id) DO UPDATE SET \
         status = souk_message_status_next(messages.status, EXCLUDED.status), \
         wamid = COALESCE(EXCLUDED.wamid, messages.wamid), error = COALESCE(EXCLUDED.error, messages.error), \
         last_event_id = CASE WHEN messages.status IS DISTINCT FROM souk_message_status_next(messages.status, EXCLUDED.status) \
           OR messages.wamid IS DISTINCT FROM COALESCE(EXCLUDED.wamid, messages.wamid) \
           THEN EXCLUDED.last_event_id ELSE messages.last_event_id END, \
         updated_at = GREATEST(messages.updated_at, EXCLUDED.updated_at)",
    )
    .bind(meta.tenant)
    .bind(request_event_id)
    .bind(to)
    .bind(status)
    .bind(wamid)
    .bind(error)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording {status} for outbound message {request_event_id}"))?;
    Ok(())
}

/// The Cloud API accepted the message: wamid known, status `sent` (or further, if Meta's statuses
/// for that wamid came first).
pub(super) async fn dispatched(tx: &mut PgConnection, meta: &Meta<'_>, e: &OutboundDispatched) -> anyhow::Result<()> {
    outbound_result(tx, meta, &e.request_event_id, &e.to, "sent", Some(&e.wamid), None).await?;
    sync_status(tx, meta, &e.wamid).await
}

/// The dispatcher gave up: `failed`, with why.
pub(super) async fn failed(tx: &mut PgConnection, meta: &Meta<'_>, e: &OutboundFailed) -> anyhow::Result<()> {
    let error = serde_json::json!({
        "reason": e.reason,
        "http_status": e.http_status,
        "error_code": e.error_code,
        "attempts": e.attempts,
    });
    outbound_result(tx, meta, &e.request_event_id, &e.to, "failed", None, Some(error)).await
}

/// Meta's status for a wamid souk sent: kept per wamid (forward only), then applied to the message
/// carrying that wamid, if the dispatcher's result is projected already.
pub(super) async fn delivery_status(tx: &mut PgConnection, meta: &Meta<'_>, e: &DeliveryStatus) -> anyhow::Result<()> {
    if !TRACKED.contains(&e.status.as_str()) {
        tracing::debug!(wamid = %e.wamid, status = %e.status, "untracked delivery status ignored");
        return Ok(());
    }
    let status_at = super::ts(e.status_at, "status_at").map_err(anyhow::Error::msg)?;
    let error = (e.status == "failed").then(|| serde_json::to_value(&e.errors)).transpose().context("serializing status errors")?;
    sqlx::query(
        "INSERT INTO message_statuses (tenant_id, wamid, status, error, status_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, wamid) DO UPDATE SET \
         status = souk_message_status_next(message_statuses.status, EXCLUDED.status), \
         error = COALESCE(message_statuses.error, EXCLUDED.error), \
         status_at = GREATEST(message_statuses.status_at, EXCLUDED.status_at)",
    )
    .bind(meta.tenant)
    .bind(&e.wamid)
    .bind(&e.status)
    .bind(error)
    .bind(status_at)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording status {} of {}", e.status, e.wamid))?;
    sync_status(tx, meta, &e.wamid).await
}

/// Applies the furthest known Meta status of `wamid` to its outbound message.
async fn sync_status(tx: &mut PgConnection, meta: &Meta<'_>, wamid: &str) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE messages SET status = souk_message_status_next(messages.status, s.status), \
         error = COALESCE(messages.error, s.error), last_event_id = $3, \
         updated_at = GREATEST(messages.updated_at, $4) \
         FROM message_statuses s \
         WHERE messages.tenant_id = $1 AND messages.wamid = $2 AND messages.direction = 'out' \
           AND s.tenant_id = $1 AND s.wamid = $2 \
           AND messages.status IS DISTINCT FROM souk_message_status_next(messages.status, s.status)",
    )
    .bind(meta.tenant)
    .bind(wamid)
    .bind(meta.event_id)
    .bind(meta.at)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("applying the status of {wamid}"))?;
    Ok(())
}
