//! The social inbox's reads (`migrations/0013_social.sql`): the inbox (escalated conversations
//! first, then the latest), one conversation with its messages and replies, the drafts waiting for
//! review, and the tenant's notification feed (high priority before medium) — also read in `seq`
//! order by the live stream. Tenant scoped like every read.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A conversation as the inbox shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ConversationRow {
    /// `<platform>-<subject>`.
    pub conversation_id: String,
    /// `instagram` or `whatsapp`.
    pub platform: String,
    /// active, escalated or archived.
    pub status: String,
    /// The customer's platform id.
    pub customer_id: Option<String>,
    /// Their handle, when the platform gave one.
    pub customer_name: Option<String>,
    /// The last message either way.
    pub last_message: Option<String>,
    /// When.
    pub last_message_at: DateTime<Utc>,
    /// The last draft's confidence.
    pub last_confidence: Option<Decimal>,
    /// Customer messages since the owner last acted.
    pub unread_count: i32,
    /// Messages so far.
    pub message_count: i32,
    /// The summary of earlier messages, past 50.
    pub summary: Option<String>,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// A customer message and its reply.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct SocialMessageRow {
    /// The reply's id (the decision routes name it).
    pub reply_id: String,
    /// Its conversation.
    pub conversation_id: String,
    /// `instagram` or `whatsapp`.
    pub platform: String,
    /// The customer message answered (mid / wamid); none for a written reply.
    pub platform_message_id: Option<String>,
    /// What the customer wrote.
    pub content: Option<String>,
    /// When it arrived.
    pub received_at: Option<DateTime<Utc>>,
    /// The reply's lifecycle status (rules IB3).
    pub status: String,
    /// The draft.
    pub ai_response: Option<String>,
    /// What was sent (the draft, the owner's edit, or their own reply).
    pub sent_text: Option<String>,
    /// The draft's confidence.
    pub confidence_score: Option<Decimal>,
    /// The threshold it was judged against.
    pub threshold: Option<Decimal>,
    /// Who drafted it (`social-offline-1`, `llm:<model>`).
    pub drafter: Option<String>,
    /// Why that confidence.
    pub reason: Option<String>,
    /// Business rules the draft applied.
    pub rule_ids: Vec<String>,
    /// Our sent message's platform id.
    pub platform_reply_id: Option<String>,
    /// Who approved, edited, rejected or wrote it.
    pub decided_by: Option<String>,
    /// The dispatcher's last word (throttled until …, a failure).
    pub detail: Option<String>,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// A notification of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct NotificationRow {
    /// Its id.
    pub notification_id: String,
    /// Its place in the tenant's feed (the SSE event id).
    pub seq: i64,
    /// escalation, low_stock, restock, …
    pub kind: String,
    /// high or medium.
    pub priority: String,
    /// unread, read or resolved.
    pub status: String,
    /// e.g. "Low confidence: 0.65".
    pub title: String,
    /// What it is about.
    pub body: String,
    /// The first 100 characters of the customer's words.
    pub preview: Option<String>,
    /// Links and figures (conversation_url, current_stock, …).
    pub context: serde_json::Value,
    /// Where the console opens it.
    pub link: Option<String>,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// When the owner read it.
    pub read_at: Option<DateTime<Utc>>,
    /// When what it was about was decided.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// The feed with its unread count.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationFeed {
    /// Notifications, high priority first, then the newest.
    pub notifications: Vec<NotificationRow>,
    /// Unread notifications (never below zero).
    pub unread_count: i64,
}

/// One conversation with its messages, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConversationDetail {
    /// The conversation.
    #[serde(flatten)]
    pub conversation: ConversationRow,
    /// Its messages and replies.
    pub messages: Vec<SocialMessageRow>,
}

const CONVERSATION: &str =
    "SELECT conversation_id, platform, status, customer_id, customer_name, last_message, last_message_at, last_confidence, unread_count, message_count, summary, updated_at FROM social_conversations";
const MESSAGE: &str = "SELECT reply_id, conversation_id, platform, platform_message_id, content, received_at, status, ai_response, sent_text, confidence_score, threshold, drafter, reason, rule_ids, platform_reply_id, decided_by, detail, updated_at FROM social_messages";
const NOTIFICATION: &str = "SELECT notification_id, seq, kind, priority, status, title, body, preview, context, link, raised_at, read_at, resolved_at FROM notifications";

