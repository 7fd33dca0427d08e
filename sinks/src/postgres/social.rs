//! The social inbox's read models (`social-postgres` in topology.toml): `social.events` →
//! `social_conversations` and `social_messages`, `notifications.events` → `notifications`
//! (`projections/migrations/0013_social.sql`), every sealed field opened through the key ring
//! (rules PR1). A record whose key is not in the ring after a barrier belongs to an erased
//! customer: it is skipped, so neither a late record nor a replay writes their data again.

use super::runner::{Projection, SinkRecord};
use super::snapshot_upsert;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use souk_runtime::privacy::{KeyRing, PrivacyError};
use souk_schemas::social::{ConversationErased, ConversationUpdated, NotificationUpdated, ReplyUpdated};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;

/// Characters of a customer's words a notification shows (source 002 a.4: `text[:100]`).
pub const PREVIEW_CHARS: usize = 100;

/// Every record of the sink's two topics.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[allow(clippy::large_enum_variant)]
pub enum SocialReadEvent {
    ConversationUpdated(ConversationUpdated),
    ConversationErased(ConversationErased),
    ReplyUpdated(ReplyUpdated),
    NotificationUpdated(NotificationUpdated),
}

/// Projects the inbox's snapshots, opening them with the key ring.
pub struct SocialProjection {
    ring: Arc<KeyRing>,
}

impl SocialProjection {
    /// A projection opening sealed fields with `ring`.
    pub fn new(ring: Arc<KeyRing>) -> SocialProjection {
        SocialProjection { ring }
    }

    /// Opens every sealed value of one record, catching the ring up once if a key is missing;
    /// `None` when a key is gone (the customer was erased).
    async fn open_all(&self, tenant: &str, sealed: &[Option<&str>]) -> anyhow::Result<Option<Vec<Option<String>>>> {
        for attempt in 0..2 {
            match sealed.iter().map(|s| self.ring.open_opt(tenant, *s)).collect::<Result<Vec<_>, _>>() {
                Ok(open) => return Ok(Some(open)),
                Err(PrivacyError::Shredded(_)) if attempt == 0 => self.ring.catch_up(Duration::from_secs(10)).await?,
                Err(PrivacyError::Shredded(_)) => return Ok(None),
                Err(e) => anyhow::bail!("a sealed field does not open: {e}"),
            }
        }
        Ok(None)
    }
}

fn ts(ms: i64, what: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms).with_context(|| format!("{what} {ms} is not a time"))
}

fn opt_ts(ms: Option<i64>, what: &str) -> anyhow::Result<Option<DateTime<Utc>>> {
    ms.map(|m| ts(m, what)).transpose()
}

/// The customer's platform id and handle from the sealed sender `{"id", "username"}`.
fn sender_parts(sender: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(json) = sender.and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok()) else { return (None, None) };
    let field = |name: &str| json.get(name).and_then(|v| v.as_str()).map(str::to_string);
    (field("id"), field("username"))
}

