//! The social dispatcher's ledger (`social_dispatch`, `social_send_calls` of
//! `projections/migrations/0014_social_dispatch.sql`). Every write is its own committed
//! transaction — not the sink's batch transaction — so that what a channel was asked is durable
//! before the answer is awaited, and a connection's budget is shared by every instance.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

/// A reply's dispatch as last written.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DispatchRow {
    /// SENDING, RETRYING, THROTTLED, SENT or FAILED.
    pub status: String,
    /// HTTP calls made so far.
    pub attempts: i32,
    /// The channel's id of the sent message.
    pub platform_message_id: Option<String>,
    /// The last HTTP status.
    pub http_status: Option<i32>,
    /// Why it failed, waits or was throttled.
    pub reason: Option<String>,
    /// When to call again (RETRYING, THROTTLED).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Which reply of which connection.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The tenant.
    pub tenant: &'a str,
    /// The reply (idempotency key).
    pub reply_id: &'a str,
    /// `instagram` or `whatsapp`.
    pub platform: &'a str,
    /// The page / phone number sending.
    pub connection_id: &'a str,
}

/// The row of a reply, if any.
pub async fn get(pool: &PgPool, t: Target<'_>) -> anyhow::Result<Option<DispatchRow>> {
    sqlx::query_as("SELECT status, attempts, platform_message_id, http_status, reason, next_attempt_at FROM social_dispatch WHERE tenant_id = $1 AND reply_id = $2")
        .bind(t.tenant)
        .bind(t.reply_id)
        .fetch_optional(pool)
        .await
        .with_context(|| format!("reading social_dispatch {}/{}", t.tenant, t.reply_id))
}

/// Writes a reply's row (committed at once).
pub async fn put(pool: &PgPool, t: Target<'_>, row: &DispatchRow) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO social_dispatch (tenant_id, reply_id, platform, connection_id, status, attempts, platform_message_id, http_status, reason, next_attempt_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now()) ON CONFLICT (tenant_id, reply_id) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, \
         platform_message_id = EXCLUDED.platform_message_id, http_status = EXCLUDED.http_status, reason = EXCLUDED.reason, next_attempt_at = EXCLUDED.next_attempt_at, updated_at = now()",
    )
    .bind(t.tenant)
    .bind(t.reply_id)
    .bind(t.platform)
    .bind(t.connection_id)
    .bind(&row.status)
    .bind(row.attempts)
    .bind(&row.platform_message_id)
    .bind(row.http_status)
    .bind(&row.reason)
    .bind(row.next_attempt_at)
    .execute(pool)
    .await
    .with_context(|| format!("writing social_dispatch {}/{}", t.tenant, t.reply_id))?;
    Ok(())
}

/// Takes one call of the connection's rolling-hour budget for attempt `attempt` of the reply and
/// marks the reply SENDING, or answers when the budget has room again. One transaction holding the
/// connection's advisory lock: two instances never both take the last call.
pub async fn reserve_call(pool: &PgPool, t: Target<'_>, attempt: i32, calls_per_hour: Option<u32>, now: DateTime<Utc>) -> anyhow::Result<Result<(), DateTime<Utc>>> {
    let mut tx = pool.begin().await.context("beginning a budget reservation")?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))").bind(format!("social-budget/{}/{}/{}", t.tenant, t.platform, t.connection_id)).execute(&mut *tx).await.context("locking the budget")?;
    if let Some(limit) = calls_per_hour {
        let window_start = now - chrono::Duration::hours(1);
        let (used, oldest): (i64, Option<DateTime<Utc>>) = sqlx::query_as("SELECT count(*), min(at) FROM social_send_calls WHERE tenant_id = $1 AND platform = $2 AND connection_id = $3 AND at > $4")
            .bind(t.tenant)
            .bind(t.platform)
            .bind(t.connection_id)
            .bind(window_start)
            .fetch_one(&mut *tx)
            .await
            .context("counting the budget")?;
        if used >= i64::from(limit) {
            // Room again once the oldest call of the window is an hour old.
            let room_at = oldest.unwrap_or(now) + chrono::Duration::hours(1);
            return Ok(Err(room_at));
        }
    }
    sqlx::query("INSERT INTO social_send_calls (tenant_id, platform, connection_id, reply_id, attempt, at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING")
        .bind(t.tenant)
        .bind(t.platform)
        .bind(t.connection_id)
        .bind(t.reply_id)
        .bind(attempt)
        .bind(now)
        .execute(&mut *tx)
        .await
        .context("recording the call")?;
    sqlx::query(
        "INSERT INTO social_dispatch (tenant_id, reply_id, platform, connection_id, status, attempts, updated_at) VALUES ($1, $2, $3, $4, 'SENDING', $5, now()) \
         ON CONFLICT (tenant_id, reply_id) DO UPDATE SET status = 'SENDING', attempts = EXCLUDED.attempts, updated_at = now()",
    )
    .bind(t.tenant)
    .bind(t.reply_id)
    .bind(t.platform)
    .bind(t.connection_id)
    .bind(attempt)
    .execute(&mut *tx)
    .await
    .context("marking the reply sending")?;
    tx.commit().await.context("committing the budget reservation")?;
    Ok(Ok(()))
}
