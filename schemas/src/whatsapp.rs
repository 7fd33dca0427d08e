//! WhatsApp channel events: inbound customer messages and delivery statuses from the Cloud API
//! webhook, outbound reply requests, and what the dispatcher did with them.
//! Key of every WhatsApp event: `<tenant>|<wa_id>` (the customer).

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// One customer message (text, reply button, list reply, or an unsupported type kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub envelope: Envelope,
    /// The business number that received it (routes to the tenant).
    pub phone_number_id: String,
    /// The customer's WhatsApp id.
    pub wa_id: String,
    /// Profile name from `contacts[]`, when sent.
    pub profile_name: Option<String>,
    /// Meta's message id; redeliveries carry the same one.
    pub wamid: String,
    /// `messages[].timestamp` in epoch ms.
    pub sent_at: i64,
    /// `text`, `button_reply`, `list_reply` or `unsupported`.
    pub kind: String,
    /// `messages[].type` as sent.
    pub message_type: String,
    /// Text body, or the title of the chosen reply.
    pub text: Option<String>,
    /// Id of the chosen reply button / list row.
    pub reply_id: Option<String>,
    /// The message this one replies to.
    pub context_wamid: Option<String>,
    /// The message object exactly as received.
    pub raw_json: String,
}

/// An error attached to a failed status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusError {
    /// Meta error code (e.g. 131047).
    pub code: i32,
    /// Meta error title.
    pub title: String,
    /// `error_data.details`, when sent.
    pub detail: Option<String>,
}

/// A status callback (sent/delivered/read/failed) for a message souk sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    pub envelope: Envelope,
    /// The business number.
    pub phone_number_id: String,
    /// The message the status is about.
    pub wamid: String,
    /// The customer.
    pub recipient_id: String,
    /// `sent`, `delivered`, `read` or `failed`.
    pub status: String,
    /// Status time in epoch ms.
    pub status_at: i64,
    /// Errors of a failed status.
    pub errors: Vec<StatusError>,
    /// `statuses[].biz_opaque_callback_data`: the `event_id` of the `OutboundMessageRequested` the
    /// dispatcher sent, echoed by Meta, so a send whose HTTP answer was lost can still be settled.
    #[serde(default)]
    pub callback_data: Option<String>,
}

/// One interactive reply button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyButton {
    /// Id the NLU maps exactly (rules A12).
    pub id: String,
    /// Title, at most 20 characters.
    pub title: String,
}

/// A reply souk wants sent (idempotency key: `envelope.event_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundMessageRequested {
    pub envelope: Envelope,
    /// Customer wa_id.
    pub to: String,
    /// The order it is about, if any.
    pub order_id: Option<String>,
    /// What the reply is for (summary, negotiation, status, approved, ...).
    pub purpose: String,
    /// The text.
    pub text: String,
    /// Reply buttons (one call to action); empty = plain text.
    pub buttons: Vec<ReplyButton>,
}

/// The Cloud API accepted an outbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundDispatched {
    pub envelope: Envelope,
    /// `event_id` of the request.
    pub request_event_id: String,
    /// Customer wa_id.
    pub to: String,
    /// Id Meta returned.
    pub wamid: String,
    /// HTTP attempts it took.
    pub attempts: i32,
}

/// An outbound message could not be sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundFailed {
    pub envelope: Envelope,
    /// `event_id` of the request.
    pub request_event_id: String,
    /// Customer wa_id.
    pub to: String,
    /// Last HTTP status, if a response came.
    pub http_status: Option<i32>,
    /// Meta error code, if any.
    pub error_code: Option<i32>,
    /// Why.
    pub reason: String,
    /// HTTP attempts made.
    pub attempts: i32,
}

/// Everything on `whatsapp.inbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InboundEvent {
    InboundMessage(InboundMessage),
}

/// Everything on `whatsapp.status`: Meta's status callbacks and the dispatcher's results.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum StatusEvent {
    DeliveryStatus(DeliveryStatus),
    OutboundDispatched(OutboundDispatched),
    OutboundFailed(OutboundFailed),
}

