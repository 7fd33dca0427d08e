//! Personal data in an immutable log (rules PR1–PR3, docs/rules/inbox.md): crypto-shredding.
//!
//! - **Pseudonyms.** A customer is known on the write path by a subject: the keyed HMAC of
//!   `<tenant>|<platform>|<platform id>` under a key derived from the deployment's master key, so
//!   record keys and unsealed fields never carry a platform id, and the same customer always gets
//!   the same subject.
//! - **Sealed fields.** Every personal field (message text, names, handles, platform ids) is a
//!   sealed string `s1.<key id>.<base64url(nonce ‖ ciphertext)>`: AES-256-GCM-SIV under that
//!   customer's data key. The nonce is derived from the key, a context (event id and field) and the
//!   plain text, so sealing is deterministic — a retried or replayed output has the same bytes —
//!   and GCM-SIV keeps that safe (a repeated nonce only reveals that two texts are equal).
//! - **Keys.** A customer's data keys are random, wrapped under the master key and kept in the
//!   compacted `privacy.keys` topic (`<tenant>|<subject>|<key id>`); [`KeyRing`] is every
//!   reader's table of them. Erasing the customer tombstones their keys: from then on, whatever
//!   the log still holds about them cannot be opened — by a live sink, a replay, or anyone.
//!
//! The master key comes from `SOUK_MASTER_KEY` (64 hex digits); it never leaves the process.

use crate::codec::Codec;
use crate::global_table::{Fold, GlobalTable, Tombstone};
use crate::topology::SourceTopic;
use aes_gcm_siv::aead::{Aead, KeyInit, Payload};
use aes_gcm_siv::{Aes256GcmSiv, Nonce};
use anyhow::{anyhow, Context};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use souk_schemas::privacy::{PrivacyKeyEvent, SubjectKeyIssued};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The environment variable holding the master key.
pub const MASTER_KEY_ENV: &str = "SOUK_MASTER_KEY";
/// What every sealed string starts with (format version 1).
pub const SEALED_PREFIX: &str = "s1.";

type HmacSha256 = Hmac<Sha256>;

/// Why a sealed value could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyError {
    /// Not a sealed string of a known format.
    #[error("not a sealed value")]
    Malformed,
    /// Its key is not (or no longer) in the ring: the customer was erased, or the key was never
    /// issued to this reader's knowledge.
    #[error("key {0} is not available (erased, or unknown)")]
    Shredded(String),
    /// The ciphertext does not authenticate under its key.
    #[error("sealed value does not authenticate")]
    Tampered,
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// AES-256-GCM-SIV with a nonce derived from `(key, context, plaintext)`: deterministic and safe.
fn seal_bytes(key: &[u8; 32], aad: &[u8], context: &str, plaintext: &[u8]) -> Vec<u8> {
    let nonce_material = hmac(key, &[b"nonce", context.as_bytes(), plaintext]);
    let nonce = Nonce::from_slice(&nonce_material[..12]);
    let cipher = Aes256GcmSiv::new(key.into());
    let sealed = cipher.encrypt(nonce, Payload { msg: plaintext, aad }).expect("AES-GCM-SIV encryption of an in-memory buffer cannot fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    out
}

fn open_bytes(key: &[u8; 32], aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, PrivacyError> {
    if bytes.len() < 12 + 16 {
        return Err(PrivacyError::Malformed);
    }
    let (nonce, sealed) = bytes.split_at(12);
    Aes256GcmSiv::new(key.into()).decrypt(Nonce::from_slice(nonce), Payload { msg: sealed, aad }).map_err(|_| PrivacyError::Tampered)
}

/// The deployment's master key, split by purpose (HKDF-SHA256): wrapping data keys, pseudonyms,
/// and sealing the deployment's own secrets (channel tokens).
#[derive(Clone)]
pub struct MasterKey {
    wrap: [u8; 32],
    pseudonym: [u8; 32],
    secrets: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(***)")
    }
}

impl MasterKey {
    /// A key from 64 hex digits (32 bytes).
    pub fn parse(text: &str) -> anyhow::Result<MasterKey> {
        let bytes = hex::decode(text.trim()).map_err(|_| anyhow!("{MASTER_KEY_ENV} must be 64 hex digits (32 random bytes)"))?;
        if bytes.len() != 32 {
            anyhow::bail!("{MASTER_KEY_ENV} must be 64 hex digits (32 random bytes), not {}", bytes.len() * 2);
        }
        let hk = hkdf::Hkdf::<Sha256>::new(Some(b"souk-master-key-v1"), &bytes);
        let derive = |purpose: &[u8]| {
            let mut out = [0u8; 32];
            hk.expand(purpose, &mut out).expect("32 bytes is a valid HKDF-SHA256 length");
            out
        };
        Ok(MasterKey { wrap: derive(b"wrap data keys"), pseudonym: derive(b"pseudonyms"), secrets: derive(b"deployment secrets") })
    }

    /// The key in `SOUK_MASTER_KEY`.
    pub fn from_env() -> anyhow::Result<MasterKey> {
        let text = std::env::var(MASTER_KEY_ENV)
            .map_err(|_| anyhow!("{MASTER_KEY_ENV} is not set: the social inbox seals personal data with keys wrapped under it (64 hex digits; `./dev env` sets one for the local stack)"))?;
        MasterKey::parse(&text)
    }

    /// The customer's subject: 32 hex digits of the keyed HMAC of their platform identity.
    pub fn pseudonym(&self, tenant: &str, platform: &str, platform_id: &str) -> String {
        hex::encode(&hmac(&self.pseudonym, &[tenant.as_bytes(), platform.as_bytes(), platform_id.as_bytes()])[..16])
    }

    /// The data key wrapped for `privacy.keys` (base64).
    pub fn wrap(&self, key: &SubjectKey) -> String {
        STANDARD.encode(seal_bytes(&self.wrap, key.id.as_bytes(), &key.id, &key.bytes))
    }

    /// The data key `key_id` from its wrapped form.
    pub fn unwrap(&self, key_id: &str, wrapped: &str) -> Result<SubjectKey, PrivacyError> {
        let bytes = STANDARD.decode(wrapped).map_err(|_| PrivacyError::Malformed)?;
        let plain = open_bytes(&self.wrap, key_id.as_bytes(), &bytes)?;
        let bytes: [u8; 32] = plain.try_into().map_err(|_| PrivacyError::Malformed)?;
        Ok(SubjectKey { id: key_id.to_string(), bytes })
    }

    /// Seals one of the deployment's own secrets (a channel's access token) for a topic.
    pub fn seal_secret(&self, context: &str, secret: &str) -> String {
        format!("{SEALED_PREFIX}master.{}", URL_SAFE_NO_PAD.encode(seal_bytes(&self.secrets, b"master", context, secret.as_bytes())))
    }

    /// Opens what [`MasterKey::seal_secret`] sealed.
    pub fn open_secret(&self, sealed: &str) -> Result<String, PrivacyError> {
        let body = sealed.strip_prefix(SEALED_PREFIX).and_then(|s| s.strip_prefix("master.")).ok_or(PrivacyError::Malformed)?;
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| PrivacyError::Malformed)?;
        String::from_utf8(open_bytes(&self.secrets, b"master", &bytes)?).map_err(|_| PrivacyError::Malformed)
    }
}

