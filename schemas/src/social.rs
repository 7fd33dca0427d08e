//! The social inbox (source 002, docs/rules/inbox.md): customer messages from Instagram and
//! WhatsApp, the conversation that drafts and decides each reply, the sends, and the owner's
//! notifications. Conversations are keyed `<tenant>|<platform>|<subject>`, where the subject is
//! the customer's pseudonym; every personal field (text, names, platform ids) is a sealed string
//! (`souk_runtime::privacy`), opened only at the edges that need the plain text.

use crate::clock::Tick;
use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One customer message, fanned out of a webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerMessageReceived {
    pub envelope: Envelope,
    /// `instagram` or `whatsapp`.
    pub platform: String,
    pub subject: String,
    /// The page id (Instagram) or phone_number_id (WhatsApp) that received it.
    pub connection_id: String,
    /// Instagram `mid` / WhatsApp `wamid`: redeliveries carry the same.
    pub message_id: String,
    /// Sealed `{"id": …, "username": …}`.
    pub sender: String,
    /// Sealed text ("" for a type without text).
    pub text: String,
    pub message_type: String,
    pub platform_ts: i64,
}

/// One message of a conversation window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowMessage {
    /// `customer` or `business`.
    pub role: String,
    /// Sealed.
    pub text: String,
    pub at: i64,
}

/// A message to answer and the window it is answered in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftRequested {
    pub envelope: Envelope,
    pub reply_id: String,
    pub platform: String,
    pub subject: String,
    pub message_id: String,
    /// Sealed.
    pub text: String,
    pub window: Vec<WindowMessage>,
    pub evicted: Vec<WindowMessage>,
    /// Sealed.
    pub summary: Option<String>,
    pub message_count: i32,
}

/// The reply stage's draft, logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftGenerated {
    pub envelope: Envelope,
    pub reply_id: String,
    /// Sealed.
    pub text: String,
    pub confidence: Decimal,
    pub threshold: Decimal,
    pub drafter: String,
    pub rule_ids: Vec<String>,
    pub reason: String,
    /// Sealed.
    pub summary: Option<String>,
}

/// A person's decision about a reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyDecided {
    pub envelope: Envelope,
    pub command_id: String,
    pub reply_id: String,
    /// `approve`, `edit`, `reject` or `write`.
    pub decision: String,
    /// Sealed; `edit` and `write`.
    pub text: Option<String>,
    pub actor: String,
}

/// A reply to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialSendRequested {
    pub envelope: Envelope,
    pub reply_id: String,
    pub platform: String,
    pub connection_id: String,
    pub subject: String,
    /// Sealed platform id of the customer.
    pub recipient: String,
    /// Sealed.
    pub text: String,
}

/// What the dispatcher did with a send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialSendResult {
    pub envelope: Envelope,
    pub reply_id: String,
    /// `sent`, `throttled` or `failed`.
    pub outcome: String,
    pub platform_message_id: Option<String>,
    pub detail: String,
    pub retry_at: Option<i64>,
}

/// A delivery or read receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocialStatusReceived {
    pub envelope: Envelope,
    pub platform: String,
    pub subject: String,
    /// `delivered` or `read`.
    pub status: String,
    pub platform_message_ids: Vec<String>,
    pub watermark: Option<i64>,
}

/// A conversation's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationUpdated {
    pub envelope: Envelope,
    pub conversation_id: String,
    pub platform: String,
    pub subject: String,
    pub status: String,
    pub customer_name: Option<String>,
    pub last_message: Option<String>,
    pub last_message_at: i64,
    pub last_confidence: Option<Decimal>,
    pub unread_count: i32,
    pub message_count: i32,
    pub summary: Option<String>,
}

/// A customer message and its reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplyUpdated {
    pub envelope: Envelope,
    pub conversation_id: String,
    pub reply_id: String,
    pub platform: String,
    pub subject: String,
    pub message_id: Option<String>,
    pub message_text: Option<String>,
    pub received_at: Option<i64>,
    pub status: String,
    pub draft: Option<String>,
    pub sent_text: Option<String>,
    pub confidence: Option<Decimal>,
    pub threshold: Option<Decimal>,
    pub drafter: Option<String>,
    pub reason: Option<String>,
    pub rule_ids: Vec<String>,
    pub platform_message_id: Option<String>,
    pub decided_by: Option<String>,
    pub detail: Option<String>,
    pub updated_at: i64,
}