/// Everything on `whatsapp.outbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutboundEvent {
    OutboundMessageRequested(OutboundMessageRequested),
}

crate::stream_event!(InboundEvent { InboundMessage });
crate::stream_event!(StatusEvent { DeliveryStatus, OutboundDispatched, OutboundFailed });
crate::stream_event!(OutboundEvent { OutboundMessageRequested });

/// A person's consent to WhatsApp messages from a tenant, given or withdrawn; every outbound
/// message is gated by it (the dispatcher sends nothing to a person without it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentChanged {
    pub envelope: Envelope,
    /// Digits only.
    pub wa_id: String,
    pub opted_in: bool,
    /// One of [`ConsentChanged::CUSTOMER_MESSAGE`], [`ConsentChanged::KEYWORD`],
    /// [`ConsentChanged::PARTNER_DECLARED`].
    pub source: String,
}

impl ConsentChanged {
    /// They wrote to the tenant: implicit consent, which an explicit opt-out outranks.
    pub const CUSTOMER_MESSAGE: &'static str = "customer_message";
    /// They wrote an opt-out or opt-in keyword ([`opt_keyword`]).
    pub const KEYWORD: &'static str = "keyword";
    /// The partner's owner or an admin declared the partner's `opted_in`.
    pub const PARTNER_DECLARED: &'static str = "partner_declared";

    /// Whether it is explicit (a keyword or a declaration) rather than implied by a message.
    pub fn is_explicit(&self) -> bool {
        self.source != ConsentChanged::CUSTOMER_MESSAGE
    }

    /// Its record key on `whatsapp.consent`: explicit consent under `<tenant>|<wa_id>`, implicit
    /// under `<tenant>|<wa_id>|message`, so compaction keeps the latest of each and an implicit
    /// record never replaces an explicit opt-out.
    pub fn key(&self) -> String {
        let base = crate::key::CustomerKey::of(&self.envelope.tenant_id, &self.wa_id);
        if self.is_explicit() {
            base
        } else {
            format!("{base}|message")
        }
    }
}

/// What a message's text says about consent: `Some(false)` for STOP, STOPALL, UNSUBSCRIBE (the
/// usual opt-out words), `Some(true)` for START, UNSTOP, SUBSCRIBE; the whole message, trimmed, any
/// case; anything else `None`. "Cancel" is not one: it cancels an order.
pub fn opt_keyword(text: &str) -> Option<bool> {
    match text.trim().to_uppercase().as_str() {
        "STOP" | "STOPALL" | "UNSUBSCRIBE" => Some(false),
        "START" | "UNSTOP" | "SUBSCRIBE" => Some(true),
        _ => None,
    }
}

/// Everything on `whatsapp.consent`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentEvent {
    ConsentChanged(ConsentChanged),
}

crate::stream_event!(ConsentEvent { ConsentChanged });

#[cfg(test)]
mod consent_tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case("STOP", Some(false))]
    #[case("  stop ", Some(false))]
    #[case("Unsubscribe", Some(false))]
    #[case("start", Some(true))]
    #[case("please stop the red one", None)]
    #[case("cancel", None)]
    fn keywords_are_whole_messages(#[case] text: &str, #[case] expected: Option<bool>) {
        assert_eq!(opt_keyword(text), expected);
    }

    #[test]
    fn implicit_and_explicit_consent_have_their_own_keys() {
        let c = |source: &str| ConsentChanged { envelope: Envelope::external("acme", "e1", 1), wa_id: "9198".into(), opted_in: true, source: source.into() };
        assert_eq!(c(ConsentChanged::KEYWORD).key(), "acme|9198");
        assert_eq!(c(ConsentChanged::CUSTOMER_MESSAGE).key(), "acme|9198|message");
        crate::orders::tests::round_trip(&["souk.whatsapp.ConsentChanged"], &c(ConsentChanged::PARTNER_DECLARED));
    }
}
