//! The transitions of a negotiation (rules N1–N8), one function per input kind and one for timers.

use super::classify::{classify, Reading, ACCEPT_BUTTON, CLASSIFIER, DECLINE_BUTTON, MODIFY_BUTTON};
use super::state::{Negotiation, NegotiationState, Proposal, Status};
use super::{texts, timer, NegotiationOutput as Out, APPROVAL_MINUTES, DEADLOCK_AT, JIT_REPLY_MINUTES, MINUTE_MS, REPLY_MINUTES, UNCLEAR_LIMIT, URGENCY_MINUTES};
use rust_decimal::{Decimal, RoundingStrategy};
use souk_runtime::{Ctx, Rejection};
use souk_schemas::key::NegotiationKey;
use souk_schemas::orchestration::{
    AlternativeFound, HumanIntervened, LegReplaced, NegotiationRequested, NegotiationUpdated, NoAlternativeFound, PartnerReplied, PartnerReplyClassified, ResourcingRequested, UserDecided,
    UserNotified,
};
use souk_schemas::orders::EscalationRaised;
use souk_schemas::whatsapp::{OutboundMessageRequested, ReplyButton};

const TYPES: [&str; 3] = ["product_change", "price_negotiation", "timing_change"];

use super::checkout;

/// Escalation kinds (rules B7), as on the shared `escalations` topic.
mod kind {
    pub const TIMEOUT: &str = "TIMEOUT";
    pub const SENTIMENT: &str = "SENTIMENT";
    pub const DEADLOCK: &str = "DEADLOCK";
    pub const URGENCY: &str = "URGENCY";
    pub const STALLED: &str = "STALLED";
}

/// Opens a negotiation (a redelivered request changes nothing).
pub fn requested(state: &mut NegotiationState, r: &NegotiationRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    if !TYPES.contains(&r.negotiation_type.as_str()) {
        return Err(Rejection::new("BAD_NEGOTIATION_TYPE", format!("{:?} is none of {}", r.negotiation_type, TYPES.join(", "))));
    }
    if r.original_price < Decimal::ZERO {
        return Err(Rejection::new("NEGATIVE_PRICE", format!("original price {}", r.original_price)));
    }
    if state.negotiations.contains_key(&r.negotiation_id) {
        return Ok(());
    }
    if let Some(open) = state.negotiations.values().find(|n| n.request.leg_id == r.leg_id && !n.status.is_final()) {
        return Err(Rejection::new("LEG_IN_NEGOTIATION", format!("leg {} already has open negotiation {}", r.leg_id, open.request.negotiation_id)));
    }
    let mut negotiation = Negotiation::opened(r.clone());
    let id = &r.negotiation_id;
    let reply_minutes = if r.is_jit { JIT_REPLY_MINUTES } else { REPLY_MINUTES };
    ctx.schedule(timer::id(timer::REPLY, id), ctx.now() + reply_minutes * MINUTE_MS);
    ctx.schedule(timer::id(timer::URGENCY, id), (r.leg_starts_at - URGENCY_MINUTES * MINUTE_MS).max(ctx.now()));
    send_partner(ctx, &negotiation, &r.partner_contact, "negotiation_request", texts::partner_request(r), true);
    snapshot(ctx, &mut negotiation);
    state.negotiations.insert(id.clone(), negotiation);
    Ok(())
}

/// A partner who has not opted in to WhatsApp messages is never messaged (rules N9): the
/// negotiation is recorded escalated with the reason, and a person takes over.
pub fn without_opt_in(state: &mut NegotiationState, r: &NegotiationRequested, ctx: &mut Ctx<Out>) {
    let mut n = Negotiation::opened(r.clone());
    escalate(ctx, &mut n, kind::STALLED, format!("NO_OPT_IN: {} has not agreed to receive WhatsApp messages from us; nothing was sent", r.partner_name));
    snapshot(ctx, &mut n);
    state.negotiations.insert(r.negotiation_id.clone(), n);
}

