//! Inputs the negotiation tests share: envelopes of tenant `acme` and a partner's reply in bundle
//! `b1`.
#![allow(dead_code)]

use souk_schemas::orchestration::{NegotiationInput, PartnerReplied};
use souk_schemas::Envelope;

/// An external envelope of tenant `acme` with id `id` at `t`.
pub fn at(id: &str, t: i64) -> Envelope {
    Envelope::external("acme", id, t)
}

/// `partner` writes `text` in bundle `b1` at `t` (no negotiation id: the processor finds it).
pub fn reply(partner: &str, text: &str, t: i64) -> NegotiationInput {
    NegotiationInput::PartnerReplied(PartnerReplied {
        envelope: at(&format!("reply-{partner}-{t}"), t),
        bundle_id: "b1".into(),
        partner_id: partner.into(),
        negotiation_id: None,
        text: Some(text.into()),
        button_id: None,
    })
}