/// Something for the owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationRaised {
    pub envelope: Envelope,
    pub notification_id: String,
    pub kind: String,
    pub priority: String,
    pub title: String,
    pub body: String,
    /// Sealed.
    pub preview: Option<String>,
    pub subject: Option<String>,
    pub context: String,
    pub link: Option<String>,
}

/// A notification read, or resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationClosed {
    pub envelope: Envelope,
    pub command_id: String,
    pub notification_id: String,
    /// `read` or `resolved`.
    pub status: String,
    pub actor: String,
}

/// A notification's snapshot in the tenant's feed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationUpdated {
    pub envelope: Envelope,
    pub notification_id: String,
    pub seq: i64,
    pub kind: String,
    pub priority: String,
    pub status: String,
    pub title: String,
    pub body: String,
    pub preview: Option<String>,
    pub subject: Option<String>,
    pub context: String,
    pub link: Option<String>,
    pub raised_at: i64,
    pub read_at: Option<i64>,
    pub resolved_at: Option<i64>,
}

/// A conversation whose customer was erased: the read side deletes everything about them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationErased {
    pub envelope: Envelope,
    pub conversation_id: String,
    pub platform: String,
    pub subject: String,
    pub command_id: String,
}

/// `social.inputs`: everything that drives a conversation, in one order per customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocialInput {
    CustomerMessageReceived(CustomerMessageReceived),
    ErasureRequested(crate::privacy::ErasureRequested),
    DraftGenerated(DraftGenerated),
    ReplyDecided(ReplyDecided),
    SocialSendResult(SocialSendResult),
    SocialStatusReceived(SocialStatusReceived),
    Tick(Tick),
}

/// `social.drafts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DraftEvent {
    DraftRequested(DraftRequested),
}

/// `social.outbound`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SocialOutbound {
    SocialSendRequested(SocialSendRequested),
}

/// `social.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // decoded one record at a time; boxing would only add an allocation
pub enum SocialEvent {
    ConversationUpdated(ConversationUpdated),
    ReplyUpdated(ReplyUpdated),
    ConversationErased(ConversationErased),
}

/// `notifications.inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationInput {
    NotificationRaised(NotificationRaised),
    NotificationClosed(NotificationClosed),
}

/// `notifications.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotificationEvent {
    NotificationUpdated(NotificationUpdated),
}

crate::stream_event!(SocialInput { CustomerMessageReceived, ErasureRequested, DraftGenerated, ReplyDecided, SocialSendResult, SocialStatusReceived, Tick } tick Tick);
crate::stream_event!(DraftEvent { DraftRequested });
crate::stream_event!(SocialOutbound { SocialSendRequested });
crate::stream_event!(SocialEvent { ConversationUpdated, ReplyUpdated, ConversationErased });
crate::stream_event!(NotificationInput { NotificationRaised, NotificationClosed });
crate::stream_event!(NotificationEvent { NotificationUpdated });

/// The conversation key `<tenant>|<platform>|<subject>`.
pub fn conversation_key(tenant: &str, platform: &str, subject: &str) -> String {
    format!("{tenant}|{platform}|{subject}")
}

/// The conversation's id in URLs and rows: `<platform>-<subject>`.
pub fn conversation_id(platform: &str, subject: &str) -> String {
    format!("{platform}-{subject}")
}