/// One customer's data key.
#[derive(Clone, PartialEq, Eq)]
pub struct SubjectKey {
    id: String,
    bytes: [u8; 32],
}

impl std::fmt::Debug for SubjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SubjectKey({}, ***)", self.id)
    }
}

impl SubjectKey {
    /// A fresh random key (the edge that first meets a customer issues it).
    pub fn generate() -> SubjectKey {
        SubjectKey { id: uuid::Uuid::new_v4().simple().to_string(), bytes: rand::random() }
    }

    /// A key from fixed bytes (tests).
    pub fn from_bytes(id: &str, bytes: [u8; 32]) -> SubjectKey {
        SubjectKey { id: id.to_string(), bytes }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Seals `plaintext`; `context` (e.g. `<event id>/<field>`) makes equal texts of different
    /// events seal differently.
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        format!("{SEALED_PREFIX}{}.{}", self.id, URL_SAFE_NO_PAD.encode(seal_bytes(&self.bytes, self.id.as_bytes(), context, plaintext.as_bytes())))
    }

    /// Opens a value this key sealed.
    pub fn open(&self, sealed: &str) -> Result<String, PrivacyError> {
        let (key_id, body) = split_sealed(sealed)?;
        if key_id != self.id {
            return Err(PrivacyError::Shredded(key_id.to_string()));
        }
        let bytes = URL_SAFE_NO_PAD.decode(body).map_err(|_| PrivacyError::Malformed)?;
        String::from_utf8(open_bytes(&self.bytes, self.id.as_bytes(), &bytes)?).map_err(|_| PrivacyError::Malformed)
    }
}

fn split_sealed(sealed: &str) -> Result<(&str, &str), PrivacyError> {
    sealed.strip_prefix(SEALED_PREFIX).and_then(|rest| rest.split_once('.')).ok_or(PrivacyError::Malformed)
}

/// The id of the key that sealed `sealed`.
pub fn sealed_key_id(sealed: &str) -> Option<&str> {
    split_sealed(sealed).ok().map(|(id, _)| id)
}

