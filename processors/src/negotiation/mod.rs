//! Negotiation with a bundle leg's partner (rules N1–N8, B1–B4, B7): one keyed state machine per
//! `<tenant>|<bundle id>` holding every negotiation about that bundle's legs.
//!
//! A `NegotiationRequested` sends the partner the change with Accept / Decline / Modify buttons
//! and arms the reply timer (15 min just-in-time, else 60) and the urgency timer (2 h before the
//! leg). Each `PartnerReplied` is read by [`classify`] and the reading logged; acceptance ends it,
//! a counter-offer goes to the user (24 h; the 3rd is a deadlock), frustration hands it to a human
//! and pauses the machine, and a refused product change asks re-sourcing for a replacement before
//! anything is cancelled. Pure: time is `ctx.now()`, ids derive from the causing events.

pub mod bundle;
pub mod checkout;
pub mod classify;
mod flow;
pub mod state;
mod texts;

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::bundles::{BundleUpdated, ConflictSimulated};
use souk_schemas::key::BundleKey;
use souk_schemas::orchestration::{LegReplaced, NegotiationInput, NegotiationUpdated, PartnerReplyClassified, ResourcingRequested, UserNotified};
use souk_schemas::orders::EscalationRaised;
use souk_schemas::payments::{CheckoutFinished, CheckoutUpdated, PaymentCommand};
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::StreamEvent;

pub use classify::{classify, Reading, CLASSIFIER};
pub use state::{Negotiation, NegotiationState, Status};

/// The processor's name in topology.toml.
pub const NAME: &str = "negotiation";

/// One minute of stream time in ms.
pub const MINUTE_MS: i64 = 60_000;
/// Reply timer of a just-in-time leg (rules B4).
pub const JIT_REPLY_MINUTES: i64 = 15;
/// Reply timer of any other leg (rules B4).
pub const REPLY_MINUTES: i64 = 60;
/// How long the user has to answer a proposal (rules B4).
pub const APPROVAL_MINUTES: i64 = 24 * 60;
/// A leg this close to execution with no partner reply is urgent (rules B4).
pub const URGENCY_MINUTES: i64 = 120;
/// The counter-offer that makes a deadlock (rules B1).
pub const DEADLOCK_AT: i32 = 3;
/// Unreadable replies in a row that hand the negotiation to a human (rules N3).
pub const UNCLEAR_LIMIT: i32 = 2;

/// The negotiation state machine; stateless itself, one instance serves every bundle.
#[derive(Debug, Clone, Copy, Default)]
pub struct NegotiationProcessor;

/// What negotiations emit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum NegotiationOutput {
    /// Snapshot after every change → `events`.
    NegotiationUpdated(NegotiationUpdated),
    /// How a reply was read → `events`.
    PartnerReplyClassified(PartnerReplyClassified),
    /// A replacement is wanted → `events` (read by re-sourcing).
    ResourcingRequested(ResourcingRequested),
    /// A message for the user's bundle thread → `events`.
    UserNotified(UserNotified),
    /// The leg moved to another partner → `events`.
    LegReplaced(LegReplaced),
    /// The bundle's snapshot with its timeline → `events`.
    BundleUpdated(BundleUpdated),
    /// What adding an item does to a leg's deadline → `events`.
    ConflictSimulated(ConflictSimulated),
    /// A message to a partner → `outbound` (`whatsapp.outbound`).
    OutboundMessageRequested(OutboundMessageRequested),
    /// A human must take over → `escalations`.
    EscalationRaised(EscalationRaised),
    /// The checkout's snapshot → `events`.
    CheckoutUpdated(CheckoutUpdated),
    /// A call for the payment provider → `payments`.
    PaymentCommand(PaymentCommand),
    /// A standing intent's checkout ended → `intents`.
    CheckoutFinished(CheckoutFinished),
}

souk_schemas::stream_event!(NegotiationOutput {
    NegotiationUpdated,
    PartnerReplyClassified,
    ResourcingRequested,
    UserNotified,
    LegReplaced,
    BundleUpdated,
    ConflictSimulated,
    OutboundMessageRequested,
    EscalationRaised,
    CheckoutUpdated,
    PaymentCommand,
    CheckoutFinished
});