/// Reads a partner's reply and acts on it.
pub fn partner_replied(state: &mut NegotiationState, reply: &PartnerReplied, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let concerns = |n: &Negotiation| n.waits_for_partner(&reply.partner_id) || answers_proposal(n, &reply.partner_id) || (n.paused && n.request.partner_id == reply.partner_id);
    let found = match &reply.negotiation_id {
        Some(id) => state.negotiations.get_mut(id).filter(|n| concerns(n)),
        None => state.negotiations.values_mut().find(|n| concerns(n)),
    };
    let Some(n) = found else {
        return Err(Rejection::new("NO_OPEN_NEGOTIATION", format!("partner {} has no negotiation waiting for them in bundle {}", reply.partner_id, reply.bundle_id)));
    };
    let reading = classify(reply.text.as_deref(), reply.button_id.as_deref());
    log_reading(ctx, n, reply, &reading);
    if n.request.negotiation_type == checkout::RESERVATION {
        let id = n.request.negotiation_id.clone();
        checkout::answered(state, &id, reading, ctx);
        return Ok(());
    }
    if n.paused {
        // Logged for the human who has the conversation now; the machine does not answer (rules N4).
        return Ok(());
    }
    n.partner_replied = true;
    if n.status == Status::OrderingAlternative {
        if let Some((leg_id, alt)) = alternative_answered(n, reading, ctx) {
            super::bundle::replace_leg(state, &leg_id, &alt, ctx);
            checkout::leg_replaced(state, &leg_id, &alt, ctx);
        }
        return Ok(());
    }
    match reading {
        Reading::Accept => {
            n.status = Status::Accepted;
            n.proposal = None;
            stop_timers(ctx, n);
            notify(ctx, n, "accepted", texts::user_accepted(&n.request));
        }
        Reading::Reject => refused(n, ctx),
        Reading::CounterOffer { item, price, change_percent } => {
            n.counter_offers += 1;
            n.unclear_replies = 0;
            if n.counter_offers >= DEADLOCK_AT {
                let detail = format!("{} counter-offers without resolution", n.counter_offers);
                escalate(ctx, n, kind::DEADLOCK, detail);
            } else {
                let item = item.unwrap_or_else(|| n.request.requested_item.clone());
                let price = price.or_else(|| {
                    change_percent.map(|pct| (n.request.original_price * (Decimal::ONE_HUNDRED + pct) / Decimal::ONE_HUNDRED).round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero))
                });
                notify(ctx, n, "counter_offer", texts::user_counter_offer(&n.request, &item, price));
                n.proposal = Some(Proposal { item, price });
                n.status = Status::AwaitingUserApproval;
                ctx.cancel(&timer::id(timer::REPLY, &n.request.negotiation_id));
                ctx.schedule(timer::id(timer::APPROVAL, &n.request.negotiation_id), ctx.now() + APPROVAL_MINUTES * MINUTE_MS);
            }
        }
        Reading::Frustrated => {
            n.paused = true;
            let detail = format!("Frustration detected: {:?}", reply.text.clone().unwrap_or_default());
            escalate(ctx, n, kind::SENTIMENT, detail);
        }
        Reading::Unclear => {
            n.unclear_replies += 1;
            if n.unclear_replies >= UNCLEAR_LIMIT {
                escalate(ctx, n, kind::STALLED, format!("{} partner replies in a row could not be understood", n.unclear_replies));
            } else {
                let contact = n.request.partner_contact.clone();
                send_partner(ctx, n, &contact, "negotiation_clarify", texts::partner_clarify(&n.request), true);
            }
        }
    }
    snapshot(ctx, n);
    Ok(())
}

/// The original partner may still answer while the user considers their counter-offer.
fn answers_proposal(n: &Negotiation, partner: &str) -> bool {
    n.status == Status::AwaitingUserApproval && n.request.partner_id == partner
}

