//! Meta's webhook delivery (`{"object", "entry": [{"changes": [{"field", "value": {...}}]}]}`) turned
//! into souk events: one `InboundMessage` per `messages[]` item and one `DeliveryStatus` per
//! `statuses[]` item. Parsing walks the JSON by hand so a malformed delivery is refused with the
//! exact path of the problem (`entry[0].changes[0].value.messages[1].timestamp`).
//!
//! Ids come from Meta's (`wa/<wamid>`, `wa-status/<wamid>/<status>`) so a redelivery produces
//! byte-identical events, deduplicated downstream.

use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use serde_json::Value as Json;
use souk_schemas::key::CustomerKey;
use souk_schemas::whatsapp::{DeliveryStatus, InboundMessage, StatusError};
use souk_schemas::Envelope;

/// Status values a `DeliveryStatus` carries; others (Meta adds some over time) are skipped.
const STATUSES: [&str; 4] = ["sent", "delivered", "read", "failed"];

/// A position in the delivery: the value there and its path for error messages.
#[derive(Clone)]
pub(super) struct Node<'a> {
    pub(super) value: &'a Json,
    pub(super) path: String,
}

pub(super) fn malformed(reason: String) -> ApiError {
    ApiError::bad_request("MALFORMED_PAYLOAD", reason)
}

impl<'a> Node<'a> {
    /// The root of a parsed body.
    pub(super) fn root(value: &'a Json) -> Node<'a> {
        Node { value, path: String::new() }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// The field, or `None` when absent or null.
    pub(super) fn get(&self, name: &str) -> Option<Node<'a>> {
        self.value.get(name).filter(|v| !v.is_null()).map(|value| Node { value, path: self.child_path(name) })
    }

    /// The field, or a 400 naming it.
    pub(super) fn req(&self, name: &str) -> Result<Node<'a>, ApiError> {
        self.get(name).ok_or_else(|| malformed(format!("missing {}", self.child_path(name))))
    }

    pub(super) fn str(&self) -> Result<&'a str, ApiError> {
        self.value.as_str().ok_or_else(|| malformed(format!("{} must be a string", self.path)))
    }

    /// A required, non-empty string field.
    pub(super) fn req_str(&self, name: &str) -> Result<&'a str, ApiError> {
        let node = self.req(name)?;
        let s = node.str()?;
        if s.trim().is_empty() {
            return Err(malformed(format!("{} must not be empty", node.path)));
        }
        Ok(s)
    }

    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        self.get(name).map(|n| n.str()).transpose()
    }

    /// The items of an array field; absent means none.
    pub(super) fn items(&self, name: &str) -> Result<Vec<Node<'a>>, ApiError> {
        let Some(node) = self.get(name) else { return Ok(Vec::new()) };
        let arr = node.value.as_array().ok_or_else(|| malformed(format!("{} must be an array", node.path)))?;
        Ok(arr.iter().enumerate().map(|(i, value)| Node { value, path: format!("{}[{i}]", node.path) }).collect())
    }

    /// Epoch seconds sent as a string (Meta's format) or a number, in epoch ms.
    pub(super) fn timestamp_ms(&self, name: &str) -> Result<i64, ApiError> {
        let node = self.req(name)?;
        let secs = match node.value {
            Json::String(s) => s.trim().parse::<i64>().ok(),
            Json::Number(n) => n.as_i64(),
            _ => None,
        };
        secs.and_then(|s| s.checked_mul(1000)).ok_or_else(|| malformed(format!("{} must be epoch seconds", node.path)))
    }

    /// Epoch milliseconds as a number (Instagram's format).
    pub(super) fn millis(&self, name: &str) -> Result<i64, ApiError> {
        let node = self.req(name)?;
        node.value.as_i64().filter(|ms| *ms >= 0).ok_or_else(|| malformed(format!("{} must be epoch milliseconds", node.path)))
    }
}

/// Resolves a `metadata.phone_number_id` to the tenant it belongs to, or refuses the delivery
/// (unknown number ⇒ 404, a number whose tenant did not sign ⇒ 401).
pub type TenantOf<'t> = dyn Fn(&str) -> Result<String, ApiError> + 't;

/// Parses a delivery (already signature-verified) into events, in delivery order. `tenant_of`
/// routes each `value` by its business number. Changes whose `field` is not `messages` (template
/// and account notifications) carry no customer traffic and are ignored.
pub fn parse_delivery(body: &[u8], tenant_of: &TenantOf<'_>) -> Result<Vec<Publish>, ApiError> {
    let root: Json = serde_json::from_slice(body).map_err(|e| malformed(format!("body is not JSON: {e}")))?;
    if !root.is_object() {
        return Err(malformed("body must be a JSON object".into()));
    }
    super::validate::refuse_nul(&root)?;
    let root = Node { value: &root, path: String::new() };
    root.req("entry")?;
    let mut out = Vec::new();
    for entry in root.items("entry")? {
        for change in entry.items("changes")? {
            if change.opt_str("field")?.is_some_and(|f| f != "messages") {
                continue;
            }
            parse_value(&change.req("value")?, tenant_of, &mut out)?;
        }
    }
    Ok(out)
}

