//! The saga's money steps: the provider's answers, the escrow released leg by leg (delivery, or
//! the time chain's completion), the affiliate paid once everything is settled, and the refund
//! and separate charge of a leg re-sourced after payment.

use super::super::state::{Bundle, NegotiationState};
use super::super::{bundle, NegotiationOutput as Out};
use super::state::{escrow, leg, AffiliateStatus, Checkout, PaidLeg, Stage};
use super::{command, compensate, escalate, finished, notify, snapshot, texts, CHAIN_TIMER, DELIVERY_CONFIRMED, TIME_CHAIN_COMPLETE};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::orchestration::AlternativeFound;
use souk_schemas::payments::{action, LegDelivered, PaymentResult};

/// The timer id of the time chain's completion.
pub fn chain_timer(checkout_id: &str) -> String {
    format!("{CHAIN_TIMER}/{checkout_id}")
}

/// When the bundle's time chain is complete: its last arrival (rules TC1) or its last leg's
/// deadline, whichever is later — no share is released before its leg was due.
pub fn chain_end(b: &Bundle) -> i64 {
    let last_arrival = b.request.starts_at + crate::time_chain::total_minutes(&bundle::chain(&b.legs), b.request.starts_at) * super::MINUTE_MS;
    b.legs.iter().map(|l| l.deadline).fold(last_arrival, i64::max)
}