/// A refusal: a product change is re-sourced (never a hard-locked partner), anything else ends.
fn refused(n: &mut Negotiation, ctx: &mut Ctx<Out>) {
    stop_timers(ctx, n);
    n.proposal = None;
    let r = n.request.clone();
    if r.negotiation_type != "product_change" {
        n.status = Status::Rejected;
        n.reason = Some("partner refused".into());
        notify(ctx, n, "rejected", texts::user_rejected(&r));
    } else if r.hard_locked {
        escalate(ctx, n, kind::STALLED, format!("No alternative found for requested change: {} is hard-locked and cannot be swapped", r.partner_name));
    } else {
        n.status = Status::Resourcing;
        let window = |tenths: i64| (r.original_price * Decimal::new(tenths, 1)).round_dp(2);
        let request = ResourcingRequested {
            envelope: ctx.envelope(),
            negotiation_id: r.negotiation_id.clone(),
            bundle_id: r.bundle_id.clone(),
            leg_id: r.leg_id.clone(),
            exclude_partner_id: r.partner_id.clone(),
            requested_item: r.requested_item.clone(),
            original_price: r.original_price,
            min_price: window(8),
            max_price: window(12),
            currency: r.currency.clone(),
            capabilities: r.capabilities.clone(),
            deadline: r.deadline,
            destination_lat: n.leg.as_ref().map(|l| l.destination_lat),
            destination_lng: n.leg.as_ref().map(|l| l.destination_lng),
            original_arrival_minutes: n.leg.as_ref().map(super::bundle::arrival_minutes),
        };
        ctx.emit(ctx.key().to_string(), Out::ResourcingRequested(request));
    }
}

/// The replacement partner's answer to the order; the leg and its replacement once confirmed.
fn alternative_answered(n: &mut Negotiation, reading: Reading, ctx: &mut Ctx<Out>) -> Option<(String, AlternativeFound)> {
    let Some(alt) = n.alternative.clone() else {
        // Unreachable by the transitions (ordering starts from a found alternative); a state that
        // says otherwise goes to a human rather than stopping the partition.
        escalate(ctx, n, kind::STALLED, "a replacement order without a replacement on record".into());
        snapshot(ctx, n);
        return None;
    };
    if reading == Reading::Accept {
        n.status = Status::RecoveredAutonomously;
        stop_timers(ctx, n);
        let r = &n.request;
        let replaced = LegReplaced {
            envelope: ctx.envelope(),
            negotiation_id: r.negotiation_id.clone(),
            bundle_id: r.bundle_id.clone(),
            leg_id: r.leg_id.clone(),
            old_partner_id: r.partner_id.clone(),
            new_partner_id: alt.partner_id.clone(),
            product_id: alt.product_id.clone(),
            item: alt.item.clone(),
            price: alt.price,
            delay_minutes: alt.delay_minutes,
            started_at: Some(r.envelope.occurred_at),
        };
        ctx.emit(ctx.key().to_string(), Out::LegReplaced(replaced));
        notify(ctx, n, "recovered", texts::user_recovered(&alt));
        snapshot(ctx, n);
        return Some((n.request.leg_id.clone(), alt));
    }
    escalate(ctx, n, kind::STALLED, format!("{} could not confirm the replacement order ({})", alt.partner_name, reading.name()));
    snapshot(ctx, n);
    None
}

