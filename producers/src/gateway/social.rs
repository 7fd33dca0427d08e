//! The social inbox's edge (docs/rules/inbox.md): the Instagram messaging webhook and the owner's
//! reply commands. Everything personal is sealed here, before it reaches a topic (rules PR1): the
//! sender becomes a pseudonymous subject, and their id, handle and words are sealed under their
//! data key — issued on first contact as a `SubjectKeyIssued` on `privacy.keys`, acknowledged
//! before any record sealed with it is published.
//!
//! Instagram (rules SC1): `X-Hub-Signature-256` under the connection's app secret on the raw body
//! ("Missing signature header" / "Invalid signature", 401), the optional `X-Hub-Timestamp` within
//! 300 s, `entry[].id` (the page) names the tenant, and every `entry[].messaging[]` item is one
//! event: a message (`CustomerMessageReceived`, id from its `mid`, so a redelivery is the same
//! event, answered once by the conversation), a read or delivery receipt (`SocialStatusReceived`).
//! The page's own echoes are skipped. Answered 200 `{"status": "processed"}` once all is acked.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::payload::{malformed, Node};
use super::publisher::{GatewayEvent, Publish};
use super::signature::check_timestamp;
use super::validate::{ident, message_content, opt_ident, refuse_nul};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_runtime::privacy::{KeyRing, SubjectKey};
use souk_schemas::social::{conversation_key, parse_conversation_id, CustomerMessageReceived, NotificationClosed, ReplyDecided, SocialStatusReceived};
use souk_schemas::Envelope;
use std::collections::BTreeMap;
use std::sync::Arc;

/// A customer message before sealing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlainMessage {
    pub tenant: String,
    pub platform: &'static str,
    pub connection_id: String,
    pub message_id: String,
    pub sender_id: String,
    pub username: Option<String>,
    pub text: String,
    pub message_type: String,
    pub at: i64,
}

/// A receipt before pseudonymising.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlainStatus {
    pub tenant: String,
    pub platform: &'static str,
    pub customer_id: String,
    pub status: &'static str,
    pub message_ids: Vec<String>,
    pub watermark: Option<i64>,
    pub at: i64,
}

/// One item of a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum PlainItem {
    Message(PlainMessage),
    Status(PlainStatus),
}

/// Parses an Instagram delivery (already authenticated) into items; `tenant_of` routes a page.
fn parse_instagram(body: &[u8], tenant_of: &dyn Fn(&str) -> Result<String, ApiError>) -> Result<Vec<PlainItem>, ApiError> {
    let root: Value = serde_json::from_slice(body).map_err(|e| malformed(format!("body is not JSON: {e}")))?;
    if !root.is_object() {
        return Err(malformed("body must be a JSON object".into()));
    }
    refuse_nul(&root)?;
    let root = Node::root(&root);
    root.req("entry")?;
    let mut out = Vec::new();
    for entry in root.items("entry")? {
        let page_id = entry.req_str("id")?;
        let tenant = tenant_of(page_id)?;
        for item in entry.items("messaging")? {
            let sender = item.req("sender")?.req_str("id")?;
            let at = item.millis("timestamp")?;
            if let Some(message) = item.get("message") {
                if message.get("is_echo").is_some_and(|e| e.value.as_bool() == Some(true)) || sender == page_id {
                    continue; // the page's own message, echoed back
                }
                let text = message.opt_str("text")?.unwrap_or_default().to_string();
                let message_type = if !text.is_empty() {
                    "text".to_string()
                } else if let Some(first) = message.items("attachments")?.first() {
                    first.opt_str("type")?.unwrap_or("attachment").to_string()
                } else {
                    "unsupported".to_string()
                };
                out.push(PlainItem::Message(PlainMessage {
                    tenant: tenant.clone(),
                    platform: "instagram",
                    connection_id: page_id.to_string(),
                    message_id: message.req_str("mid")?.to_string(),
                    sender_id: sender.to_string(),
                    username: None,
                    text,
                    message_type,
                    at,
                }));
            } else if let Some(read) = item.get("read") {
                let mids = read.opt_str("mid")?.map(|m| vec![m.to_string()]).unwrap_or_default();
                let watermark = read.get("watermark").and_then(|w| w.value.as_i64());
                out.push(PlainItem::Status(PlainStatus { tenant: tenant.clone(), platform: "instagram", customer_id: sender.to_string(), status: "read", message_ids: mids, watermark, at }));
            } else if let Some(delivery) = item.get("delivery") {
                let mids = delivery.items("mids")?.iter().map(|m| m.str().map(str::to_string)).collect::<Result<Vec<_>, _>>()?;
                let watermark = delivery.get("watermark").and_then(|w| w.value.as_i64());
                out.push(PlainItem::Status(PlainStatus { tenant: tenant.clone(), platform: "instagram", customer_id: sender.to_string(), status: "delivered", message_ids: mids, watermark, at }));
            }
            // Reactions, postbacks and referrals carry no message to answer.
        }
    }
    Ok(out)
}