/// Applies a provider answer once: an answer whose command is not pending (a redelivery, or one
/// for an earlier checkout of the bundle) changes nothing.
pub fn result(state: &mut NegotiationState, r: &PaymentResult, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(c) = state.checkout.as_mut() else {
        return Err(Rejection::new("UNKNOWN_CHECKOUT", format!("bundle {} has no checkout {}", r.bundle_id, r.checkout_id)));
    };
    if c.request.checkout_id != r.checkout_id {
        return Ok(());
    }
    let Some(pending) = c.pending.remove(&r.command_id) else { return Ok(()) };
    let failure = || format!("{} ({})", r.failure_reason.clone().unwrap_or_else(|| r.provider_status.clone()), r.failure_code.clone().unwrap_or_default());
    match (pending.action.as_str(), pending.leg, r.succeeded) {
        (action::AUTHORIZE, _, true) => {
            c.payment_status = "authorized".into();
            c.payment_intent_id = r.provider_id.clone();
            for l in c.legs.iter_mut() {
                l.set(leg::CONFIRMED);
                let n = l.view.negotiation_id.as_deref().and_then(|id| state.negotiations.get(id));
                super::tell_partner(ctx, n, l, "order_confirmed", texts::confirmed(l));
            }
            c.stage = Stage::Capturing;
            let (total, pi) = (c.total(), c.payment_intent_id.clone());
            command(ctx, c, action::CAPTURE, total, None, |p| p.payment_intent_id = pi);
        }
        (action::AUTHORIZE, _, false) => {
            c.payment_status = "failed".into();
            c.reason = Some(format!("the payment was not authorised: {}", failure()));
            compensate(state, ctx);
            return Ok(());
        }
        (action::CAPTURE, _, true) => {
            c.payment_status = "captured".into();
            c.captured += r.amount;
            c.stage = Stage::Paid;
            c.legs.iter_mut().for_each(|l| l.set_escrow(escrow::HELD));
            let text = texts::paid(c.total(), &c.currency);
            finished(ctx, c, true);
            if let Some(b) = &state.bundle {
                ctx.schedule(chain_timer(&c.request.checkout_id), chain_end(b).max(ctx.now()));
            }
            notify(state, ctx, "checkout_paid", text);
        }
        (action::CAPTURE, _, false) => {
            c.reason = Some(format!("the payment could not be captured: {}", failure()));
            compensate(state, ctx);
            return Ok(());
        }
        (action::VOID, _, ok) => {
            if ok {
                c.payment_status = "voided".into();
            } else {
                let detail = format!("the authorisation {} could not be voided: {}; it lapses by itself", c.payment_intent_id.clone().unwrap_or_default(), failure());
                escalate(ctx, c, detail);
            }
            super::cancelled(state, ctx);
            return Ok(());
        }
        (action::TRANSFER, Some(i), ok) => {
            let l = &mut c.legs[i];
            if ok {
                l.set_escrow(escrow::RELEASED);
                l.view.transfer_id = r.provider_id.clone();
                c.released += r.amount;
                let text = texts::partner_paid(&c.legs[i], c.legs[i].view.release_trigger.as_deref() == Some(DELIVERY_CONFIRMED));
                notify(state, ctx, "escrow_released", text);
            } else {
                l.set_escrow(escrow::HELD);
                let detail = format!("paying {} {} to {} for leg {} failed: {}", r.amount, c.currency, l.leg.partner_name, l.view.leg_id, failure());
                escalate(ctx, c, detail);
            }
        }
        (action::TRANSFER, None, ok) => {
            if ok {
                c.affiliate = AffiliateStatus::Transferred;
                c.released += r.amount;
            } else {
                c.affiliate = AffiliateStatus::Pending;
                let detail = format!("paying the affiliate's {} {} failed: {}", r.amount, c.currency, failure());
                escalate(ctx, c, detail);
            }
        }
        (action::REFUND, Some(i), ok) => {
            if ok {
                c.legs[i].set_escrow(escrow::REFUNDED);
                c.legs[i].view.refund_id = r.provider_id.clone();
                c.refunded += r.amount;
                c.payment_status = if c.refunded >= c.captured { "refunded" } else { "partially_refunded" }.into();
                let text = texts::refunded(&c.legs[i]);
                notify(state, ctx, "escrow_refunded", text);
            } else {
                c.legs[i].set_escrow(escrow::HELD);
                let detail = format!("refunding {} {} for leg {} failed: {}", r.amount, c.currency, c.legs[i].view.leg_id, failure());
                escalate(ctx, c, detail);
            }
        }
        (action::CHARGE, Some(i), ok) => {
            if ok {
                c.legs[i].set(leg::CONFIRMED);
                c.legs[i].set_escrow(escrow::HELD);
                c.legs[i].view.payment_intent_id = r.provider_id.clone();
                c.captured += r.amount;
                let text = texts::charged(&c.legs[i]);
                // Charged after the time chain completed: nothing else will release it.
                if state.bundle.as_ref().is_some_and(|b| ctx.now() >= chain_end(b)) {
                    release(ctx, c, i, TIME_CHAIN_COMPLETE);
                }
                notify(state, ctx, "replacement_charged", text);
            } else {
                c.legs[i].set(leg::UNPAID);
                let detail = format!("charging {} {} for the replacement leg {} failed: {}", r.amount, c.currency, c.legs[i].view.leg_id, failure());
                escalate(ctx, c, detail);
            }
        }
        (other, leg, _) => return Err(Rejection::new("UNEXPECTED_RESULT", format!("a {other} answer for leg {leg:?} of checkout {}", r.checkout_id))),
    }
    settle(state, ctx);
    Ok(())
}

/// A leg's delivery confirmed: its partner's share leaves escrow (a repeat changes nothing).
pub fn delivered(state: &mut NegotiationState, d: &LegDelivered, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(c) = state.checkout.as_mut().filter(|c| matches!(c.stage, Stage::Paid | Stage::Completed)) else {
        return Err(Rejection::new("NOT_PAID", format!("bundle {} has no paid checkout", d.bundle_id)));
    };
    let Some(i) = c.leg_index(&d.leg_id) else {
        return Err(Rejection::new("UNKNOWN_LEG", format!("checkout {} has no leg {}", c.request.checkout_id, d.leg_id)));
    };
    match c.legs[i].view.escrow_status.as_str() {
        escrow::HELD => release(ctx, c, i, DELIVERY_CONFIRMED),
        escrow::RELEASING | escrow::RELEASED => return Ok(()),
        other => return Err(Rejection::new("ESCROW_NOT_HELD", format!("leg {}'s escrow is {other}", d.leg_id))),
    }
    settle(state, ctx);
    Ok(())
}