const CONVERSATION_COLUMNS: [&str; 16] = [
    "tenant_id",
    "conversation_id",
    "platform",
    "subject",
    "status",
    "customer_id",
    "customer_name",
    "last_message",
    "last_message_at",
    "last_confidence",
    "unread_count",
    "message_count",
    "summary",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const MESSAGE_COLUMNS: [&str; 22] = [
    "tenant_id",
    "reply_id",
    "conversation_id",
    "platform",
    "subject",
    "platform_message_id",
    "content",
    "received_at",
    "status",
    "ai_response",
    "sent_text",
    "confidence_score",
    "threshold",
    "drafter",
    "reason",
    "rule_ids",
    "platform_reply_id",
    "decided_by",
    "detail",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const NOTIFICATION_COLUMNS: [&str; 18] = [
    "tenant_id",
    "notification_id",
    "seq",
    "kind",
    "priority",
    "status",
    "title",
    "body",
    "preview",
    "subject",
    "context",
    "link",
    "raised_at",
    "read_at",
    "resolved_at",
    "last_event_id",
    "updated_at",
    "source_offset",
];

impl Projection for SocialProjection {
    type Event = SocialReadEvent;

    fn check(&self, record: &SinkRecord<SocialReadEvent>) -> Result<(), String> {
        let at = match &record.event {
            SocialReadEvent::ConversationUpdated(c) => c.envelope.occurred_at,
            SocialReadEvent::ConversationErased(e) => e.envelope.occurred_at,
            SocialReadEvent::ReplyUpdated(r) => r.envelope.occurred_at,
            SocialReadEvent::NotificationUpdated(n) => n.envelope.occurred_at,
        };
        ts(at, "occurred_at").map(drop).map_err(|e| e.to_string())
    }

    /// The key ring's barrier: an erasure's tombstones, committed before its `ConversationErased`,
    /// are in the ring before any later batch — a notification about the customer projected after
    /// their rows were deleted can no longer be opened, so it is not written.
    async fn before_batch(&self) -> anyhow::Result<()> {
        self.ring.catch_up(Duration::from_secs(10)).await
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<SocialReadEvent>) -> anyhow::Result<()> {
        match &record.event {
            SocialReadEvent::ConversationUpdated(c) => self.conversation(tx, c, record.offset).await,
            SocialReadEvent::ConversationErased(e) => erase(tx, e).await,
            SocialReadEvent::ReplyUpdated(r) => self.reply(tx, r, record.offset).await,
            SocialReadEvent::NotificationUpdated(n) => self.notification(tx, n, record.offset).await,
        }
    }
}

/// Rules PR2: every row about the erased customer goes, in one transaction with the offset.
async fn erase(tx: &mut PgConnection, e: &ConversationErased) -> anyhow::Result<()> {
    let tenant = &e.envelope.tenant_id;
    sqlx::query("DELETE FROM rule_executions WHERE tenant_id = $1 AND conversation_id = $2")
        .bind(tenant)
        .bind(&e.conversation_id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("erasing {} from rule_executions", e.conversation_id))?;
    for (table, column) in [("social_messages", "subject"), ("notifications", "subject"), ("social_conversations", "subject")] {
        sqlx::query(&format!("DELETE FROM {table} WHERE tenant_id = $1 AND {column} = $2"))
            .bind(tenant)
            .bind(&e.subject)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("erasing {} from {table}", e.conversation_id))?;
    }
    tracing::info!(tenant = %tenant, conversation_id = %e.conversation_id, "customer erased from the read models");
    Ok(())
}

impl SocialProjection {
    async fn conversation(&self, tx: &mut PgConnection, c: &ConversationUpdated, offset: i64) -> anyhow::Result<()> {
        let tenant = &c.envelope.tenant_id;
        let Some(open) = self.open_all(tenant, &[c.customer_name.as_deref(), c.last_message.as_deref(), c.summary.as_deref()]).await? else { return Ok(()) };
        let (customer_id, customer_name) = sender_parts(open[0].as_deref());
        sqlx::query(&snapshot_upsert("social_conversations", &["tenant_id", "conversation_id"], &CONVERSATION_COLUMNS))
            .bind(tenant)
            .bind(&c.conversation_id)
            .bind(&c.platform)
            .bind(&c.subject)
            .bind(&c.status)
            .bind(customer_id)
            .bind(customer_name)
            .bind(&open[1])
            .bind(ts(c.last_message_at, "last_message_at")?)
            .bind(c.last_confidence)
            .bind(c.unread_count)
            .bind(c.message_count)
            .bind(&open[2])
            .bind(&c.envelope.event_id)
            .bind(ts(c.envelope.occurred_at, "occurred_at")?)
            .bind(offset)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("upserting conversation {}", c.conversation_id))?;
        Ok(())
    }

    async fn reply(&self, tx: &mut PgConnection, r: &ReplyUpdated, offset: i64) -> anyhow::Result<()> {
        let tenant = &r.envelope.tenant_id;
        let Some(open) = self.open_all(tenant, &[r.message_text.as_deref(), r.draft.as_deref(), r.sent_text.as_deref()]).await? else { return Ok(()) };
        sqlx::query(&snapshot_upsert("social_messages", &["tenant_id", "reply_id"], &MESSAGE_COLUMNS))
            .bind(tenant)
            .bind(&r.reply_id)
            .bind(&r.conversation_id)
            .bind(&r.platform)
            .bind(&r.subject)
            .bind(&r.message_id)
            .bind(&open[0])
            .bind(opt_ts(r.received_at, "received_at")?)
            .bind(&r.status)
            .bind(&open[1])
            .bind(&open[2])
            .bind(r.confidence)
            .bind(r.threshold)
            .bind(&r.drafter)
            .bind(&r.reason)
            .bind(&r.rule_ids)
            .bind(&r.platform_message_id)
            .bind(&r.decided_by)
            .bind(&r.detail)
            .bind(&r.envelope.event_id)
            .bind(ts(r.envelope.occurred_at, "occurred_at")?)
            .bind(offset)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("upserting reply {}", r.reply_id))?;
        for rule_id in &r.rule_ids {
            sqlx::query("INSERT INTO rule_executions (tenant_id, rule_id, reply_id, conversation_id, occurred_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
                .bind(tenant)
                .bind(rule_id)
                .bind(&r.reply_id)
                .bind(&r.conversation_id)
                .bind(ts(r.envelope.occurred_at, "occurred_at")?)
                .execute(&mut *tx)
                .await
                .with_context(|| format!("recording rule {rule_id} applied to reply {}", r.reply_id))?;
        }
        Ok(())
    }

    async fn notification(&self, tx: &mut PgConnection, n: &NotificationUpdated, offset: i64) -> anyhow::Result<()> {
        let tenant = &n.envelope.tenant_id;
        let Some(open) = self.open_all(tenant, &[n.preview.as_deref()]).await? else { return Ok(()) };
        let preview = open[0].as_deref().map(|p| p.chars().take(PREVIEW_CHARS).collect::<String>());
        let context: serde_json::Value = serde_json::from_str(&n.context).unwrap_or_else(|_| serde_json::json!({}));
        sqlx::query(&snapshot_upsert("notifications", &["tenant_id", "notification_id"], &NOTIFICATION_COLUMNS))
            .bind(tenant)
            .bind(&n.notification_id)
            .bind(n.seq)
            .bind(&n.kind)
            .bind(&n.priority)
            .bind(&n.status)
            .bind(&n.title)
            .bind(&n.body)
            .bind(preview)
            .bind(&n.subject)
            .bind(context)
            .bind(&n.link)
            .bind(ts(n.raised_at, "raised_at")?)
            .bind(opt_ts(n.read_at, "read_at")?)
            .bind(opt_ts(n.resolved_at, "resolved_at")?)
            .bind(&n.envelope.event_id)
            .bind(ts(n.envelope.occurred_at, "occurred_at")?)
            .bind(offset)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("upserting notification {}", n.notification_id))?;
        // Wake the live streams of this tenant (GET /v1/notifications/stream).
        sqlx::query("SELECT pg_notify('souk_notifications', $1)").bind(tenant).execute(&mut *tx).await.context("notifying the live streams")?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sender_gives_id_and_handle() {
        assert_eq!(sender_parts(Some(r#"{"id":"178","username":"amara"}"#)), (Some("178".into()), Some("amara".into())));
        assert_eq!(sender_parts(Some(r#"{"id":"178","username":null}"#)), (Some("178".into()), None));
        assert_eq!(sender_parts(None), (None, None));
    }
}
