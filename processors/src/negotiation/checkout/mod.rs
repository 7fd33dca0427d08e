//! The checkout saga of a bundle (rules CO1–CO8, seed-000 §4.3, §4.4): reserve every leg with
//! its partner, authorise the total, confirm each leg, capture, split per partner / platform /
//! affiliate and hold each leg's share in escrow; any failure before the capture compensates in
//! reverse (confirmed legs cancelled, the authorisation voided, reservations released), so no
//! partner is ever paid for a leg that did not happen. After the capture each leg's share is
//! released to its partner on its delivery confirmation, the rest when the bundle's time chain
//! completes; a leg re-sourced after payment is refunded and its replacement charged on its own.
//!
//! It lives in the bundle's keyed state beside its negotiations: a reservation is a negotiation
//! of type [`RESERVATION`], so partners answer it with the same buttons and their replies are
//! routed by the same directory. Provider calls are [`PaymentCommand`]s whose ids derive from the
//! causing event (the dispatcher sends them as Idempotency-Keys): a replay or a crash asks for the
//! same call again, never a second charge, and an answer is applied once (by its command id).

mod state;
mod texts;

pub use state::{escrow, leg, AffiliateStatus, Checkout, PaidLeg, Pending, Split, Stage};

use super::classify::{Reading, ACCEPT_BUTTON, DECLINE_BUTTON};
use super::state::{Negotiation, NegotiationState, Status};
use super::{flow, timer, NegotiationOutput as Out, JIT_REPLY_MINUTES, MINUTE_MS, REPLY_MINUTES, UNCLEAR_LIMIT};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::bundles::BundleLeg;
use souk_schemas::key::IntentKey;
use souk_schemas::orchestration::NegotiationRequested;
use souk_schemas::orders::EscalationRaised;
use souk_schemas::payments::{action, CheckoutFinished, CheckoutRequested, CheckoutUpdated, PaymentCommand};
use souk_schemas::whatsapp::ReplyButton;

/// The negotiation type of a leg's reservation request.
pub const RESERVATION: &str = "reservation";
/// Timer kind of the time chain's completion (`chain/<checkout id>`).
pub const CHAIN_TIMER: &str = "chain";
/// Escalation kind of a provider call that failed after the money moved.
pub const PAYMENT_FAILED: &str = "PAYMENT_FAILED";
/// Release trigger: the leg's delivery was confirmed (seed-000 §4.4).
pub const DELIVERY_CONFIRMED: &str = "delivery_confirmed";
/// Release trigger: the bundle's time chain completed.
pub const TIME_CHAIN_COMPLETE: &str = "time_chain_complete";