/// The privacy keys a gateway seals with, or 503 when it was started without them.
fn ring(state: &GatewayState) -> Result<&Arc<KeyRing>, ApiError> {
    state.privacy.as_ref().ok_or_else(|| ApiError::unavailable("this gateway runs without the privacy.keys table: the social inbox is not configured"))
}

/// Seals `items` into events, issuing (and publishing first) a data key for every customer who
/// has none; returns how many events were published.
pub(super) async fn seal_and_publish(state: &GatewayState, items: Vec<PlainItem>) -> Result<usize, ApiError> {
    let ring = ring(state)?;
    let master = ring.master();
    let mut fresh_keys: BTreeMap<(String, String), (souk_schemas::privacy::SubjectKeyIssued, SubjectKey)> = BTreeMap::new();
    let mut records = Vec::new();
    for item in &items {
        match item {
            PlainItem::Message(m) => {
                let subject = master.pseudonym(&m.tenant, m.platform, &m.sender_id);
                let key = match ring.current(&m.tenant, &subject) {
                    Some(key) => (*key).clone(),
                    None => fresh_keys.entry((m.tenant.clone(), subject.clone())).or_insert_with(|| ring.issue(&m.tenant, &subject, m.at)).1.clone(),
                };
                let envelope = Envelope::external(&m.tenant, &format!("{}/{}", m.platform, m.message_id), m.at);
                let sender = json!({ "id": m.sender_id, "username": m.username }).to_string();
                let event = CustomerMessageReceived {
                    sender: key.seal(&format!("{}/sender", envelope.event_id), &sender),
                    text: key.seal(&format!("{}/text", envelope.event_id), &m.text),
                    envelope,
                    platform: m.platform.to_string(),
                    subject: subject.clone(),
                    connection_id: m.connection_id.clone(),
                    message_id: m.message_id.clone(),
                    message_type: m.message_type.clone(),
                    platform_ts: m.at,
                };
                records.push(Publish::new(conversation_key(&m.tenant, m.platform, &subject), GatewayEvent::CustomerMessage(event)));
            }
            PlainItem::Status(s) => {
                let subject = master.pseudonym(&s.tenant, s.platform, &s.customer_id);
                let marker = s.message_ids.first().cloned().or_else(|| s.watermark.map(|w| w.to_string())).unwrap_or_default();
                let envelope = Envelope::external(&s.tenant, &format!("{}-status/{}/{marker}", s.platform, s.status), s.at);
                let event = SocialStatusReceived {
                    envelope,
                    platform: s.platform.to_string(),
                    subject: subject.clone(),
                    status: s.status.to_string(),
                    platform_message_ids: s.message_ids.clone(),
                    watermark: s.watermark,
                };
                records.push(Publish::new(conversation_key(&s.tenant, s.platform, &subject), GatewayEvent::SocialStatus(event)));
            }
        }
    }
    if !fresh_keys.is_empty() {
        let keys = fresh_keys.values().map(|(issued, _)| Publish::new(issued.key(), GatewayEvent::SubjectKey(issued.clone()))).collect();
        state.publish(keys).await?;
        for (issued, key) in fresh_keys.into_values() {
            ring.insert_local(&issued, key);
        }
    }
    let count = records.len();
    if count > 0 {
        state.publish(records).await?;
    }
    Ok(count)
}

/// `POST /webhooks/instagram`.
pub async fn receive_instagram(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let body = body.map_err(ApiError::from_body)?;
        let signed_by = state.instagram_secrets.authenticate(&headers, &body)?;
        let timestamp = headers.get(super::whatsapp::TIMESTAMP_HEADER).map(|v| v.to_str().unwrap_or("?"));
        check_timestamp(timestamp, (state.clock)(), state.config.max_skew_secs)?;
        let tenant_of = |page_id: &str| match state.tenants.by_instagram_page(page_id) {
            None => Err(ApiError::not_found("UNKNOWN_PAGE", format!("no tenant has an Instagram connection for page {page_id}"))),
            Some(t) if signed_by.contains(&t.id) => Ok(t.id.clone()),
            Some(_) => Err(ApiError::unauthorized("BAD_SIGNATURE", "Invalid signature")),
        };
        let items = parse_instagram(&body, &tenant_of)?;
        seal_and_publish(&state, items).await
    }
    .await;
    match result {
        Ok(events) => {
            tracing::info!(events, "instagram delivery accepted");
            (StatusCode::OK, Json(json!({ "status": "processed", "events": events }))).into_response()
        }
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "instagram delivery refused");
            e.into_response()
        }
    }
}

