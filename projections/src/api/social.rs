//! The social inbox's reads (rules IB3, SN1): the inbox, a conversation, the drafts waiting for
//! review, the notification feed and its live stream `GET /v1/notifications/stream` (SSE). The
//! stream's event ids are the feed's `seq`: a client that reconnects with `Last-Event-ID` gets
//! every notification raised after it, once, in order — what it missed while away first, then each
//! new one as the sink commits it (woken by Postgres `NOTIFY souk_notifications`, with a poll every
//! few seconds as a safety net).

use super::{page_limit, ApiResult, ApiState, TenantId};
use crate::queries;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::IntoResponse;
use axum::Json;
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_runtime::api_error::ApiError;
use souk_runtime::openapi::{array_of, int, nullable, object, reference, string, time, Fragment};
use sqlx::PgPool;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{broadcast, OnceCell};

/// The conversation statuses `?status=` filters by.
pub const CONVERSATION_STATUSES: [&str; 3] = ["active", "escalated", "archived"];
/// The reply statuses (rules IB3) `GET /v1/replies?status=` filters by.
pub const REPLY_STATUSES: [&str; 11] = ["pending", "auto_sent", "escalated", "approved", "edited", "rejected", "throttled", "sent", "delivered", "read", "failed"];
/// The Postgres channel the social sink notifies with the tenant of each committed notification.
pub const CHANNEL: &str = "souk_notifications";
/// How often a stream looks for new notifications even without a wake-up.
const POLL: Duration = Duration::from_secs(3);

/// Wake-ups of the live streams: one Postgres listener per API, shared by every open stream.
#[derive(Default)]
pub(super) struct Wakeups {
    sender: OnceCell<broadcast::Sender<String>>,
}

impl Wakeups {
    /// A receiver of tenant ids whose feed changed (starts the listener on first use).
    async fn subscribe(&self, pool: &PgPool) -> broadcast::Receiver<String> {
        let sender = self
            .sender
            .get_or_init(|| async {
                let (tx, _) = broadcast::channel(256);
                let forward = tx.clone();
                let pool = pool.clone();
                tokio::spawn(async move {
                    loop {
                        match sqlx::postgres::PgListener::connect_with(&pool).await {
                            Ok(mut listener) => {
                                if listener.listen(CHANNEL).await.is_ok() {
                                    while let Ok(n) = listener.recv().await {
                                        let _ = forward.send(n.payload().to_string());
                                    }
                                }
                            }
                            Err(e) => tracing::warn!(error = %e, "notification listener: cannot connect; streams poll meanwhile"),
                        }
                        tokio::time::sleep(POLL).await;
                    }
                });
                tx
            })
            .await;
        sender.subscribe()
    }
}

fn one_of(name: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), ApiError> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ApiError::bad_request("BAD_QUERY", format!("{name} must be one of {}, not {v:?}", allowed.join(", ")))),
        _ => Ok(()),
    }
}

/// Query of `GET /v1/conversations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ConversationsQuery {
    status: Option<String>,
    platform: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn conversations(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<ConversationsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let status = q.status.as_deref().filter(|s| *s != "all");
    one_of("status", status, &CONVERSATION_STATUSES)?;
    one_of("platform", q.platform.as_deref(), &["instagram", "whatsapp"])?;
    let rows = queries::conversations(&mut *s.scoped(&tenant).await?, &tenant, status, q.platform.as_deref(), page_limit(q.limit)?).await?;
    Ok(Json(json!({ "conversations": rows })).into_response())
}

pub(super) async fn conversation(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(id): Path<String>) -> ApiResult {
    super::found(queries::conversation(&mut *s.scoped(&tenant).await?, &tenant, &id).await?, || format!("no conversation {id}"))
}

/// `GET /v1/conversations/{conversation_id}/export` (rules PR3).
pub(super) async fn export(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(id): Path<String>) -> ApiResult {
    super::found(queries::customer_export(&mut *s.scoped(&tenant).await?, &tenant, &id).await?, || format!("souk holds nothing about the customer of {id}"))
}

/// Query of `GET /v1/replies`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RepliesQuery {
    status: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn replies(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<RepliesQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    one_of("status", q.status.as_deref(), &REPLY_STATUSES)?;
    let rows = queries::replies(&mut *s.scoped(&tenant).await?, &tenant, q.status.as_deref(), page_limit(q.limit)?).await?;
    Ok(Json(json!({ "replies": rows })).into_response())
}