/// Splits a conversation id back into (platform, subject).
pub fn parse_conversation_id(id: &str) -> Option<(&str, &str)> {
    let (platform, subject) = id.split_once('-')?;
    (matches!(platform, "instagram" | "whatsapp") && !subject.is_empty() && subject.chars().all(|c| c.is_ascii_hexdigit())).then_some((platform, subject))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    fn names(records: &[&str]) -> Vec<String> {
        records.iter().map(|r| format!("souk.social.{r}")).collect()
    }

    /// The Rust types and the .avsc files agree for every record of the social topics.
    #[test]
    fn social_records_round_trip_through_avro() {
        let envelope = Envelope::external("shop", "m1", 5);
        let window = vec![WindowMessage { role: "customer".into(), text: "s1.k.x".into(), at: 4 }];
        let inputs = [
            SocialInput::DraftGenerated(DraftGenerated {
                envelope: envelope.clone(),
                reply_id: "r1".into(),
                text: "s1.k.y".into(),
                confidence: "0.920".parse().unwrap(),
                threshold: "0.8".parse().unwrap(),
                drafter: "offline-1".into(),
                rule_ids: vec!["rule-1".into()],
                reason: "one product named".into(),
                summary: None,
            }),
            SocialInput::ReplyDecided(ReplyDecided {
                envelope: envelope.clone(),
                command_id: "c".into(),
                reply_id: "r1".into(),
                decision: "edit".into(),
                text: Some("s1.k.z".into()),
                actor: "owner".into(),
            }),
            SocialInput::SocialSendResult(SocialSendResult {
                envelope: envelope.clone(),
                reply_id: "r1".into(),
                outcome: "throttled".into(),
                platform_message_id: None,
                detail: "d".into(),
                retry_at: Some(9),
            }),
            SocialInput::SocialStatusReceived(SocialStatusReceived {
                envelope: envelope.clone(),
                platform: "instagram".into(),
                subject: "ab".into(),
                status: "read".into(),
                platform_message_ids: vec![],
                watermark: Some(7),
            }),
        ];
        let mut input_names = names(&["CustomerMessageReceived", "DraftGenerated", "ReplyDecided", "SocialSendResult", "SocialStatusReceived"]);
        input_names.push("souk.clock.Tick".into());
        let input_names: Vec<&str> = input_names.iter().map(String::as_str).collect();
        for input in &inputs {
            round_trip(&input_names, input);
        }
        let draft = DraftRequested {
            envelope: envelope.clone(),
            reply_id: "r1".into(),
            platform: "instagram".into(),
            subject: "ab".into(),
            message_id: "mid".into(),
            text: "s1.k.x".into(),
            window: window.clone(),
            evicted: window,
            summary: Some("s1.k.s".into()),
            message_count: 51,
        };
        round_trip(&["souk.social.DraftRequested"], &draft);
        let events = [
            SocialEvent::ConversationUpdated(ConversationUpdated {
                envelope: envelope.clone(),
                conversation_id: "instagram-ab".into(),
                platform: "instagram".into(),
                subject: "ab".into(),
                status: "escalated".into(),
                customer_name: Some("s1.k.n".into()),
                last_message: None,
                last_message_at: 5,
                last_confidence: Some("0.65".parse().unwrap()),
                unread_count: 1,
                message_count: 1,
                summary: None,
            }),
            SocialEvent::ReplyUpdated(ReplyUpdated {
                envelope: envelope.clone(),
                conversation_id: "instagram-ab".into(),
                reply_id: "r1".into(),
                platform: "instagram".into(),
                subject: "ab".into(),
                message_id: Some("mid".into()),
                message_text: Some("s1".into()),
                received_at: Some(5),
                status: "escalated".into(),
                draft: None,
                sent_text: None,
                confidence: None,
                threshold: None,
                drafter: None,
                reason: None,
                rule_ids: vec![],
                platform_message_id: None,
                decided_by: None,
                detail: None,
                updated_at: 5,
            }),
        ];
        for event in &events {
            round_trip(&["souk.social.ConversationUpdated", "souk.social.ReplyUpdated"], event);
        }
        let raised = NotificationInput::NotificationRaised(NotificationRaised {
            envelope: envelope.clone(),
            notification_id: "n1".into(),
            kind: "escalation".into(),
            priority: "high".into(),
            title: "Low confidence: 0.65".into(),
            body: "b".into(),
            preview: Some("s1.k.p".into()),
            subject: Some("ab".into()),
            context: "{}".into(),
            link: None,
        });
        round_trip(&["souk.social.NotificationRaised", "souk.social.NotificationClosed"], &raised);
        let key = crate::privacy::SubjectKeyIssued { envelope, subject: "ab".into(), key_id: "k1".into(), wrapped_key: "AAAA".into() };
        round_trip(&["souk.privacy.SubjectKeyIssued"], &key);
    }

    #[test]
    fn conversation_ids_round_trip() {
        assert_eq!(parse_conversation_id(&conversation_id("instagram", "0a9f")), Some(("instagram", "0a9f")));
        assert_eq!(parse_conversation_id("telegram-0a"), None);
        assert_eq!(parse_conversation_id("instagram-"), None);
        assert_eq!(parse_conversation_id("instagram-x|y"), None);
    }
}
