//! Who agreed to WhatsApp messages (the source's WhatsApp module: "users must opt in before they
//! receive WhatsApp messages"; it gates all outbound WhatsApp). A global table of
//! `whatsapp.consent`, caught up before every send, so an opt-out committed before the attempt is
//! always honoured. Explicit consent (STOP / START, a declared partner's `opted_in`) outranks the
//! implicit consent of a customer's own message; nothing known means no consent.

use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::topology::SourceTopic;
use souk_schemas::key::CustomerKey;
use souk_schemas::whatsapp::{ConsentChanged, ConsentEvent};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Reason prefix of a message refused for want of consent (also its escalation kind).
pub const NO_OPT_IN: &str = "NO_OPT_IN";

/// How long loading the table and each barrier may take.
const DEADLINE: Duration = Duration::from_secs(30);

/// What is known of one person's consent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Consent {
    /// The latest explicit choice.
    pub explicit: Option<bool>,
    /// That choice was theirs (STOP / START), not a declaration about them.
    pub by_keyword: bool,
    /// They wrote to the tenant.
    pub wrote: bool,
}

impl Consent {
    /// Whether they may be messaged.
    pub fn allows(&self) -> bool {
        self.explicit.unwrap_or(self.wrote)
    }

    /// `self` after `change`.
    pub fn after(self, change: &ConsentChanged) -> Consent {
        if change.is_explicit() {
            Consent { explicit: Some(change.opted_in), by_keyword: change.source == ConsentChanged::KEYWORD, ..self }
        } else {
            Consent { wrote: self.wrote || change.opted_in, ..self }
        }
    }
}

/// The consent table, by `<tenant>|<wa_id>`.
pub struct Consents {
    table: GlobalTable<ConsentEvent, Consent>,
}

impl Consents {
    /// Loads `whatsapp.consent` from the beginning.
    pub async fn load(bootstrap: &str, codec: Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<Consents> {
        let fold = Box::new(|rows: &mut HashMap<String, Consent>, _key: &str, ConsentEvent::ConsentChanged(c): ConsentEvent| {
            let row = rows.entry(CustomerKey::of(&c.envelope.tenant_id, &c.wa_id)).or_default();
            *row = row.after(&c);
        });
        Ok(Consents { table: GlobalTable::of(bootstrap, codec, topic, fold, DEADLINE).await? })
    }

    /// Why `to` may not be messaged by `tenant` as of every consent committed before the call,
    /// or `None` when they may.
    pub async fn refusal(&self, tenant: &str, to: &str) -> anyhow::Result<Option<String>> {
        self.table.catch_up(DEADLINE).await?;
        let consent = self.table.read(|rows| rows.get(&CustomerKey::of(tenant, to)).copied()).unwrap_or_default();
        Ok((!consent.allows()).then(|| {
            if consent.by_keyword {
                format!("{NO_OPT_IN}: {to} opted out of WhatsApp messages; nothing was sent")
            } else {
                format!("{NO_OPT_IN}: {to} has not agreed to receive WhatsApp messages from us; nothing was sent")
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use souk_schemas::Envelope;

    fn change(source: &str, opted_in: bool) -> ConsentChanged {
        ConsentChanged { envelope: Envelope::external("acme", "e", 1), wa_id: "9198".into(), opted_in, source: source.into() }
    }

    const MESSAGE: &str = ConsentChanged::CUSTOMER_MESSAGE;
    const KEYWORD: &str = ConsentChanged::KEYWORD;
    const DECLARED: &str = ConsentChanged::PARTNER_DECLARED;

    #[rstest]
    #[case::nothing_known(vec![], false)]
    #[case::wrote_to_us(vec![(MESSAGE, true)], true)]
    #[case::stop_after_writing(vec![(MESSAGE, true), (KEYWORD, false)], false)]
    #[case::writing_after_stop_is_not_start(vec![(KEYWORD, false), (MESSAGE, true)], false)]
    #[case::start_again(vec![(KEYWORD, false), (KEYWORD, true)], true)]
    #[case::declared_partner(vec![(DECLARED, true)], true)]
    #[case::partner_without_opt_in_who_writes(vec![(DECLARED, false), (MESSAGE, true)], false)]
    fn consent_follows_the_latest_explicit_choice_else_a_message(#[case] changes: Vec<(&str, bool)>, #[case] allowed: bool) {
        let consent = changes.iter().fold(Consent::default(), |c, (source, opted_in)| c.after(&change(source, *opted_in)));
        assert_eq!(consent.allows(), allowed);
    }
}