/// Timer ids: `<kind>/<negotiation id>`.
pub mod timer {
    /// The partner's time to answer.
    pub const REPLY: &str = "reply";
    /// Two hours before the leg.
    pub const URGENCY: &str = "urgency";
    /// The user's time to answer a proposal.
    pub const APPROVAL: &str = "approval";

    /// The id of timer `kind` of negotiation `negotiation_id`.
    pub fn id(kind: &str, negotiation_id: &str) -> String {
        format!("{kind}/{negotiation_id}")
    }
}

impl Processor for NegotiationProcessor {
    type State = NegotiationState;
    type Input = NegotiationInput;
    type Output = NegotiationOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut NegotiationState, event: &NegotiationInput, ctx: &mut Ctx<NegotiationOutput>) -> Result<(), Rejection> {
        if event.is_tick() {
            return Ok(());
        }
        let key_text = ctx.key().to_string();
        let key = BundleKey::parse(&key_text).map_err(|e| Rejection::new("BAD_KEY", e.to_string()))?;
        let tenant = &event.envelope().tenant_id;
        if tenant != key.tenant {
            return Err(Rejection::new("TENANT_MISMATCH", format!("event tenant {tenant:?} on key {key_text:?}")));
        }
        let bundle = match event {
            NegotiationInput::NegotiationRequested(e) => &e.bundle_id,
            NegotiationInput::PartnerReplied(e) => &e.bundle_id,
            NegotiationInput::UserDecided(e) => &e.bundle_id,
            NegotiationInput::AlternativeFound(e) => &e.bundle_id,
            NegotiationInput::NoAlternativeFound(e) => &e.bundle_id,
            NegotiationInput::BundleRequested(e) => &e.bundle_id,
            NegotiationInput::ChatIntentResolved(e) => &e.bundle_id,
            NegotiationInput::HumanIntervened(e) => &e.bundle_id,
            NegotiationInput::ItemAddRequested(e) => &e.bundle_id,
            NegotiationInput::CheckoutRequested(e) => &e.bundle_id,
            NegotiationInput::PaymentResult(e) => &e.bundle_id,
            NegotiationInput::LegDelivered(e) => &e.bundle_id,
            NegotiationInput::Tick(_) => return Ok(()),
        };
        if bundle != key.bundle_id {
            return Err(Rejection::new("BUNDLE_MISMATCH", format!("event for bundle {bundle:?} under key {key_text:?}")));
        }
        match event {
            NegotiationInput::NegotiationRequested(e) => flow::requested(state, e, ctx),
            NegotiationInput::PartnerReplied(e) => flow::partner_replied(state, e, ctx),
            NegotiationInput::UserDecided(e) => flow::user_decided(state, e, ctx),
            NegotiationInput::AlternativeFound(e) => flow::alternative_found(state, e, ctx),
            NegotiationInput::NoAlternativeFound(e) => flow::no_alternative(state, e, ctx),
            NegotiationInput::BundleRequested(e) => bundle::requested(state, e, ctx),
            NegotiationInput::ChatIntentResolved(e) => bundle::chat(state, e, ctx),
            NegotiationInput::HumanIntervened(e) => flow::intervened(state, e, ctx),
            NegotiationInput::ItemAddRequested(e) => bundle::item_added(state, e, ctx),
            NegotiationInput::CheckoutRequested(e) => checkout::requested(state, e, ctx),
            NegotiationInput::PaymentResult(e) => checkout::result(state, e, ctx),
            NegotiationInput::LegDelivered(e) => checkout::delivered(state, e, ctx),
            NegotiationInput::Tick(_) => Ok(()),
        }
    }

    fn on_timer(&self, state: &mut NegotiationState, timer_id: &str, ctx: &mut Ctx<NegotiationOutput>) {
        match timer_id.split_once('/') {
            Some((checkout::CHAIN_TIMER, checkout_id)) => checkout::chain_completed(state, checkout_id, ctx),
            Some((kind, negotiation_id)) => flow::timer_fired(state, kind, negotiation_id, ctx),
            None => {}
        }
    }

    fn output_name(&self, output: &NegotiationOutput) -> &'static str {
        match output {
            NegotiationOutput::OutboundMessageRequested(_) => "outbound",
            NegotiationOutput::EscalationRaised(_) => "escalations",
            NegotiationOutput::PaymentCommand(_) => "payments",
            NegotiationOutput::CheckoutFinished(_) => "intents",
            _ => "events",
        }
    }
}