/// The user's answer to a counter-offer or to a replacement.
pub fn user_decided(state: &mut NegotiationState, d: &UserDecided, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let n = state.negotiations.get_mut(&d.negotiation_id).ok_or_else(|| Rejection::new("UNKNOWN_NEGOTIATION", format!("no negotiation {} in bundle {}", d.negotiation_id, d.bundle_id)))?;
    ctx.cancel(&timer::id(timer::APPROVAL, &n.request.negotiation_id));
    match (n.status, d.approved, n.proposal.clone(), n.alternative.clone()) {
        (Status::AwaitingUserApproval, true, Some(proposal), _) => {
            n.status = Status::Accepted;
            stop_timers(ctx, n);
            let contact = n.request.partner_contact.clone();
            send_partner(ctx, n, &contact, "negotiation_confirm", texts::partner_counter_accepted(&proposal.item, proposal.price, &n.request.currency), false);
            notify(ctx, n, "accepted", texts::user_counter_taken(&n.request.partner_name, &proposal.item));
        }
        (Status::AwaitingUserApproval, false, _, _) => {
            n.status = Status::RejectedByUser;
            n.reason = Some("the user rejected the counter-offer".into());
            stop_timers(ctx, n);
            let contact = n.request.partner_contact.clone();
            send_partner(ctx, n, &contact, "negotiation_closed", texts::partner_counter_declined(&n.request), false);
            notify(ctx, n, "kept", texts::user_kept(&n.request));
        }
        (Status::AwaitingRecoveryApproval, true, _, Some(alt)) => {
            n.status = Status::OrderingAlternative;
            let (original, currency) = (n.request.partner_contact.clone(), n.request.currency.clone());
            send_partner(ctx, n, &original, "negotiation_cancel", texts::partner_cancelled(&n.request), false);
            send_partner(ctx, n, &alt.partner_contact, "negotiation_order", texts::partner_new_order(&alt, &currency), true);
            let minutes = if n.request.is_jit { JIT_REPLY_MINUTES } else { REPLY_MINUTES };
            ctx.schedule(timer::id(timer::REPLY, &n.request.negotiation_id), ctx.now() + minutes * MINUTE_MS);
        }
        (Status::AwaitingRecoveryApproval, false, _, _) => escalate(ctx, n, kind::STALLED, "No alternative accepted: the user rejected the replacement".into()),
        (status, ..) => return Err(Rejection::new("NOTHING_TO_DECIDE", format!("negotiation {} is {} and proposes nothing", d.negotiation_id, status.name()))),
    }
    snapshot(ctx, n);
    Ok(())
}

/// An admin writes to the partner as a human (rules B7): sent as written, whatever the machine's
/// state — also while it is paused, which is when a human has the conversation.
pub fn intervened(state: &mut NegotiationState, h: &HumanIntervened, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let n = state.negotiations.get(&h.negotiation_id).ok_or_else(|| Rejection::new("UNKNOWN_NEGOTIATION", format!("no negotiation {} in bundle {}", h.negotiation_id, h.bundle_id)))?;
    let contact = n.current_contact().to_string();
    send_partner(ctx, n, &contact, "human_message", h.text.clone(), false);
    Ok(())
}

/// Re-sourcing's replacement: put to the user with what it does to the timeline.
pub fn alternative_found(state: &mut NegotiationState, a: &AlternativeFound, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let leg_id = resourcing(state, &a.negotiation_id, &a.bundle_id)?.request.leg_id.clone();
    let a = AlternativeFound { delay_minutes: super::bundle::recovery_delay(state, &leg_id, a), ..a.clone() };
    let n = resourcing(state, &a.negotiation_id, &a.bundle_id)?;
    n.status = Status::AwaitingRecoveryApproval;
    notify(ctx, n, "recovery_proposal", texts::user_recovery(&n.request, &a));
    n.alternative = Some(a);
    ctx.schedule(timer::id(timer::APPROVAL, &n.request.negotiation_id), ctx.now() + APPROVAL_MINUTES * MINUTE_MS);
    snapshot(ctx, n);
    Ok(())
}

/// Re-sourcing found nothing.
pub fn no_alternative(state: &mut NegotiationState, e: &NoAlternativeFound, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let n = resourcing(state, &e.negotiation_id, &e.bundle_id)?;
    escalate(ctx, n, kind::STALLED, format!("No alternative found for requested change ({})", e.reason));
    snapshot(ctx, n);
    Ok(())
}