/// Starts a checkout (a redelivered request changes nothing; a cancelled checkout may be
/// followed by a new one, e.g. with another card).
pub fn requested(state: &mut NegotiationState, r: &CheckoutRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(bundle) = state.bundle.clone() else {
        return Err(Rejection::new("UNKNOWN_BUNDLE", format!("no bundle {} was requested", r.bundle_id)));
    };
    if let Some(c) = &state.checkout {
        if c.request.envelope.event_id == r.envelope.event_id {
            return Ok(());
        }
        if c.stage != Stage::Cancelled {
            return Err(Rejection::new("CHECKOUT_EXISTS", format!("bundle {} has checkout {} ({})", r.bundle_id, c.request.checkout_id, c.stage.name())));
        }
    }
    if r.payment_method.trim().is_empty() {
        return Err(Rejection::new("BAD_PAYMENT_METHOD", "a checkout needs a payment method"));
    }
    if r.affiliate_percent.is_some_and(|p| p < Decimal::ZERO || p > Decimal::ONE_HUNDRED) || (r.affiliate_percent.is_some() && r.affiliate_account.is_none()) {
        return Err(Rejection::new("BAD_AFFILIATE", "an affiliate's share is 0 to 100 percent of the commission, with a payout account"));
    }
    let currency = bundle.legs.first().map(|l| l.currency.clone()).unwrap_or_default();
    let legs = bundle.legs.iter().map(|l| PaidLeg::new(l, r.affiliate_percent, Some(reservation_id(r, l)), leg::RESERVING)).collect();
    let mut c = Checkout {
        request: r.clone(),
        stage: Stage::Reserving,
        payment_status: "pending".into(),
        payment_intent_id: None,
        currency,
        legs,
        captured: Decimal::ZERO,
        refunded: Decimal::ZERO,
        released: Decimal::ZERO,
        affiliate: AffiliateStatus::None,
        reason: None,
        pending: Default::default(),
    };
    if c.affiliate_commission() > Decimal::ZERO {
        c.affiliate = AffiliateStatus::Pending;
    }
    if let Some(reason) = blocked(state, &bundle.legs) {
        c.legs.iter_mut().for_each(|l| l.set(leg::CANCELLED));
        c.reason = Some(reason);
        state.checkout = Some(c);
        cancelled(state, ctx);
        return Ok(());
    }
    for l in &c.legs {
        let mut n = reservation(r, l, &bundle.request.thread_id);
        let minutes = if n.request.is_jit { JIT_REPLY_MINUTES } else { REPLY_MINUTES };
        ctx.schedule(timer::id(timer::REPLY, &n.request.negotiation_id), ctx.now() + minutes * MINUTE_MS);
        flow::send_partner_with(ctx, &n, &l.leg.partner_contact, "order_reservation", texts::reserve(l), accept_decline());
        flow::snapshot(ctx, &mut n);
        state.negotiations.insert(n.request.negotiation_id.clone(), n);
    }
    state.checkout = Some(c);
    snapshot(state, ctx);
    Ok(())
}

fn reservation_id(r: &CheckoutRequested, l: &BundleLeg) -> String {
    format!("res-{}-{}", r.checkout_id, l.leg_id)
}

fn accept_decline() -> Vec<ReplyButton> {
    vec![ReplyButton { id: ACCEPT_BUTTON.into(), title: "Accept".into() }, ReplyButton { id: DECLINE_BUTTON.into(), title: "Decline".into() }]
}

/// Why the bundle cannot be checked out as it is, if it cannot.
fn blocked(state: &NegotiationState, legs: &[BundleLeg]) -> Option<String> {
    if let Some(open) = state.negotiations.values().find(|n| !n.status.is_final()) {
        return Some(format!("leg {} still has an open negotiation ({})", open.request.leg_id, open.status.name().replace('_', " ")));
    }
    let mut currencies: Vec<&str> = legs.iter().map(|l| l.currency.as_str()).collect();
    currencies.dedup();
    if currencies.len() > 1 {
        return Some(format!("the legs are priced in several currencies ({}); one payment cannot cover them", currencies.join(", ")));
    }
    if legs.iter().map(|l| l.price).sum::<Decimal>() <= Decimal::ZERO {
        return Some("there is nothing to pay".into());
    }
    if let Some(l) = legs.iter().find(|l| l.payout_account.is_none()) {
        return Some(format!("{} has no payout account, so they could not be paid", l.partner_name));
    }
    legs.iter().find(|l| !l.partner_opted_in).map(|l| format!("{} has not agreed to WhatsApp messages, so they cannot be asked to reserve the order", l.partner_name))
}