/// Body of approve / reject.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of edit and of a reply written by a person.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TextBody {
    text: String,
    actor: Option<String>,
    command_id: Option<String>,
}

/// One decision about a reply of conversation `conversation_id`, sealed under the customer's key.
async fn decide(state: &GatewayState, headers: &HeaderMap, conversation_id: &str, reply_id: Option<&str>, decision: &'static str, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(state, headers)?;
        let (platform, subject) = parse_conversation_id(conversation_id).ok_or_else(|| ApiError::not_found("UNKNOWN_CONVERSATION", format!("{conversation_id:?} is not a conversation id")))?;
        let (text, actor, given) = match decision {
            "edit" | "write" => {
                let b: TextBody = parse(body, false)?;
                (Some(message_content("text", &b.text)?), b.actor, b.command_id)
            }
            _ => {
                let b: DecideBody = parse(body, true)?;
                (None, b.actor, b.command_id)
            }
        };
        let command_id = command_id(given.as_deref(), fresh)?;
        let reply_id = match reply_id {
            Some(id) => ident("reply_id", id)?,
            None => format!("owner-{command_id}"),
        };
        let actor = opt_ident("actor", actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let envelope = envelope(tenant, &command_id, now);
        let text = match text {
            None => None,
            Some(text) => {
                let ring = ring(state)?;
                let key = ring
                    .current(tenant, subject)
                    .ok_or_else(|| ApiError::not_found("UNKNOWN_CONVERSATION", format!("no customer of conversation {conversation_id} is known (or they were erased)")))?;
                Some(key.seal(&format!("{}/text", envelope.event_id), &text))
            }
        };
        let event = ReplyDecided { envelope, command_id: command_id.clone(), reply_id: reply_id.clone(), decision: decision.to_string(), text, actor };
        state.publish(vec![Publish::new(conversation_key(tenant, platform, subject), GatewayEvent::ReplyDecided(event))]).await?;
        tracing::info!(tenant, command_id, decision, "reply command accepted");
        Ok::<_, ApiError>((command_id, reply_id))
    }
    .await;
    match result {
        Ok((command_id, reply_id)) => (StatusCode::ACCEPTED, Json(json!({ "command_id": command_id, "reply_id": reply_id, "status": "accepted" }))).into_response(),
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "reply command refused");
            e.into_response()
        }
    }
}