/// A row of the key ring: a key by `k/<tenant>/<key id>`, or a subject's newest key id by
/// `s/<tenant>|<subject>`.
#[derive(Debug, Clone)]
pub enum RingRow {
    /// A data key and whose it is.
    Key { subject: String, key: Arc<SubjectKey> },
    /// The key a subject's new data is sealed with.
    Current(String),
}

fn key_row(tenant: &str, key_id: &str) -> String {
    format!("k/{tenant}/{key_id}")
}

fn subject_row(tenant: &str, subject: &str) -> String {
    format!("s/{tenant}|{subject}")
}

/// Folds one `SubjectKeyIssued` into `rows` (shared by the table and local inserts).
fn put(rows: &mut HashMap<String, RingRow>, tenant: &str, subject: &str, key: Arc<SubjectKey>) {
    rows.insert(subject_row(tenant, subject), RingRow::Current(key.id.clone()));
    rows.insert(key_row(tenant, &key.id), RingRow::Key { subject: subject.to_string(), key });
}

/// Every customer data key the log holds, unwrapped: the table of `privacy.keys`, with
/// tombstones applied (an erased customer's keys disappear from every reader).
pub struct KeyRing {
    table: GlobalTable<PrivacyKeyEvent, RingRow>,
    master: MasterKey,
}

impl KeyRing {
    /// Reads `source` (`privacy.keys`) whole; returns once caught up.
    pub async fn load(bootstrap: &str, codec: Arc<Codec>, source: &SourceTopic, master: MasterKey, deadline: Duration) -> anyhow::Result<KeyRing> {
        let unwrapping = master.clone();
        let fold: Fold<PrivacyKeyEvent, RingRow> = Box::new(move |rows, _key, event| {
            let PrivacyKeyEvent::SubjectKeyIssued(issued) = event;
            match unwrapping.unwrap(&issued.key_id, &issued.wrapped_key) {
                Ok(key) => put(rows, &issued.envelope.tenant_id, &issued.subject, Arc::new(key)),
                Err(e) => tracing::warn!(key_id = %issued.key_id, error = %e, "privacy.keys: a key that does not unwrap under this master key is ignored"),
            }
        });
        let tombstone: Tombstone<RingRow> = Box::new(|rows, key| {
            let mut parts = key.splitn(3, '|');
            let (Some(tenant), Some(subject), Some(key_id)) = (parts.next(), parts.next(), parts.next()) else { return };
            rows.remove(&key_row(tenant, key_id));
            let current = subject_row(tenant, subject);
            if matches!(rows.get(&current), Some(RingRow::Current(id)) if id == key_id) {
                rows.remove(&current);
            }
        });
        let table = GlobalTable::load_with_tombstones(bootstrap, codec, &source.topic, source.partitions, fold, Some(tombstone), deadline).await.context("loading the key ring")?;
        Ok(KeyRing { table, master })
    }

    /// The read barrier: returns once every key committed before the call is in the ring.
    pub async fn catch_up(&self, deadline: Duration) -> anyhow::Result<()> {
        self.table.catch_up(deadline).await
    }

    /// The master key the ring unwraps with.
    pub fn master(&self) -> &MasterKey {
        &self.master
    }

    /// The key new data of `subject` is sealed with, if any.
    pub fn current(&self, tenant: &str, subject: &str) -> Option<Arc<SubjectKey>> {
        self.table.read(|rows| {
            let Some(RingRow::Current(id)) = rows.get(&subject_row(tenant, subject)) else { return None };
            match rows.get(&key_row(tenant, id)) {
                Some(RingRow::Key { key, .. }) => Some(key.clone()),
                _ => None,
            }
        })
    }

    /// The key `key_id` of `tenant`.
    pub fn key(&self, tenant: &str, key_id: &str) -> Option<Arc<SubjectKey>> {
        self.table.read(|rows| match rows.get(&key_row(tenant, key_id)) {
            Some(RingRow::Key { key, .. }) => Some(key.clone()),
            _ => None,
        })
    }

    /// Every key id of `subject` (what erasing them tombstones).
    pub fn keys_of(&self, tenant: &str, subject: &str) -> Vec<String> {
        let prefix = format!("k/{tenant}/");
        let mut ids: Vec<String> = self
            .table
            .read(|rows| rows.iter().filter_map(|(row, v)| matches!(v, RingRow::Key { subject: s, .. } if s == subject).then(|| row.strip_prefix(&prefix).map(str::to_string)).flatten()).collect());
        ids.sort();
        ids
    }

    /// Opens a value sealed under any key of `tenant` in the ring.
    pub fn open(&self, tenant: &str, sealed: &str) -> Result<String, PrivacyError> {
        let key_id = sealed_key_id(sealed).ok_or(PrivacyError::Malformed)?;
        self.key(tenant, key_id).ok_or_else(|| PrivacyError::Shredded(key_id.to_string()))?.open(sealed)
    }