fn resourcing<'s>(state: &'s mut NegotiationState, id: &str, bundle: &str) -> Result<&'s mut Negotiation, Rejection> {
    match state.negotiations.get_mut(id) {
        Some(n) if n.status == Status::Resourcing => Ok(n),
        Some(n) => Err(Rejection::new("NOT_RESOURCING", format!("negotiation {id} is {}", n.status.name()))),
        None => Err(Rejection::new("UNKNOWN_NEGOTIATION", format!("no negotiation {id} in bundle {bundle}"))),
    }
}

/// A timer came due; it acts only if the negotiation is still waiting for what the timer guards.
pub fn timer_fired(state: &mut NegotiationState, timer_kind: &str, id: &str, ctx: &mut Ctx<Out>) {
    let Some(n) = state.negotiations.get_mut(id) else { return };
    if n.request.negotiation_type == checkout::RESERVATION {
        if timer_kind == timer::REPLY {
            checkout::timed_out(state, id, ctx);
        }
        return;
    }
    match (timer_kind, n.status) {
        (timer::REPLY, Status::AwaitingPartnerReply | Status::OrderingAlternative) => {
            let minutes = if n.request.is_jit { JIT_REPLY_MINUTES } else { REPLY_MINUTES };
            escalate(ctx, n, kind::TIMEOUT, format!("No reply within {minutes} minutes"));
        }
        (timer::URGENCY, Status::AwaitingPartnerReply) if !n.partner_replied => {
            let detail = format!("{} has not replied and the leg starts in less than 2 hours", n.request.partner_name);
            escalate(ctx, n, kind::URGENCY, detail);
        }
        (timer::APPROVAL, Status::AwaitingUserApproval) => escalate(ctx, n, kind::TIMEOUT, "No user approval within 24 hours".into()),
        (timer::APPROVAL, Status::AwaitingRecoveryApproval) => escalate(ctx, n, kind::STALLED, "No alternative accepted: no user approval within 24 hours".into()),
        _ => return,
    }
    snapshot(ctx, n);
}

/// Hands the negotiation to a human (rules B7: high for urgency, deadlock, sentiment and a
/// just-in-time timeout, else medium) and tells the user.
fn escalate(ctx: &mut Ctx<Out>, n: &mut Negotiation, kind: &str, detail: String) {
    n.status = Status::Escalated;
    n.reason = Some(detail.clone());
    stop_timers(ctx, n);
    let high = matches!(kind, kind::URGENCY | kind::DEADLOCK | kind::SENTIMENT) || (kind == kind::TIMEOUT && n.request.is_jit && n.proposal.is_none());
    let escalation = EscalationRaised {
        envelope: ctx.envelope(),
        escalation_id: format!("{}/{}", n.request.negotiation_id, kind.to_lowercase()),
        customer: None,
        // `order_id` names textile orders (their history is projected by it); a bundle is named in the detail.
        order_id: None,
        kind: kind.to_string(),
        priority: if high { "high" } else { "medium" }.to_string(),
        detail: format!("bundle {}, leg {}, partner {}: {detail}", n.request.bundle_id, n.request.leg_id, n.request.partner_name),
    };
    ctx.emit(ctx.key().to_string(), Out::EscalationRaised(escalation));
    notify(ctx, n, "escalated", texts::user_escalated(&n.request));
}

fn stop_timers(ctx: &mut Ctx<Out>, n: &Negotiation) {
    for kind in [timer::REPLY, timer::URGENCY, timer::APPROVAL] {
        ctx.cancel(&timer::id(kind, &n.request.negotiation_id));
    }
}

fn log_reading(ctx: &mut Ctx<Out>, n: &Negotiation, reply: &PartnerReplied, reading: &Reading) {
    let (offered_item, offered_price, offered_change_percent) = match reading {
        Reading::CounterOffer { item, price, change_percent } => (item.clone(), *price, *change_percent),
        _ => (None, None, None),
    };
    let logged = PartnerReplyClassified {
        envelope: ctx.envelope(),
        negotiation_id: n.request.negotiation_id.clone(),
        bundle_id: n.request.bundle_id.clone(),
        partner_id: reply.partner_id.clone(),
        text: reply.text.clone(),
        button_id: reply.button_id.clone(),
        classification: reading.name().to_string(),
        offered_item,
        offered_price,
        offered_change_percent,
        classifier: CLASSIFIER.to_string(),
    };
    ctx.emit(ctx.key().to_string(), Out::PartnerReplyClassified(logged));
}

