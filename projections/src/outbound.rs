//! Reads of the WhatsApp dispatcher's ledger (`outbound_dispatch`, migrations 0004, 0007): what was sent
//! to whom, with Meta's message id, for the owner's screens, operators and tests.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One outbound request and what became of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboundDispatchRow {
    /// The tenant.
    pub tenant_id: String,
    /// `event_id` of the `OutboundMessageRequested` (the idempotency key).
    pub request_event_id: String,
    /// Customer wa_id.
    pub recipient: String,
    /// SENDING (an attempt in flight), UNKNOWN (sent, answer lost: waiting for Meta's status),
    /// RETRYING (Cloud API out, nothing accepted), SENT or FAILED.
    pub status: String,
    /// Meta's message id (SENT).
    pub wamid: Option<String>,
    /// HTTP attempts made.
    pub attempts: i32,
    /// Last HTTP status (FAILED).
    pub http_status: Option<i32>,
    /// Meta error code (FAILED).
    pub error_code: Option<i32>,
    /// Why it failed (or the last attempt's problem while UNKNOWN/RETRYING).
    pub reason: Option<String>,
    /// UNKNOWN: no resend before; RETRYING: the next attempt.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// Some attempt's outcome was unknown: Meta may have delivered it.
    pub unconfirmed: bool,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Every outbound request of `tenant`, oldest change first.
pub async fn outbound_dispatches(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<OutboundDispatchRow>> {
    sqlx::query_as::<_, OutboundDispatchRow>(
        "SELECT tenant_id, request_event_id, recipient, status, wamid, attempts, http_status, error_code, reason, next_attempt_at, unconfirmed, updated_at \
         FROM outbound_dispatch WHERE tenant_id = $1 ORDER BY updated_at, request_event_id",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading outbound_dispatch of tenant {tenant}"))
}