/// Query of `GET /v1/notifications`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NotificationsQuery {
    unread_only: Option<bool>,
    kind: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn notifications(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<NotificationsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let feed = queries::notifications(&mut *s.scoped(&tenant).await?, &tenant, q.unread_only.unwrap_or(false), q.kind.as_deref(), page_limit(q.limit)?).await?;
    Ok(Json(feed).into_response())
}

/// The SSE event of one notification: named by its kind, id = its seq.
fn event_of(n: &queries::NotificationRow) -> Event {
    let data = json!({
        "id": n.notification_id, "seq": n.seq, "type": n.kind, "priority": n.priority, "status": n.status, "title": n.title, "body": n.body,
        "preview": n.preview, "context": n.context, "link": n.link, "timestamp": n.raised_at.to_rfc3339(),
    });
    Event::default().id(n.seq.to_string()).event(n.kind.clone()).data(data.to_string())
}

/// `GET /v1/notifications/stream`: `connected`, then every notification after `Last-Event-ID`.
pub(super) async fn stream(State(s): State<ApiState>, TenantId(tenant): TenantId, headers: HeaderMap) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = match headers.get("last-event-id").map(|v| v.to_str().map(str::trim)) {
        None => 0,
        Some(Ok(text)) => {
            text.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| ApiError::bad_request("BAD_LAST_EVENT_ID", format!("Last-Event-ID must be a feed position (a whole number), not {text:?}")))?
        }
        Some(Err(_)) => return Err(ApiError::bad_request("BAD_LAST_EVENT_ID", "Last-Event-ID is not text")),
    };
    let mut wakeups = s.wakeups.subscribe(&s.pool).await;
    let pool = s.pool.clone();
    let stream = async_stream::stream! {
        yield Ok(Event::default().event("connected").data(json!({ "status": "connected", "after": after }).to_string()));
        let mut last = after;
        loop {
            let read = async { queries::notifications_after(&mut *super::scoped(&pool, &tenant).await?, &tenant, last, 200).await };
            match read.await {
                Ok(rows) => {
                    let full = rows.len() == 200;
                    for n in &rows {
                        last = n.seq;
                        yield Ok(event_of(n));
                    }
                    if full {
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "notification stream: the feed cannot be read; retrying"),
            }
            // Until this tenant's feed changes (or the poll interval passes).
            let deadline = tokio::time::sleep(POLL);
            tokio::pin!(deadline);
            loop {
                tokio::select! {
                    _ = &mut deadline => break,
                    woke = wakeups.recv() => match woke {
                        Ok(t) if t == tenant => break,
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => { tokio::time::sleep(POLL).await; break }
                    },
                }
            }
        }
    };
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// The inbox's schemas and operations.
pub(super) fn document(f: &mut Fragment, get: impl Fn(&str, Vec<Value>, Value, bool) -> Value, param: impl Fn(&str, &str, &str) -> Value) {
    let decimal_or_null = json!({ "oneOf": [{ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" }, { "type": "null" }] });
    let time_or_null = json!({ "oneOf": [time(), { "type": "null" }] });
    let conversation_fields = vec![
        ("conversation_id", string()),
        ("platform", json!({ "enum": ["instagram", "whatsapp"] })),
        ("status", json!({ "enum": CONVERSATION_STATUSES })),
        ("customer_id", nullable("string")),
        ("customer_name", nullable("string")),
        ("last_message", nullable("string")),
        ("last_message_at", time()),
        ("last_confidence", decimal_or_null.clone()),
        ("unread_count", int()),
        ("message_count", int()),
        ("summary", nullable("string")),
        ("updated_at", time()),
    ];
    let mut detail_fields = conversation_fields.clone();
    detail_fields.push(("messages", array_of("SocialMessage")));
    let schemas = json!({
        "Conversation": object(&conversation_fields),
        "ConversationDetail": object(&detail_fields),
        "SocialMessage": object(&[
            ("reply_id", string()), ("conversation_id", string()), ("platform", string()), ("platform_message_id", nullable("string")),
            ("content", nullable("string")), ("received_at", time_or_null.clone()), ("status", json!({ "enum": REPLY_STATUSES })),
            ("ai_response", nullable("string")), ("sent_text", nullable("string")), ("confidence_score", decimal_or_null.clone()),
            ("threshold", decimal_or_null), ("drafter", nullable("string")), ("reason", nullable("string")),
            ("rule_ids", json!({ "type": "array", "items": string() })), ("platform_reply_id", nullable("string")),
            ("decided_by", nullable("string")), ("detail", nullable("string")), ("updated_at", time()),
        ]),
        "Notification": object(&[
            ("notification_id", string()), ("seq", int()), ("kind", string()), ("priority", json!({ "enum": ["high", "medium"] })),
            ("status", json!({ "enum": ["unread", "read", "resolved"] })), ("title", string()), ("body", string()), ("preview", nullable("string")),
            ("context", json!({ "type": "object" })), ("link", nullable("string")), ("raised_at", time()), ("read_at", time_or_null.clone()),
            ("resolved_at", time_or_null),
        ]),
        "NotificationFeed": object(&[("notifications", array_of("Notification")), ("unread_count", int())]),
        "CustomerExport": object(&[("export_date", time()), ("conversation", reference("ConversationDetail")), ("notifications", array_of("Notification"))]),
    });
    f.schemas.extend(schemas.as_object().cloned().unwrap_or_default());
    let enum_param = |name: &str, description: &str, values: &[&str]| {
        let mut p = param(name, "query", description);
        p["schema"] = json!({ "type": "string", "enum": values });
        p
    };
    let mut statuses: Vec<&str> = CONVERSATION_STATUSES.to_vec();
    statuses.push("all");
    let limit = || param("limit", "query", "page size, default 50, at most 500");
    f.operation(
        "/v1/conversations",
        "get",
        get(
            "The inbox: conversations, escalated first, then by their last message",
            vec![enum_param("status", "only this status (all: every one)", &statuses), enum_param("platform", "only this platform", &["instagram", "whatsapp"]), limit()],
            object(&[("conversations", array_of("Conversation"))]),
            false,
        ),
    );
    f.operation(
        "/v1/conversations/{conversation_id}",
        "get",
        get("One conversation with its messages and replies", vec![param("conversation_id", "path", "the conversation")], reference("ConversationDetail"), true),
    );
    f.operation(
        "/v1/conversations/{conversation_id}/export",
        "get",
        get("Everything souk holds about a conversation's customer, as JSON (GDPR export)", vec![param("conversation_id", "path", "the conversation")], reference("CustomerExport"), true),
    );
    f.operation(
        "/v1/replies",
        "get",
        get(
            "Replies by status (e.g. escalated: the drafts waiting for review), oldest first",
            vec![enum_param("status", "only this status", &REPLY_STATUSES), limit()],
            object(&[("replies", array_of("SocialMessage"))]),
            false,
        ),
    );
    let mut unread = param("unread_only", "query", "only unread notifications");
    unread["schema"] = json!({ "type": "boolean" });
    f.operation(
        "/v1/notifications",
        "get",
        get("The notification feed: high priority before medium, then the newest", vec![unread, param("kind", "query", "only this kind"), limit()], reference("NotificationFeed"), false),
    );
    let mut stream = get("Live notifications (Server-Sent Events): `connected`, then every notification after Last-Event-ID, once, in feed order", vec![], json!({}), false);
    stream["parameters"] =
        json!([{ "name": "Last-Event-ID", "in": "header", "required": false, "description": "the seq of the last notification received", "schema": { "type": "string", "pattern": "^[0-9]+$" } }]);
    stream["responses"]["200"] = json!({ "description": "an event stream; each event's id is the notification's seq, its name the kind", "content": { "text/event-stream": { "schema": {
            // OpenAPI 3.1 has no itemSchema: the media type's schema describes one event.
            "type": "object", "required": ["event", "data"],
            "properties": {
                "event": { "type": "string", "description": "connected, then the notification's kind (escalation, low_stock, restock, ...)" },
                "data": { "type": "string", "contentMediaType": "application/json", "description": "the notification as JSON" },
                "id": { "type": "string", "pattern": "^[0-9]+$", "description": "the notification's seq" },
                "retry": { "type": "integer" },
            } } } } });
    stream["responses"]["400"] = super::openapi_error("Last-Event-ID is not a feed position");
    f.operation("/v1/notifications/stream", "get", stream);
}

/// The live streams' shared state.
pub(super) fn wakeups() -> Arc<Wakeups> {
    Arc::new(Wakeups::default())
}
