//! Crypto-shredding (rules PR1, docs/rules/inbox.md): a customer's personal fields in the
//! immutable topics are sealed with that customer's data key, and the keys live in the compacted
//! `privacy.keys` topic under `<tenant>|<subject>|<key id>`. Erasing the customer tombstones every
//! key of theirs: what the log still holds can no longer be opened, by a live sink or a replay.

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// A customer's data key, wrapped under the deployment's master key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectKeyIssued {
    pub envelope: Envelope,
    /// The customer's pseudonym (never their platform id).
    pub subject: String,
    pub key_id: String,
    /// Base64 of the key sealed under the master key.
    pub wrapped_key: String,
}

/// Erase a customer (rules PR2): published after their keys were tombstoned, on their
/// conversation's key, so every component forgets them in the conversation's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureRequested {
    pub envelope: Envelope,
    pub command_id: String,
    pub platform: String,
    pub subject: String,
    pub reason: String,
    pub actor: String,
    pub keys_shredded: i32,
}

/// `privacy.keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PrivacyKeyEvent {
    SubjectKeyIssued(SubjectKeyIssued),
}

crate::stream_event!(PrivacyKeyEvent { SubjectKeyIssued });

impl SubjectKeyIssued {
    /// Its record key: `<tenant>|<subject>|<key id>`.
    pub fn key(&self) -> String {
        format!("{}|{}|{}", self.envelope.tenant_id, self.subject, self.key_id)
    }
}