fn reservation(r: &CheckoutRequested, l: &PaidLeg, thread_id: &str) -> Negotiation {
    let leg = &l.leg;
    let mut n = Negotiation::opened(NegotiationRequested {
        envelope: r.envelope.clone(),
        negotiation_id: l.view.negotiation_id.clone().unwrap_or_default(),
        bundle_id: r.bundle_id.clone(),
        leg_id: leg.leg_id.clone(),
        negotiation_type: RESERVATION.into(),
        partner_id: leg.partner_id.clone(),
        partner_name: leg.partner_name.clone(),
        partner_contact: leg.partner_contact.clone(),
        original_item: leg.item.clone(),
        requested_item: leg.item.clone(),
        original_price: leg.price,
        currency: leg.currency.clone(),
        capabilities: leg.capabilities.clone(),
        is_jit: leg.is_jit,
        leg_starts_at: leg.starts_at,
        deadline: leg.deadline,
        hard_locked: leg.hard_locked,
        thread_id: thread_id.to_string(),
    });
    n.leg = Some(leg.clone());
    n
}

/// A partner's answer to a reservation request (read like any reply, rules B2).
pub fn answered(state: &mut NegotiationState, negotiation_id: &str, reading: Reading, ctx: &mut Ctx<Out>) {
    let (Some(c), Some(n)) = (state.checkout.as_mut(), state.negotiations.get_mut(negotiation_id)) else { return };
    let Some(l) = c.legs.iter_mut().find(|l| l.view.negotiation_id.as_deref() == Some(negotiation_id) && l.is(leg::RESERVING)) else { return };
    match reading {
        Reading::Accept => {
            n.status = Status::Accepted;
            l.set(leg::RESERVED);
        }
        Reading::Unclear if n.unclear_replies + 1 < UNCLEAR_LIMIT => {
            n.unclear_replies += 1;
            let contact = l.leg.partner_contact.clone();
            flow::send_partner_with(ctx, n, &contact, "order_reservation_clarify", texts::reserve_clarify(l), accept_decline());
            flow::snapshot(ctx, n);
            return;
        }
        other => {
            let why = match other {
                Reading::Reject => "declined the order".to_string(),
                Reading::CounterOffer { .. } => "could only offer something else".to_string(),
                _ => format!("could not confirm the order ({})", other.name()),
            };
            let reason = format!("{} {why}", n.request.partner_name);
            refuse(c, n, l_index(c, negotiation_id), reason);
        }
    }
    stop_reply_timer(ctx, n);
    flow::snapshot(ctx, n);
    advance(state, ctx);
}

fn l_index(c: &Checkout, negotiation_id: &str) -> usize {
    c.legs.iter().position(|l| l.view.negotiation_id.as_deref() == Some(negotiation_id)).unwrap_or_default()
}

fn refuse(c: &mut Checkout, n: &mut Negotiation, i: usize, reason: String) {
    n.status = Status::Rejected;
    n.reason = Some(reason.clone());
    c.legs[i].set(leg::REFUSED);
    c.reason.get_or_insert(reason);
}

fn stop_reply_timer(ctx: &mut Ctx<Out>, n: &Negotiation) {
    ctx.cancel(&timer::id(timer::REPLY, &n.request.negotiation_id));
}

/// A reservation's reply timer fired without an answer.
pub fn timed_out(state: &mut NegotiationState, negotiation_id: &str, ctx: &mut Ctx<Out>) {
    let (Some(c), Some(n)) = (state.checkout.as_mut(), state.negotiations.get_mut(negotiation_id)) else { return };
    if n.status != Status::AwaitingPartnerReply || c.stage != Stage::Reserving {
        return;
    }
    let minutes = if n.request.is_jit { JIT_REPLY_MINUTES } else { REPLY_MINUTES };
    let reason = format!("{} did not answer within {minutes} minutes", n.request.partner_name);
    let i = l_index(c, negotiation_id);
    refuse(c, n, i, reason.clone());
    // They may still answer later: tell them not to.
    flow::send_partner_with(ctx, n, &c.legs[i].leg.partner_contact, "order_released", texts::released(&c.legs[i], &reason), Vec::new());
    flow::snapshot(ctx, n);
    advance(state, ctx);
}