fn parse_value(value: &Node<'_>, tenant_of: &TenantOf<'_>, out: &mut Vec<Publish>) -> Result<(), ApiError> {
    let phone_number_id = value.req("metadata")?.req_str("phone_number_id")?;
    let tenant = tenant_of(phone_number_id)?;
    let mut names = Vec::new();
    for contact in value.items("contacts")? {
        let name = contact.get("profile").map(|p| p.opt_str("name")).transpose()?.flatten();
        names.push((contact.req_str("wa_id")?.to_string(), name.map(str::to_string)));
    }
    for message in value.items("messages")? {
        let m = parse_message(&message, &tenant, phone_number_id, &names)?;
        out.push(Publish::new(CustomerKey::of(&tenant, &m.wa_id), GatewayEvent::Inbound(m)));
    }
    for status in value.items("statuses")? {
        if let Some(s) = parse_status(&status, &tenant, phone_number_id)? {
            out.push(Publish::new(CustomerKey::of(&tenant, &s.recipient_id), GatewayEvent::Status(s)));
        }
    }
    Ok(())
}

/// What the customer said: `(kind, text, reply_id)` by `messages[].type`.
fn content(message: &Node<'_>, message_type: &str) -> Result<(String, Option<String>, Option<String>), ApiError> {
    let owned = |s: Option<&str>| s.map(str::to_string);
    Ok(match message_type {
        "text" => ("text".into(), Some(message.req("text")?.req_str("body")?.to_string()), None),
        "interactive" => {
            let interactive = message.req("interactive")?;
            match interactive.opt_str("type")? {
                Some(kind @ ("button_reply" | "list_reply")) => {
                    let reply = interactive.req(kind)?;
                    (kind.to_string(), owned(reply.opt_str("title")?), Some(reply.req_str("id")?.to_string()))
                }
                _ => ("unsupported".into(), None, None),
            }
        }
        // A template's quick-reply button: the payload is the id souk put on the button.
        "button" => {
            let button = message.req("button")?;
            ("button_reply".into(), owned(button.opt_str("text")?), owned(button.opt_str("payload")?))
        }
        _ => ("unsupported".into(), None, None),
    })
}

fn parse_message(message: &Node<'_>, tenant: &str, phone_number_id: &str, names: &[(String, Option<String>)]) -> Result<InboundMessage, ApiError> {
    let wamid = message.req_str("id")?;
    let from = message.req_str("from")?;
    let sent_at = message.timestamp_ms("timestamp")?;
    let message_type = message.req_str("type")?;
    let (kind, text, reply_id) = content(message, message_type)?;
    let context_wamid = message.get("context").map(|c| c.opt_str("id")).transpose()?.flatten().map(str::to_string);
    let profile_name = names.iter().find(|(wa_id, _)| wa_id == from).and_then(|(_, name)| name.clone());
    Ok(InboundMessage {
        envelope: Envelope::external(tenant, &format!("wa/{wamid}"), sent_at),
        phone_number_id: phone_number_id.to_string(),
        wa_id: from.to_string(),
        profile_name,
        wamid: wamid.to_string(),
        sent_at,
        kind,
        message_type: message_type.to_string(),
        text,
        reply_id,
        context_wamid,
        raw_json: message.value.to_string(),
    })
}

fn parse_status(status: &Node<'_>, tenant: &str, phone_number_id: &str) -> Result<Option<DeliveryStatus>, ApiError> {
    let wamid = status.req_str("id")?;
    let value = status.req_str("status")?;
    let status_at = status.timestamp_ms("timestamp")?;
    let recipient_id = status.req_str("recipient_id")?;
    // What the dispatcher put in `biz_opaque_callback_data` (its request's event id); Meta echoes it.
    let callback_data = status.opt_str("biz_opaque_callback_data")?.map(str::to_string);
    let mut errors = Vec::new();
    for e in status.items("errors")? {
        let code = e.req("code")?;
        let code = code.value.as_i64().and_then(|c| i32::try_from(c).ok()).ok_or_else(|| malformed(format!("{} must be an integer", code.path)))?;
        let title = e.opt_str("title")?.or(e.opt_str("message")?).unwrap_or_default().to_string();
        let detail = e.get("error_data").map(|d| d.opt_str("details")).transpose()?.flatten().map(str::to_string);
        errors.push(StatusError { code, title, detail });
    }
    if !STATUSES.contains(&value) {
        tracing::warn!(tenant, wamid, status = value, "skipping a status souk does not model");
        return Ok(None);
    }
    Ok(Some(DeliveryStatus {
        envelope: Envelope::external(tenant, &format!("wa-status/{wamid}/{value}"), status_at),
        phone_number_id: phone_number_id.to_string(),
        wamid: wamid.to_string(),
        recipient_id: recipient_id.to_string(),
        status: value.to_string(),
        status_at,
        errors,
        callback_data,
    }))
}