/// `POST /v1/conversations/{conversation_id}/replies/{reply_id}/approve`: send the draft as is.
pub async fn approve(State(state): State<GatewayState>, Path((conversation, reply)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(&state, &headers, &conversation, Some(&reply), "approve", body).await
}

/// `POST /v1/conversations/{conversation_id}/replies/{reply_id}/edit`: send this text instead.
pub async fn edit(State(state): State<GatewayState>, Path((conversation, reply)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(&state, &headers, &conversation, Some(&reply), "edit", body).await
}

/// `POST /v1/conversations/{conversation_id}/replies/{reply_id}/reject`: send nothing.
pub async fn reject(State(state): State<GatewayState>, Path((conversation, reply)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(&state, &headers, &conversation, Some(&reply), "reject", body).await
}

/// `POST /v1/conversations/{conversation_id}/replies`: a reply the owner writes themselves.
pub async fn write(State(state): State<GatewayState>, Path(conversation): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(&state, &headers, &conversation, None, "write", body).await
}

/// Body of erase.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EraseBody {
    reason: String,
    actor: Option<String>,
    command_id: Option<String>,
}

/// `POST /v1/conversations/{conversation_id}/erase` (rules PR2): tombstones every data key of the
/// customer (acknowledged first: from then on nothing sealed for them opens, live or in a replay),
/// then tells their conversation, which forgets them and has the read side delete their rows.
pub async fn erase(State(state): State<GatewayState>, Path(conversation_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: EraseBody = parse(body, false)?;
        let (platform, subject) = parse_conversation_id(&conversation_id).ok_or_else(|| ApiError::not_found("UNKNOWN_CONVERSATION", format!("{conversation_id:?} is not a conversation id")))?;
        let reason = super::validate::text("reason", &b.reason)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let ring = ring(&state)?;
        ring.catch_up(std::time::Duration::from_secs(10)).await.map_err(|e| ApiError::unavailable(format!("the key ring cannot catch up: {e:#}")))?;
        let keys = ring.keys_of(tenant, subject);
        let envelope = envelope(tenant, &command_id, now);
        let tombstones = keys
            .iter()
            .enumerate()
            .map(|(i, key_id)| Publish::new(format!("{tenant}|{subject}|{key_id}"), GatewayEvent::KeyTombstone(envelope.derive("erase/key", i as u32, now))))
            .collect::<Vec<_>>();
        if !tombstones.is_empty() {
            state.publish(tombstones).await?;
            ring.forget_local(tenant, subject);
        }
        let event = souk_schemas::privacy::ErasureRequested {
            envelope,
            command_id: command_id.clone(),
            platform: platform.to_string(),
            subject: subject.to_string(),
            reason,
            actor,
            keys_shredded: keys.len() as i32,
        };
        state.publish(vec![Publish::new(conversation_key(tenant, platform, subject), GatewayEvent::Erasure(event))]).await?;
        tracing::info!(tenant, command_id, keys = keys.len(), "customer erased: keys tombstoned");
        Ok::<_, ApiError>((command_id, keys.len()))
    }
    .await;
    match result {
        Ok((command_id, keys)) => (StatusCode::ACCEPTED, Json(json!({ "command_id": command_id, "status": "accepted", "keys_shredded": keys }))).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `POST /v1/notifications/{notification_id}/read`: the owner has seen it.
pub async fn read_notification(State(state): State<GatewayState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: DecideBody = parse(body, true)?;
        let notification_id = ident("notification_id", &id)?;
        let command_id = command_id(b.command_id.as_deref(), || format!("read-{notification_id}"))?;
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let event = NotificationClosed { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), notification_id, status: "read".into(), actor };
        state.publish(vec![Publish::new(tenant.to_string(), GatewayEvent::NotificationRead(event))]).await?;
        Ok::<_, ApiError>(command_id)
    }
    .await;
    match result {
        Ok(command_id) => (StatusCode::ACCEPTED, Json(json!({ "command_id": command_id, "status": "accepted" }))).into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(page: &str) -> Result<String, ApiError> {
        if page == "1784" {
            Ok("shop".into())
        } else {
            Err(ApiError::not_found("UNKNOWN_PAGE", page.to_string()))
        }
    }

    #[test]
    fn every_messaging_item_is_one_item_and_echoes_are_skipped() {
        let body = json!({"object": "instagram", "entry": [
            {"id": "1784", "time": 1, "messaging": [
                {"sender": {"id": "u1"}, "recipient": {"id": "1784"}, "timestamp": 1700000000000i64, "message": {"mid": "m1", "text": "Do you have this in size M?"}},
                {"sender": {"id": "1784"}, "recipient": {"id": "u1"}, "timestamp": 1700000000001i64, "message": {"mid": "m2", "text": "echo", "is_echo": true}},
                {"sender": {"id": "u2"}, "recipient": {"id": "1784"}, "timestamp": 1700000000002i64, "message": {"mid": "m3", "attachments": [{"type": "image", "payload": {"url": "x"}}]}},
                {"sender": {"id": "u1"}, "recipient": {"id": "1784"}, "timestamp": 1700000000003i64, "read": {"mid": "out-1"}}
            ]},
            {"id": "1784", "messaging": [{"sender": {"id": "u3"}, "recipient": {"id": "1784"}, "timestamp": 1700000000004i64, "message": {"mid": "m4", "text": "hi"}}]}
        ]});
        let items = parse_instagram(body.to_string().as_bytes(), &route).unwrap();
        assert_eq!(items.len(), 4);
        let PlainItem::Message(first) = &items[0] else { panic!() };
        assert_eq!((first.message_id.as_str(), first.text.as_str(), first.at), ("m1", "Do you have this in size M?", 1700000000000));
        let PlainItem::Message(image) = &items[1] else { panic!() };
        assert_eq!((image.message_type.as_str(), image.text.as_str()), ("image", ""));
        assert!(matches!(&items[2], PlainItem::Status(s) if s.status == "read" && s.message_ids == ["out-1"]));
    }

    #[test]
    fn bad_deliveries_name_the_problem() {
        let unknown = json!({"entry": [{"id": "999", "messaging": []}]});
        assert_eq!(parse_instagram(unknown.to_string().as_bytes(), &route).unwrap_err().code, "UNKNOWN_PAGE");
        let no_mid = json!({"entry": [{"id": "1784", "messaging": [{"sender": {"id": "u"}, "timestamp": 1, "message": {"text": "x"}}]}]});
        assert!(parse_instagram(no_mid.to_string().as_bytes(), &route).unwrap_err().reason.contains("entry[0].messaging[0].message.mid"));
        assert_eq!(parse_instagram(b"[]", &route).unwrap_err().code, "MALFORMED_PAYLOAD");
    }
}
