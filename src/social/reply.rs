//! The `social-reply` stage (rules IB5): every `DraftRequested` on `social.drafts` becomes
//! one `DraftGenerated` on `social.inputs`, under the conversation's key. It opens the message
//! with the key ring (caught up before every batch), drafts offline ([`super::drafter`]), seals
//! the draft under the same customer's key and logs it with the drafter's version and the
//! tenant's confidence threshold — the conversation only ever reads that event, so a replay never
//! drafts again and judges every draft as it was judged live. Availability questions are answered
//! from the `products.availability` table, and the tenant's active business rules from `rules.table`
//! applied ([`super::rules`]), both caught up before every batch like the ring. Past 50 messages it also keeps a
//! summary: the customer's earlier questions, bounded. A message whose key is gone (the customer
//! was erased) is not answered.

use super::availability::{self, AvailabilityTable};
use super::drafter::{draft_reply, DRAFTER};
use super::rules::{self as business_rules, RulesTable};
use serde::{Deserialize, Serialize};
use souk_runtime::privacy::{sealed_key_id, KeyRing, PrivacyError};
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_runtime::tenants::{Tenants, DEFAULT_CONFIDENCE_THRESHOLD};
use souk_schemas::social::{DraftEvent, DraftGenerated, DraftRequested};
use std::sync::Arc;
use std::time::Duration;

/// The stage's name in topology.toml.
pub const NAME: &str = "social-reply";
/// Characters of summary kept.
pub const SUMMARY_CHARS: usize = 1000;

/// What the stage writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReplyOutput {
    /// → `replies` (`social.inputs`).
    DraftGenerated(DraftGenerated),
}

souk_schemas::stream_event!(ReplyOutput { DraftGenerated });

/// The stage: the key ring, the products' availability and the tenants' thresholds.
pub struct ReplyStage {
    ring: Arc<KeyRing>,
    products: Arc<AvailabilityTable>,
    rules: Arc<RulesTable>,
    tenants: Arc<Tenants>,
}

impl ReplyStage {
    /// A stage opening and sealing with `ring`, answering availability from `products`, applying
    /// the active `rules`, judging by `tenants`' thresholds.
    pub fn new(ring: Arc<KeyRing>, products: Arc<AvailabilityTable>, rules: Arc<RulesTable>, tenants: Arc<Tenants>) -> ReplyStage {
        ReplyStage { ring, products, rules, tenants }
    }

    /// The customer's earlier words in the window (oldest first); a message whose key is gone is
    /// left out.
    fn earlier(&self, tenant: &str, request: &DraftRequested) -> Vec<String> {
        request.window.iter().filter(|m| m.role == "customer").filter_map(|m| self.ring.open(tenant, &m.text).ok()).collect()
    }

    /// The summary after `request`: the earlier summary and the customer's words that left the
    /// window, newest kept when it is too long. Only once the conversation is past 50 messages.
    fn summary(&self, tenant: &str, request: &DraftRequested) -> Result<Option<String>, PrivacyError> {
        if request.message_count <= souk_processors::social::conversation::SUMMARY_AFTER || request.evicted.is_empty() {
            return Ok(None);
        }
        let mut text = self.ring.open_opt(tenant, request.summary.as_deref())?.unwrap_or_default();
        for m in request.evicted.iter().filter(|m| m.role == "customer") {
            let words = self.ring.open(tenant, &m.text)?;
            if !words.trim().is_empty() {
                if !text.is_empty() {
                    text.push_str(" · ");
                }
                text.push_str(words.trim());
            }
        }
        let count = text.chars().count();
        if count > SUMMARY_CHARS {
            text = text.chars().skip(count - SUMMARY_CHARS).collect();
        }
        Ok(Some(text))
    }
}

impl Stage for ReplyStage {
    type Input = DraftEvent;
    type Output = ReplyOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn before_batch(&self) -> Result<(), StageError> {
        self.ring.catch_up(Duration::from_secs(10)).await.map_err(StageError::Transient)?;
        self.products.catch_up(Duration::from_secs(10)).await.map_err(StageError::Transient)?;
        self.rules.catch_up(Duration::from_secs(10)).await.map_err(StageError::Transient)
    }

    async fn resolve(&self, key: &str, input: &DraftEvent) -> Result<Vec<StageOutput<ReplyOutput>>, StageError> {
        let DraftEvent::DraftRequested(request) = input;
        let tenant = &request.envelope.tenant_id;
        let key_id = sealed_key_id(&request.text).ok_or_else(|| StageError::Permanent("the message text is not sealed".into()))?;
        let Some(subject_key) = self.ring.key(tenant, key_id) else {
            tracing::info!(reply_id = %request.reply_id, "the customer's key is gone (erased): not answered");
            return Ok(vec![]);
        };
        let text = subject_key.open(&request.text).map_err(|e| StageError::Permanent(format!("message text: {e}")))?;
        let draft = draft_reply(&text, &self.earlier(tenant, request), &availability::of_tenant(&self.products, tenant));
        let (draft, rule_ids) = business_rules::apply(draft, &text, &business_rules::active_of_tenant(&self.rules, tenant));
        let summary = match self.summary(tenant, request) {
            Ok(summary) => summary,
            Err(PrivacyError::Shredded(_)) => None,
            Err(e) => return Err(StageError::Permanent(format!("summary: {e}"))),
        };
        let envelope = request.envelope.derive(NAME, 0, request.envelope.occurred_at);
        let threshold = self.tenants.get(tenant).map_or(DEFAULT_CONFIDENCE_THRESHOLD, |t| t.confidence_threshold());
        let generated = DraftGenerated {
            text: subject_key.seal(&format!("{}/draft", envelope.event_id), &draft.text),
            summary: summary.map(|s| subject_key.seal(&format!("{}/summary", envelope.event_id), &s)),
            envelope,
            reply_id: request.reply_id.clone(),
            confidence: draft.confidence,
            threshold,
            drafter: DRAFTER.to_string(),
            rule_ids,
            reason: draft.reason,
        };
        Ok(vec![StageOutput { output: "replies", key: key.to_string(), event: ReplyOutput::DraftGenerated(generated) }])
    }
}