/// A WhatsApp message to a partner, keyed by tenant and their number, with Accept / Decline /
/// Modify buttons when `buttons`.
fn send_partner(ctx: &mut Ctx<Out>, n: &Negotiation, contact: &str, purpose: &str, text: String, buttons: bool) {
    let button = |id: &str, title: &str| ReplyButton { id: id.to_string(), title: title.to_string() };
    let buttons = if buttons { vec![button(ACCEPT_BUTTON, "Accept"), button(DECLINE_BUTTON, "Decline"), button(MODIFY_BUTTON, "Modify")] } else { Vec::new() };
    send_partner_with(ctx, n, contact, purpose, text, buttons);
}

/// A WhatsApp message about `n` to a partner with these reply buttons.
pub(super) fn send_partner_with(ctx: &mut Ctx<Out>, n: &Negotiation, contact: &str, purpose: &str, text: String, buttons: Vec<ReplyButton>) {
    let tenant = n.request.envelope.tenant_id.clone();
    let message = OutboundMessageRequested { envelope: ctx.envelope(), to: contact.to_string(), order_id: Some(n.request.bundle_id.clone()), purpose: purpose.to_string(), text, buttons };
    ctx.emit(souk_schemas::key::CustomerKey::of(&tenant, contact), Out::OutboundMessageRequested(message));
}

/// A note for the user's thread, told after this step's snapshot (see [`Negotiation::notes`]).
fn notify(_ctx: &mut Ctx<Out>, n: &mut Negotiation, kind: &str, text: String) {
    n.notes.push((kind.to_string(), text));
}

/// The negotiation's snapshot → `events` and the directory.
pub(super) fn snapshot(ctx: &mut Ctx<Out>, n: &mut Negotiation) {
    let r = &n.request;
    let update = NegotiationUpdated {
        envelope: ctx.envelope(),
        negotiation_id: r.negotiation_id.clone(),
        bundle_id: r.bundle_id.clone(),
        leg_id: r.leg_id.clone(),
        negotiation_type: r.negotiation_type.clone(),
        status: n.status.name().to_string(),
        partner_id: n.current_partner().to_string(),
        counter_offer_count: n.counter_offers,
        unclear_replies: n.unclear_replies,
        paused: n.paused,
        proposal: n.proposal.as_ref().map(|p| p.item.clone()).or_else(|| n.alternative.as_ref().map(|a| a.item.clone())),
        proposal_price: n.proposal.as_ref().and_then(|p| p.price).or_else(|| n.alternative.as_ref().map(|a| a.price)),
        reason: n.reason.clone(),
        partner_contact: Some(n.current_contact().to_string()),
    };
    // The directory (compacted, by negotiation) is how the gateway routes a partner's reply here.
    ctx.emit_to("directory", NegotiationKey::of(&r.envelope.tenant_id, &r.negotiation_id), Out::NegotiationUpdated(update.clone()));
    ctx.emit(ctx.key().to_string(), Out::NegotiationUpdated(update));
    let (negotiation_id, bundle_id, thread_id) = (r.negotiation_id.clone(), r.bundle_id.clone(), r.thread_id.clone());
    for (kind, text) in std::mem::take(&mut n.notes) {
        let note = UserNotified { envelope: ctx.envelope(), negotiation_id: negotiation_id.clone(), bundle_id: bundle_id.clone(), thread_id: thread_id.clone(), kind, text };
        ctx.emit(ctx.key().to_string(), Out::UserNotified(note));
    }
}