/// The inbox: escalated first, then by the last message, newest first.
pub async fn conversations(db: &mut sqlx::PgConnection, tenant: &str, status: Option<&str>, platform: Option<&str>, limit: Option<i64>) -> anyhow::Result<Vec<ConversationRow>> {
    let sql = format!(
        "{CONVERSATION} WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR platform = $3) \
         ORDER BY (status = 'escalated') DESC, last_message_at DESC, conversation_id LIMIT $4"
    );
    sqlx::query_as(&sql).bind(tenant).bind(status).bind(platform).bind(super::clamp_limit(limit)).fetch_all(&mut *db).await.context("reading conversations")
}

/// One conversation and its messages.
pub async fn conversation(db: &mut sqlx::PgConnection, tenant: &str, conversation_id: &str) -> anyhow::Result<Option<ConversationDetail>> {
    let Some(conversation) = sqlx::query_as::<_, ConversationRow>(&format!("{CONVERSATION} WHERE tenant_id = $1 AND conversation_id = $2"))
        .bind(tenant)
        .bind(conversation_id)
        .fetch_optional(&mut *db)
        .await
        .context("reading a conversation")?
    else {
        return Ok(None);
    };
    let messages = sqlx::query_as(&format!("{MESSAGE} WHERE tenant_id = $1 AND conversation_id = $2 ORDER BY COALESCE(received_at, updated_at), reply_id"))
        .bind(tenant)
        .bind(conversation_id)
        .fetch_all(&mut *db)
        .await
        .context("reading a conversation's messages")?;
    Ok(Some(ConversationDetail { conversation, messages }))
}

/// Replies in `status` (e.g. the escalated drafts waiting for review), oldest first.
pub async fn replies(db: &mut sqlx::PgConnection, tenant: &str, status: Option<&str>, limit: Option<i64>) -> anyhow::Result<Vec<SocialMessageRow>> {
    sqlx::query_as(&format!("{MESSAGE} WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) ORDER BY updated_at, reply_id LIMIT $3"))
        .bind(tenant)
        .bind(status)
        .bind(super::clamp_limit(limit))
        .fetch_all(&mut *db)
        .await
        .context("reading replies")
}

/// The feed: high priority before medium, then the newest; `unread_only`, `kind` filter it.
pub async fn notifications(db: &mut sqlx::PgConnection, tenant: &str, unread_only: bool, kind: Option<&str>, limit: Option<i64>) -> anyhow::Result<NotificationFeed> {
    let notifications = sqlx::query_as(&format!(
        "{NOTIFICATION} WHERE tenant_id = $1 AND (NOT $2 OR status = 'unread') AND ($3::text IS NULL OR kind = $3) \
         ORDER BY (priority = 'high') DESC, seq DESC LIMIT $4"
    ))
    .bind(tenant)
    .bind(unread_only)
    .bind(kind)
    .bind(super::clamp_limit(limit))
    .fetch_all(&mut *db)
    .await
    .context("reading notifications")?;
    let unread_count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM notifications WHERE tenant_id = $1 AND status = 'unread'").bind(tenant).fetch_one(&mut *db).await.context("counting unread notifications")?;
    Ok(NotificationFeed { notifications, unread_count })
}

/// Notifications raised after `seq`, in feed order (the live stream and its resume).
pub async fn notifications_after(db: &mut sqlx::PgConnection, tenant: &str, seq: i64, limit: i64) -> anyhow::Result<Vec<NotificationRow>> {
    sqlx::query_as(&format!("{NOTIFICATION} WHERE tenant_id = $1 AND seq > $2 ORDER BY seq LIMIT $3")).bind(tenant).bind(seq).bind(limit).fetch_all(&mut *db).await.context("reading the feed")
}

/// Everything souk holds about one conversation's customer (rules PR3): the conversation, its
/// messages and replies, and the notifications about them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerExport {
    /// When the export was made.
    pub export_date: DateTime<Utc>,
    /// The conversation with its messages.
    pub conversation: ConversationDetail,
    /// Notifications about this customer.
    pub notifications: Vec<NotificationRow>,
}

/// The export of `conversation_id`'s customer, if souk holds anything about them.
pub async fn customer_export(db: &mut sqlx::PgConnection, tenant: &str, conversation_id: &str) -> anyhow::Result<Option<CustomerExport>> {
    let Some(conversation) = conversation(&mut *db, tenant, conversation_id).await? else { return Ok(None) };
    let notifications =
        sqlx::query_as(&format!("{NOTIFICATION} WHERE tenant_id = $1 AND subject = (SELECT subject FROM social_conversations WHERE tenant_id = $1 AND conversation_id = $2) ORDER BY seq"))
            .bind(tenant)
            .bind(conversation_id)
            .fetch_all(&mut *db)
            .await
            .context("reading a customer's notifications")?;
    Ok(Some(CustomerExport { export_date: Utc::now(), conversation, notifications }))
}