/// The bundle's time chain is complete: every leg still held is released.
pub fn chain_completed(state: &mut NegotiationState, checkout_id: &str, ctx: &mut Ctx<Out>) {
    let Some(c) = state.checkout.as_mut().filter(|c| c.request.checkout_id == checkout_id && c.stage == Stage::Paid) else { return };
    for i in 0..c.legs.len() {
        if c.legs[i].escrow_is(escrow::HELD) {
            release(ctx, c, i, TIME_CHAIN_COMPLETE);
        }
    }
    settle(state, ctx);
}

fn release(ctx: &mut Ctx<Out>, c: &mut Checkout, i: usize, trigger: &str) {
    let l = &mut c.legs[i];
    l.view.release_trigger = Some(trigger.to_string());
    if l.view.partner_share.is_zero() {
        l.set_escrow(escrow::RELEASED);
        return;
    }
    l.set_escrow(escrow::RELEASING);
    let (share, account) = (l.view.partner_share, l.leg.payout_account.clone());
    command(ctx, c, action::TRANSFER, share, Some(i), |p| {
        p.destination = account;
        p.recipient_kind = Some("partner".into());
    });
}

/// A paid leg moved to another partner (rules CO8): the original is refunded in full, the
/// replacement charged on its own and held in escrow for its partner.
pub fn leg_replaced(state: &mut NegotiationState, leg_id: &str, a: &AlternativeFound, ctx: &mut Ctx<Out>) {
    let Some(new_leg) = state.bundle.as_ref().and_then(|b| b.legs.iter().find(|l| l.leg_id == leg_id)).cloned() else { return };
    let Some(c) = state.checkout.as_mut().filter(|c| c.stage == Stage::Paid) else { return };
    let Some(i) = c.leg_index(leg_id) else { return };
    c.legs[i].set(leg::REPLACED);
    if c.legs[i].escrow_is(escrow::HELD) {
        c.legs[i].set_escrow(escrow::REFUNDING);
        let (amount, pi) = (c.legs[i].view.amount, c.legs[i].view.payment_intent_id.clone().or_else(|| c.payment_intent_id.clone()));
        command(ctx, c, action::REFUND, amount, Some(i), |p| {
            p.payment_intent_id = pi;
            p.recipient_kind = Some("user".into());
        });
    }
    let mut replacement = PaidLeg::new(&new_leg, c.request.affiliate_percent, Some(a.negotiation_id.clone()), leg::CHARGING);
    replacement.replacement = true;
    let j = c.legs.len();
    c.legs.push(replacement);
    if new_leg.payout_account.is_none() {
        c.legs[j].set(leg::UNPAID);
        let detail = format!("the replacement partner {} has no payout account; leg {} was not charged", new_leg.partner_name, leg_id);
        escalate(ctx, c, detail);
    } else {
        let (amount, method) = (new_leg.price, c.request.payment_method.clone());
        command(ctx, c, action::CHARGE, amount, Some(j), |p| p.payment_method = Some(method));
    }
    settle(state, ctx);
}

/// Once nothing is held or in flight: the affiliate is paid, then the checkout is complete.
fn settle(state: &mut NegotiationState, ctx: &mut Ctx<Out>) {
    let Some(c) = state.checkout.as_mut() else { return };
    let open = c.legs.iter().any(|l| [escrow::HELD, escrow::RELEASING, escrow::REFUNDING].contains(&l.view.escrow_status.as_str()) || l.is(leg::CHARGING));
    if c.stage == Stage::Paid && !open && c.pending.is_empty() {
        let commission = c.affiliate_commission();
        match (c.affiliate, c.request.affiliate_account.clone()) {
            (AffiliateStatus::Pending, Some(account)) if commission > Decimal::ZERO => {
                c.affiliate = AffiliateStatus::Transferring;
                command(ctx, c, action::TRANSFER, commission, None, |p| {
                    p.destination = Some(account);
                    p.recipient_kind = Some("affiliate".into());
                });
            }
            (AffiliateStatus::Transferring, _) => {}
            (affiliate, _) => {
                if affiliate == AffiliateStatus::Pending {
                    c.affiliate = AffiliateStatus::Cancelled;
                }
                c.stage = Stage::Completed;
                ctx.cancel(&chain_timer(&c.request.checkout_id));
                notify(state, ctx, "checkout_completed", texts::SETTLED.into());
            }
        }
    }
    snapshot(state, ctx);
}