    /// Opens an optional sealed value.
    pub fn open_opt(&self, tenant: &str, sealed: Option<&str>) -> Result<Option<String>, PrivacyError> {
        sealed.map(|s| self.open(tenant, s)).transpose()
    }

    /// Puts a key this process just made durable into its own ring (the record comes back later
    /// and changes nothing).
    pub fn insert_local(&self, issued: &SubjectKeyIssued, key: SubjectKey) {
        self.table.write(|rows| put(rows, &issued.envelope.tenant_id, &issued.subject, Arc::new(key)));
    }

    /// Drops `subject`'s keys from this process's own ring once their tombstones are durable (the
    /// tombstones come back later and change nothing).
    pub fn forget_local(&self, tenant: &str, subject: &str) {
        let ids = self.keys_of(tenant, subject);
        self.table.write(|rows| {
            for id in &ids {
                rows.remove(&key_row(tenant, id));
            }
            rows.remove(&subject_row(tenant, subject));
        });
    }

    /// The `SubjectKeyIssued` record for a fresh key of `subject`, and the key.
    pub fn issue(&self, tenant: &str, subject: &str, occurred_at: i64) -> (SubjectKeyIssued, SubjectKey) {
        let key = SubjectKey::generate();
        let envelope = souk_schemas::Envelope::external(tenant, &format!("privacy-key/{subject}/{}", key.id), occurred_at);
        (SubjectKeyIssued { envelope, subject: subject.to_string(), key_id: key.id.clone(), wrapped_key: self.master.wrap(&key) }, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    #[test]
    fn seal_is_deterministic_and_opens_only_under_its_key() {
        let key = SubjectKey::from_bytes("k1", [7; 32]);
        let a = key.seal("e1/text", "Do you have this in size M?");
        assert_eq!(a, key.seal("e1/text", "Do you have this in size M?"), "same context and text ⇒ same bytes (replays are identical)");
        assert_ne!(a, key.seal("e2/text", "Do you have this in size M?"), "another event ⇒ another nonce");
        assert!(a.starts_with("s1.k1.") && !a.contains("size"));
        assert_eq!(key.open(&a).unwrap(), "Do you have this in size M?");
        assert_eq!(SubjectKey::from_bytes("k1", [8; 32]).open(&a), Err(PrivacyError::Tampered));
        assert_eq!(SubjectKey::from_bytes("k2", [7; 32]).open(&a), Err(PrivacyError::Shredded("k1".into())));
        let mut tampered = a.clone();
        tampered.pop();
        tampered.push(if a.ends_with('A') { 'B' } else { 'A' });
        assert!(key.open(&tampered).is_err());
        assert_eq!(key.open("plain text"), Err(PrivacyError::Malformed));
        assert_eq!(sealed_key_id(&a), Some("k1"));
    }

    #[test]
    fn keys_wrap_under_the_master_key_only() {
        let master = MasterKey::parse(MASTER).unwrap();
        let key = SubjectKey::generate();
        let wrapped = master.wrap(&key);
        assert_eq!(master.unwrap(key.id(), &wrapped).unwrap(), key);
        assert!(master.unwrap("other-id", &wrapped).is_err(), "the key id is authenticated");
        let other = MasterKey::parse(&MASTER.replace("00", "01")).unwrap();
        assert!(other.unwrap(key.id(), &wrapped).is_err());
        assert!(MasterKey::parse("abc").is_err() && MasterKey::parse(&MASTER[..62]).is_err());
        assert_eq!(format!("{master:?} {key:?}").matches("***").count(), 2, "never printed");
    }

    #[test]
    fn pseudonyms_are_stable_per_tenant_and_platform() {
        let master = MasterKey::parse(MASTER).unwrap();
        let p = master.pseudonym("shop", "instagram", "1789");
        assert_eq!(p.len(), 32);
        assert_eq!(p, master.pseudonym("shop", "instagram", "1789"));
        assert_ne!(p, master.pseudonym("other", "instagram", "1789"));
        assert_ne!(p, master.pseudonym("shop", "whatsapp", "1789"));
        assert!(!p.contains("1789"));
    }

    #[test]
    fn deployment_secrets_seal_under_the_master_key() {
        let master = MasterKey::parse(MASTER).unwrap();
        let sealed = master.seal_secret("shop/instagram/token", "IGQVJ-token");
        assert!(!sealed.contains("IGQVJ"));
        assert_eq!(master.open_secret(&sealed).unwrap(), "IGQVJ-token");
        assert!(MasterKey::parse(&MASTER.replace("00", "02")).unwrap().open_secret(&sealed).is_err());
    }
}
