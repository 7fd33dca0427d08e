//! The inbox's conversations in the index (rules PR2): every customer message and every reply sent
//! of `social.events`, opened with the key ring, one document each under the conversation's
//! pseudonymous subject; `ConversationErased` removes every message document of that subject, and a
//! record whose key is gone (an erased customer, on a replay or a late record) writes nothing — so
//! after an erase no document holds the customer's words, and rebuilding the index cannot bring
//! them back.

use super::documents::Change;
use souk_projections::search::{Direction, MessageDoc, SearchSchema};
use souk_runtime::privacy::{KeyRing, PrivacyError};
use souk_schemas::social::{ReplyUpdated, SocialEvent};
use std::time::Duration;

/// The documents of one reply snapshot with its sealed texts already opened: the customer's message
/// (`<reply_id>/in`) and, once sent, the answer (`<reply_id>/out`).
pub fn reply_documents(schema: &SearchSchema, reply: &ReplyUpdated, message_text: Option<String>, sent_text: Option<String>) -> Vec<Change> {
    let tenant = &reply.envelope.tenant_id;
    let doc = |suffix: &str, direction: Direction, text: String, at: i64| {
        let doc = MessageDoc {
            tenant: tenant.clone(),
            message_id: format!("{}/{suffix}", reply.reply_id),
            direction,
            customer: reply.subject.clone(),
            text,
            thread: Some(reply.conversation_id.clone()),
            occurred_at: at,
        };
        Change::put(doc.doc_id(), Some(doc.to_document(schema)))
    };
    let mut changes = Vec::new();
    if let Some(text) = message_text.filter(|t| !t.is_empty()) {
        changes.push(doc("in", Direction::In, text, reply.received_at.unwrap_or(reply.updated_at)));
    }
    if let Some(text) = sent_text.filter(|t| !t.is_empty()) {
        changes.push(doc("out", Direction::Out, text, reply.updated_at));
    }
    changes
}

/// What one `social.events` record changes in the index, opening its sealed texts with `ring`
/// (caught up once when a key is missing). Conversation snapshots add nothing: their last message
/// is a reply's message, indexed with the reply. The outer error is transient (the ring cannot
/// catch up: retry the batch); the inner one makes the record a dead letter (a field sealed with a
/// key that exists does not open: a corrupt record).
pub async fn changes(schema: &SearchSchema, ring: &KeyRing, event: &SocialEvent) -> anyhow::Result<Result<Vec<Change>, String>> {
    match event {
        SocialEvent::ConversationUpdated(_) => Ok(Ok(vec![])),
        SocialEvent::ConversationErased(e) => Ok(Ok(vec![Change::ForgetCustomer { tenant: e.envelope.tenant_id.clone(), customer: e.subject.clone() }])),
        SocialEvent::ReplyUpdated(reply) => {
            let tenant = &reply.envelope.tenant_id;
            for attempt in 0..2 {
                let opened = ring.open_opt(tenant, reply.message_text.as_deref()).and_then(|m| Ok((m, ring.open_opt(tenant, reply.sent_text.as_deref())?)));
                match opened {
                    Ok((message, sent)) => return Ok(Ok(reply_documents(schema, reply, message, sent))),
                    Err(PrivacyError::Shredded(_)) if attempt == 0 => ring.catch_up(Duration::from_secs(10)).await?,
                    Err(PrivacyError::Shredded(_)) => break,
                    Err(e) => return Ok(Err(format!("reply {}: a sealed field does not open: {e}", reply.reply_id))),
                }
            }
            tracing::debug!(reply_id = %reply.reply_id, "the customer's key is gone (erased): not indexed");
            Ok(Ok(vec![]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use souk_schemas::Envelope;

    fn reply() -> ReplyUpdated {
        ReplyUpdated {
            envelope: Envelope::external("shop", "e1", 50),
            conversation_id: "c1".into(),
            reply_id: "r1".into(),
            platform: "instagram".into(),
            subject: "subj-1".into(),
            message_id: Some("mid.1".into()),
            message_text: None,
            received_at: Some(40),
            status: "sent".into(),
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
            updated_at: 50,
        }
    }

    #[test]
    fn a_reply_is_its_message_and_once_sent_its_answer_under_the_subject() {
        let schema = SearchSchema::new();
        let ids = |changes: Vec<Change>| -> Vec<String> {
            changes
                .into_iter()
                .map(|c| match c {
                    Change::Put(u) => u.doc_id,
                    Change::ForgetCustomer { .. } => unreachable!(),
                })
                .collect()
        };
        assert_eq!(ids(reply_documents(&schema, &reply(), Some("Size M?".into()), None)), ["message:shop|r1/in"]);
        assert_eq!(ids(reply_documents(&schema, &reply(), Some("Size M?".into()), Some("Yes!".into()))), ["message:shop|r1/in", "message:shop|r1/out"]);
        assert!(reply_documents(&schema, &reply(), Some(String::new()), None).is_empty(), "an empty message is not a document");
        let Change::Put(u) = reply_documents(&schema, &reply(), Some("Size M?".into()), None).remove(0) else { unreachable!() };
        use tantivy::schema::Value;
        assert_eq!(u.doc.unwrap().get_first(schema.customer).and_then(|v| v.as_str()), Some("subj-1"), "the pseudonymous subject, what an erase deletes by");
    }
}