/// After a reservation answer: compensate on a refusal, authorise once every leg is reserved.
fn advance(state: &mut NegotiationState, ctx: &mut Ctx<Out>) {
    let Some(c) = state.checkout.as_mut() else { return };
    if c.stage != Stage::Reserving {
        return;
    }
    if c.legs.iter().any(|l| l.is(leg::REFUSED)) {
        return compensate(state, ctx);
    }
    if c.legs.iter().all(|l| l.is(leg::RESERVED)) {
        c.stage = Stage::Authorizing;
        let (total, method) = (c.total(), c.request.payment_method.clone());
        command(ctx, c, action::AUTHORIZE, total, None, |p| p.payment_method = Some(method));
    }
    snapshot(state, ctx);
}

/// Undoes what was done, newest first: confirmed legs cancelled, the authorisation voided,
/// reservations released (answered or not). Final once the void is answered (or at once).
fn compensate(state: &mut NegotiationState, ctx: &mut Ctx<Out>) {
    let Some(c) = state.checkout.as_mut() else { return };
    let reason = c.reason.clone().unwrap_or_else(|| "the checkout failed".into());
    for l in c.legs.iter_mut().rev().filter(|l| l.is(leg::CONFIRMED)) {
        l.set(leg::CANCELLED);
        tell_partner(ctx, state_thread(&state.negotiations, l), l, "order_cancelled", texts::cancelled(l, &reason));
    }
    if c.payment_status == "authorized" {
        c.stage = Stage::Cancelling;
        let (total, pi) = (c.total(), c.payment_intent_id.clone());
        command(ctx, c, action::VOID, total, None, |p| p.payment_intent_id = pi);
    }
    for l in c.legs.iter_mut().rev().filter(|l| l.is(leg::RESERVED) || l.is(leg::RESERVING)) {
        if let Some(n) = l.view.negotiation_id.as_deref().and_then(|id| state.negotiations.get_mut(id)) {
            if !n.status.is_final() {
                n.status = Status::Rejected;
                n.reason = Some(format!("checkout cancelled: {reason}"));
                stop_reply_timer(ctx, n);
                flow::snapshot(ctx, n);
            }
        }
        l.set(leg::RELEASED);
        tell_partner(ctx, state_thread(&state.negotiations, l), l, "order_released", texts::released(l, &reason));
    }
    if c.stage == Stage::Cancelling {
        snapshot(state, ctx);
    } else {
        cancelled(state, ctx);
    }
}

/// The negotiation a partner message about `l` belongs to (its reservation).
fn state_thread<'n>(negotiations: &'n std::collections::BTreeMap<String, Negotiation>, l: &PaidLeg) -> Option<&'n Negotiation> {
    l.view.negotiation_id.as_deref().and_then(|id| negotiations.get(id))
}

fn tell_partner(ctx: &mut Ctx<Out>, n: Option<&Negotiation>, l: &PaidLeg, purpose: &str, text: String) {
    if let Some(n) = n {
        flow::send_partner_with(ctx, n, &l.leg.partner_contact, purpose, text, Vec::new());
    }
}

/// The checkout ends compensated: the user (and the standing intent that placed it) are told.
fn cancelled(state: &mut NegotiationState, ctx: &mut Ctx<Out>) {
    let Some(c) = state.checkout.as_mut() else { return };
    c.stage = Stage::Cancelled;
    c.affiliate = if c.affiliate == AffiliateStatus::None { AffiliateStatus::None } else { AffiliateStatus::Cancelled };
    let reason = c.reason.clone().unwrap_or_else(|| "the checkout failed".into());
    let voided = (c.payment_status == "voided").then(|| (c.total(), c.currency.as_str()));
    let text = texts::not_placed(&reason, voided);
    finished(ctx, c, false);
    notify(state, ctx, "checkout_cancelled", text);
    snapshot(state, ctx);
}

