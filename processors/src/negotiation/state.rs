//! The state of one bundle's negotiations (key `<tenant>|<bundle id>`): each negotiation by id,
//! with where it stands and what it is waiting for.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_schemas::bundles::{BundleLeg, BundleRequested};
use souk_schemas::orchestration::{AlternativeFound, NegotiationRequested};
use std::collections::BTreeMap;

/// Where a negotiation stands (rules N1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// The partner has the request and has not answered usably yet.
    AwaitingPartnerReply,
    /// The user is asked about the partner's counter-offer (24 h).
    AwaitingUserApproval,
    /// The partner refused a product change; re-sourcing is looking for a replacement.
    Resourcing,
    /// The user is asked about the replacement re-sourcing found (24 h).
    AwaitingRecoveryApproval,
    /// The user approved the replacement; its partner has the order and has not confirmed yet.
    OrderingAlternative,
    /// The partner (or the user, for a counter-offer) agreed. Final.
    Accepted,
    /// The partner refused a change that is not re-sourced. Final.
    Rejected,
    /// The user turned the counter-offer down; the leg stays as it was (rules B3a). Final.
    RejectedByUser,
    /// The leg moved to the replacement partner (rules B3). Final.
    RecoveredAutonomously,
    /// A human has it (rules B7). Final for the machine.
    Escalated,
}

impl Status {
    /// The logged name.
    pub fn name(self) -> &'static str {
        match self {
            Status::AwaitingPartnerReply => "awaiting_partner_reply",
            Status::AwaitingUserApproval => "awaiting_user_approval",
            Status::Resourcing => "resourcing",
            Status::AwaitingRecoveryApproval => "awaiting_recovery_approval",
            Status::OrderingAlternative => "ordering_alternative",
            Status::Accepted => "accepted",
            Status::Rejected => "rejected",
            Status::RejectedByUser => "rejected_by_user",
            Status::RecoveredAutonomously => "recovered_autonomously",
            Status::Escalated => "escalated",
        }
    }

    /// No further input changes it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Accepted | Status::Rejected | Status::RejectedByUser | Status::RecoveredAutonomously | Status::Escalated)
    }
}

/// What is proposed to the user now: a counter-offer's item and price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proposal {
    /// The item offered.
    pub item: String,
    /// Its price, when the partner named one (or a change of the original price).
    pub price: Option<Decimal>,
}

/// One negotiation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Negotiation {
    /// The request that opened it (what, with whom, by when).
    pub request: NegotiationRequested,
    /// Where it stands.
    pub status: Status,
    /// Counter-offers received (the 3rd is a deadlock, rules B1).
    pub counter_offers: i32,
    /// Replies that could not be read, in a row (the 2nd escalates, rules N3).
    pub unclear_replies: i32,
    /// The partner has answered at least once (the urgency rule needs "no reply", rules B4).
    pub partner_replied: bool,
    /// The machine stopped answering this partner (rules N4).
    pub paused: bool,
    /// A counter-offer put to the user.
    pub proposal: Option<Proposal>,
    /// The replacement re-sourcing found.
    pub alternative: Option<AlternativeFound>,
    /// Why it ended or escalated.
    pub reason: Option<String>,
    /// The bundle leg it is about, when it was opened from the bundle's chat (destination and
    /// timing for re-sourcing).
    #[serde(default)]
    pub leg: Option<BundleLeg>,
    /// Notes for the user's thread decided in the current step, told right after the snapshot
    /// that shows the state they describe — so a reader of the projections never sees a note
    /// before its negotiation's state. Drained by every step; never stored.
    #[serde(skip)]
    pub notes: Vec<(String, String)>,
}

impl Negotiation {
    /// A negotiation just sent to its partner.
    pub fn opened(request: NegotiationRequested) -> Negotiation {
        Negotiation {
            request,
            status: Status::AwaitingPartnerReply,
            counter_offers: 0,
            unclear_replies: 0,
            partner_replied: false,
            paused: false,
            proposal: None,
            alternative: None,
            reason: None,
            leg: None,
            notes: Vec::new(),
        }
    }

    /// The partner the negotiation is with now (the replacement's once it is being ordered).
    pub fn current_partner(&self) -> &str {
        match (&self.status, &self.alternative) {
            (Status::OrderingAlternative, Some(alt)) => &alt.partner_id,
            _ => &self.request.partner_id,
        }
    }

    /// The WhatsApp number of [`Self::current_partner`].
    pub fn current_contact(&self) -> &str {
        match (&self.status, &self.alternative) {
            (Status::OrderingAlternative, Some(alt)) => &alt.partner_contact,
            _ => &self.request.partner_contact,
        }
    }

    /// Waiting for a reply from `partner`.
    pub fn waits_for_partner(&self, partner: &str) -> bool {
        matches!(self.status, Status::AwaitingPartnerReply | Status::OrderingAlternative) && self.current_partner() == partner
    }
}

/// A bundle as requested, with its legs as they are now (a re-sourced leg replaced).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// The request (user, thread, start, legs as first ordered).
    pub request: BundleRequested,
    /// The legs now.
    pub legs: Vec<BundleLeg>,
}

/// One bundle and every negotiation about its legs, by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NegotiationState {
    /// By negotiation id.
    pub negotiations: BTreeMap<String, Negotiation>,
    /// The bundle, once requested (negotiations can also be opened directly, without one).
    #[serde(default)]
    pub bundle: Option<Bundle>,
    /// The bundle's checkout (the latest; a cancelled one may be followed by another).
    #[serde(default)]
    pub checkout: Option<super::checkout::Checkout>,
}
