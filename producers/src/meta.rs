//! Webhook deliveries shaped exactly as Meta's WhatsApp Cloud API sends them
//! (`object: whatsapp_business_account`, `entry[].changes[].value` with `metadata`, `contacts`,
//! `messages` or `statuses`), for the demo, the partner simulator and the end-to-end tests. Signing is the gateway's own
//! function, so both sides agree on `X-Hub-Signature-256`.

use serde_json::{json, Value};

/// What a customer does in one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerAction {
    /// A typed text message.
    Text(String),
    /// A tap on an interactive reply button (`id`, `title`).
    Button { id: String, title: String },
    /// A photo (an unsupported type souk records but does not interpret).
    Image,
}

/// One inbound message as Meta describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSpec {
    /// The business number's `phone_number_id`.
    pub phone_number_id: String,
    /// The customer's wa_id.
    pub from: String,
    /// Customer profile name.
    pub profile_name: String,
    /// Meta's message id (`wamid.…`); a redelivery repeats it.
    pub wamid: String,
    /// Epoch seconds.
    pub timestamp_s: i64,
    /// What the customer did.
    pub action: CustomerAction,
}

/// The `messages[]` object of one inbound message.
fn message_json(m: &InboundSpec) -> Value {
    let mut msg = json!({ "from": m.from, "id": m.wamid, "timestamp": m.timestamp_s.to_string() });
    match &m.action {
        CustomerAction::Text(body) => {
            msg["type"] = json!("text");
            msg["text"] = json!({ "body": body });
        }
        CustomerAction::Button { id, title } => {
            msg["type"] = json!("interactive");
            msg["interactive"] = json!({ "type": "button_reply", "button_reply": { "id": id, "title": title } });
        }
        CustomerAction::Image => {
            msg["type"] = json!("image");
            msg["image"] = json!({ "mime_type": "image/jpeg", "sha256": "0f3c", "id": format!("media-{}", m.wamid) });
        }
    }
    msg
}

/// A complete webhook body carrying `messages` (one change per message, as Meta batches them).
pub fn messages_delivery(messages: &[InboundSpec]) -> Value {
    let changes: Vec<Value> = messages
        .iter()
        .map(|m| {
            json!({
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": { "display_phone_number": "15550001111", "phone_number_id": m.phone_number_id },
                    "contacts": [{ "profile": { "name": m.profile_name }, "wa_id": m.from }],
                    "messages": [message_json(m)]
                }
            })
        })
        .collect();
    json!({ "object": "whatsapp_business_account", "entry": [{ "id": "WABA-DEMO", "changes": changes }] })
}