fn finished(ctx: &mut Ctx<Out>, c: &Checkout, succeeded: bool) {
    let Some(intent_id) = c.request.intent_id.clone() else { return };
    let r = &c.request;
    let done = CheckoutFinished {
        envelope: ctx.envelope(),
        intent_id: intent_id.clone(),
        checkout_id: r.checkout_id.clone(),
        bundle_id: r.bundle_id.clone(),
        succeeded,
        reason: (!succeeded).then(|| c.reason.clone().unwrap_or_default()),
    };
    ctx.emit(IntentKey::of(&r.envelope.tenant_id, &intent_id), Out::CheckoutFinished(done));
}

/// Asks the dispatcher for one provider call; its id is the output's derived event id.
fn command(ctx: &mut Ctx<Out>, c: &mut Checkout, act: &str, amount: Decimal, leg: Option<usize>, fill: impl FnOnce(&mut PaymentCommand)) {
    let envelope = ctx.envelope();
    let mut cmd = PaymentCommand {
        command_id: envelope.event_id.clone(),
        envelope,
        checkout_id: c.request.checkout_id.clone(),
        bundle_id: c.request.bundle_id.clone(),
        action: act.to_string(),
        amount,
        currency: c.currency.clone(),
        payment_method: None,
        payment_intent_id: None,
        destination: None,
        recipient_kind: None,
        leg_id: leg.map(|i| c.legs[i].view.leg_id.clone()),
    };
    fill(&mut cmd);
    c.pending.insert(cmd.command_id.clone(), Pending { action: act.to_string(), leg });
    ctx.emit(ctx.key().to_string(), Out::PaymentCommand(cmd));
}

mod money;
pub use money::{chain_completed, chain_timer, delivered, leg_replaced, result};

fn notify(state: &NegotiationState, ctx: &mut Ctx<Out>, kind: &str, text: String) {
    if let Some(b) = &state.bundle {
        super::bundle::tell(ctx, b, kind, text);
    }
}

fn escalate(ctx: &mut Ctx<Out>, c: &Checkout, detail: String) {
    let r = &c.request;
    let escalation = EscalationRaised {
        envelope: ctx.envelope(),
        escalation_id: format!("{}/{}", r.checkout_id, ctx.cause().event_id),
        customer: None,
        order_id: None,
        kind: PAYMENT_FAILED.into(),
        priority: "high".into(),
        detail: format!("bundle {}, checkout {}: {detail}", r.bundle_id, r.checkout_id),
    };
    ctx.emit(ctx.key().to_string(), Out::EscalationRaised(escalation));
}

/// The checkout's snapshot → `events`.
fn snapshot(state: &NegotiationState, ctx: &mut Ctx<Out>) {
    let (Some(c), Some(b)) = (&state.checkout, &state.bundle) else { return };
    let r = &c.request;
    let update = CheckoutUpdated {
        envelope: ctx.envelope(),
        checkout_id: r.checkout_id.clone(),
        bundle_id: r.bundle_id.clone(),
        user_id: b.request.user_id.clone(),
        thread_id: b.request.thread_id.clone(),
        status: c.stage.name().into(),
        payment_status: c.payment_status.clone(),
        escrow_status: c.escrow_status().into(),
        total: c.total(),
        captured: c.captured,
        refunded: c.refunded,
        released: c.released,
        currency: c.currency.clone(),
        payment_intent_id: c.payment_intent_id.clone(),
        platform_fee: c.platform_fee(),
        affiliate_id: r.affiliate_id.clone(),
        affiliate_commission: c.affiliate_commission(),
        affiliate_status: c.affiliate.name().into(),
        reason: c.reason.clone(),
        legs: c.legs.iter().map(|l| l.view.clone()).collect(),
    };
    ctx.emit(ctx.key().to_string(), Out::CheckoutUpdated(update));
}

/// The checkout holds the bundle's legs still (reserving up to capture): changes must wait.
pub fn locks_legs(state: &NegotiationState) -> bool {
    state.checkout.as_ref().is_some_and(|c| c.stage.before_payment())
}
