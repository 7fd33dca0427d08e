//! The hold saga with the inventory pools (A3): reserve every accepted line on confirm, settle when
//! every line answered (all held ⇒ the owner decides; any refused ⇒ release the rest, back to
//! negotiation with fresh availability), commit on approval (re-reserving holds that expired), and
//! complete with the invoice request once every line is deducted.
//!
//! Answers about holds the session does not know (an older hold id, another order) are ignored.
//! Known limitation: if a commit is refused because the hold expired in the pool and the re-reserve
//! then fails, the lines already committed stay deducted (the contracts have no "un-commit"); the
//! order goes back to waiting, the owner gets `INSUFFICIENT_STOCK` (outcome and escalation).

use super::lines::{classify, implied_state, reevaluate};
use super::outputs::{self, derived_id, escalate_once, escalation_kind};
use super::state::{hold_status, Session, SessionState, WorkflowState};
use super::text;
use super::{decisions, with_session, SessionOutput};
use souk_runtime::Ctx;
use souk_schemas::inventory::{Committed, HoldCommandRejected, HoldExpired, Released, ReserveRejected, Reserved};

/// Command name of approvals in `CommandOutcome.command`.
pub(super) const APPROVE: &str = "APPROVE";

/// A fresh hold id for line `position`, derived from what caused the (re-)reserve.
fn hold_id(session: &Session, position: usize, cause: &str) -> String {
    derived_id(&format!("{}/{}/hold/{cause}", session.order_id, session.lines[position].line_id))
}

/// Reserves line `position` under a new hold derived from `cause`.
fn reserve_line(session: &mut Session, position: usize, cause: &str, ctx: &mut Ctx<SessionOutput>) {
    let id = hold_id(session, position, cause);
    let order_id = session.order_id.clone();
    outputs::reserve(ctx, &order_id, &mut session.lines[position], id);
}

/// The customer confirmed the summary: hold every accepted line.
pub(super) fn start_reservation(session: &mut Session, ctx: &mut Ctx<SessionOutput>) {
    let cause = ctx.cause().event_id.clone();
    for p in session.accepted_positions() {
        reserve_line(session, p, &cause, ctx);
    }
    session.set_state(WorkflowState::Reserving);
}

/// Commits every held accepted line.
pub(super) fn commit_held(session: &mut Session, ctx: &mut Ctx<SessionOutput>) {
    for p in session.accepted_positions() {
        if has_status(session, p, hold_status::HELD) {
            outputs::commit(ctx, &session.lines[p]);
        }
    }
    session.set_state(WorkflowState::Executing);
}

/// Releases line `position`'s hold; the session will not wait for the answer.
pub(super) fn release_line(session: &mut Session, position: usize, reason: &str, ctx: &mut Ctx<SessionOutput>) {
    outputs::release(ctx, &session.lines[position], reason);
    session.lines[position].hold_status = Some(hold_status::RELEASED.to_string());
}

/// Whether line `position`'s hold is in `status`.
fn has_status(session: &Session, position: usize, status: &str) -> bool {
    session.lines[position].hold_status.as_deref() == Some(status)
}

/// Runs `step` on the line holding `hold_id`, if the active session knows that hold.
fn on_known_hold(state: &mut SessionState, hold_id: &str, cause: &str, ctx: &mut Ctx<SessionOutput>, step: impl FnOnce(&mut Session, usize, &mut Ctx<SessionOutput>)) {
    let Some(position) = state.session.as_ref().and_then(|s| s.line_of_hold(hold_id)) else {
        return;
    };
    with_session(state, cause, ctx, |session, ctx| step(session, position, ctx));
}

/// `Reserved`: the line is held (price snapshot, A4); inside execution it is committed at once.
pub(super) fn on_reserved(state: &mut SessionState, e: &Reserved, ctx: &mut Ctx<SessionOutput>) {
    on_known_hold(state, &e.hold_id, "Reserved", ctx, |session, p, ctx| {
        if !has_status(session, p, hold_status::PENDING) {
            return;
        }
        let line = &mut session.lines[p];
        line.hold_status = Some(hold_status::HELD.to_string());
        line.allocations = e.allocations.clone();
        line.price_per_meter = e.price_per_meter.or(line.price_per_meter);
        if session.state == WorkflowState::Executing {
            outputs::commit(ctx, &session.lines[p]);
        }
        advance(session, ctx);
    });
}

/// `ReserveRejected`: the line is short; its availability is what the pool has now.
pub(super) fn on_reserve_rejected(state: &mut SessionState, e: &ReserveRejected, ctx: &mut Ctx<SessionOutput>) {
    on_known_hold(state, &e.hold_id, "ReserveRejected", ctx, |session, p, ctx| {
        if !has_status(session, p, hold_status::PENDING) {
            return;
        }
        let line = &mut session.lines[p];
        line.hold_status = Some(hold_status::REJECTED.to_string());
        line.available_meters = Some(e.available_meters);
        line.inventory_status = Some(classify(line.normalized_meters, line.available_meters).to_string());
        advance(session, ctx);
    });
}

/// `Committed`: the line is deducted.
pub(super) fn on_committed(state: &mut SessionState, e: &Committed, ctx: &mut Ctx<SessionOutput>) {
    on_known_hold(state, &e.hold_id, "Committed", ctx, mark_committed);
}

/// Marks a line deducted and moves the saga on.
fn mark_committed(session: &mut Session, p: usize, ctx: &mut Ctx<SessionOutput>) {
    if has_status(session, p, hold_status::COMMITTED) {
        return;
    }
    session.lines[p].hold_status = Some(hold_status::COMMITTED.to_string());
    advance(session, ctx);
}

/// `Released`: the hold went back (already marked when the session asked).
pub(super) fn on_released(state: &mut SessionState, e: &Released, ctx: &mut Ctx<SessionOutput>) {
    on_known_hold(state, &e.hold_id, "Released", ctx, |session, p, _| {
        if !has_status(session, p, hold_status::COMMITTED) {
            session.lines[p].hold_status = Some(hold_status::RELEASED.to_string());
        }
    });
}

/// `HoldExpired`: while the owner has not decided ⇒ "approval overdue" (once); while an approval is
/// executing ⇒ reserve the line again.
pub(super) fn on_expired(state: &mut SessionState, e: &HoldExpired, ctx: &mut Ctx<SessionOutput>) {
    on_known_hold(state, &e.hold_id, "HoldExpired", ctx, |session, p, ctx| {
        if !has_status(session, p, hold_status::HELD) {
            return;
        }
        session.lines[p].hold_status = Some(hold_status::EXPIRED.to_string());
        match session.state {
            WorkflowState::WaitingOwnerConfirmation => {
                let detail = format!("the hold on {} {} expired before the order was approved", session.lines[p].color, session.lines[p].material);
                escalate_once(ctx, session, escalation_kind::APPROVAL_OVERDUE, detail);
            }
            WorkflowState::Executing | WorkflowState::ApprovalReserving => {
                let cause = ctx.cause().event_id.clone();
                rereserve_in_approval(session, p, &cause, ctx);
            }
            _ => {}
        }
    });
}

/// `HoldCommandRejected`: a commit refused because the hold is gone (expired in the pool just before
/// the commit arrived) ⇒ reserve the line again; an "already committed" answer counts as committed.
pub(super) fn on_command_rejected(state: &mut SessionState, e: &HoldCommandRejected, ctx: &mut Ctx<SessionOutput>) {
    if e.command != "commit" {
        return;
    }
    on_known_hold(state, &e.hold_id, "HoldCommandRejected", ctx, |session, p, ctx| {
        if e.reason == "ALREADY_COMMITTED" {
            mark_committed(session, p, ctx);
        } else if session.state == WorkflowState::Executing && !has_status(session, p, hold_status::COMMITTED) {
            let cause = ctx.cause().event_id.clone();
            rereserve_in_approval(session, p, &cause, ctx);
        }
    });
}

/// Places line `p` again during an approval, under a hold derived from `cause`; remembered so a
/// failed approval releases it.
pub(super) fn rereserve_in_approval(session: &mut Session, p: usize, cause: &str, ctx: &mut Ctx<SessionOutput>) {
    reserve_line(session, p, cause, ctx);
    let line_id = session.lines[p].line_id.clone();
    if let Some(approval) = session.approval.as_mut() {
        approval.rereserved_line_ids.push(line_id);
    }
}

/// Moves the saga on once every accepted line has answered.
fn advance(session: &mut Session, ctx: &mut Ctx<SessionOutput>) {
    let accepted = session.accepted_positions();
    let count = |statuses: &[&str]| accepted.iter().filter(|&&p| statuses.iter().any(|s| has_status(session, p, s))).count();
    let pending = count(&[hold_status::PENDING]);
    let secured = count(&[hold_status::HELD, hold_status::COMMITTED]);
    match session.state {
        WorkflowState::Reserving if pending == 0 => {
            if secured == accepted.len() {
                session.set_state(WorkflowState::WaitingOwnerConfirmation);
                outputs::reply(ctx, Some(&session.order_id.clone()), text::sent_for_approval(&session.lines));
            } else {
                reservation_failed(session, ctx);
            }
        }
        WorkflowState::ApprovalReserving if pending == 0 => {
            if secured == accepted.len() {
                commit_held(session, ctx);
            } else {
                approval_failed(session, "some items are no longer in stock", ctx);
            }
        }
        WorkflowState::Executing => {
            let in_flight = count(&[hold_status::PENDING, hold_status::HELD, hold_status::EXPIRED]);
            if count(&[hold_status::COMMITTED]) == accepted.len() {
                complete(session, ctx);
            } else if in_flight == 0 {
                approval_failed(session, "an item's hold expired and the stock is gone; the other items were already deducted", ctx);
            }
        }
        _ => {}
    }
}

/// A3: some line is short at confirmation ⇒ release the held ones, re-evaluate the short ones with
/// the fresh availability and go back to the customer.
fn reservation_failed(session: &mut Session, ctx: &mut Ctx<SessionOutput>) {
    for p in session.accepted_positions() {
        if has_status(session, p, hold_status::HELD) {
            release_line(session, p, "order reservation incomplete", ctx);
        } else if has_status(session, p, hold_status::REJECTED) {
            let line = &mut session.lines[p];
            let alternatives = line.alternatives.clone();
            reevaluate(line, alternatives);
        }
    }
    session.set_state(implied_state(&session.lines));
    let reply = decisions::reply_for(session, "", None).after("Sorry, some items sold out while we were reserving them.");
    outputs::reply(ctx, Some(&session.order_id.clone()), reply);
}

/// The approval could not be executed: release what this approval re-reserved, stay waiting, and
/// tell the owner (refused outcome + escalation).
fn approval_failed(session: &mut Session, why: &str, ctx: &mut Ctx<SessionOutput>) {
    let approval = session.approval.take();
    let rereserved = approval.as_ref().map(|a| a.rereserved_line_ids.clone()).unwrap_or_default();
    for p in session.accepted_positions() {
        if rereserved.contains(&session.lines[p].line_id) && has_status(session, p, hold_status::HELD) {
            release_line(session, p, "approval failed", ctx);
        }
    }
    session.set_state(WorkflowState::WaitingOwnerConfirmation);
    let short: Vec<String> = session
        .accepted_positions()
        .into_iter()
        .filter(|&p| has_status(session, p, hold_status::REJECTED))
        .map(|p| format!("{} {} (available {} m)", session.lines[p].color, session.lines[p].material, session.lines[p].available_meters.unwrap_or_default().normalize()))
        .collect();
    let detail = format!("INSUFFICIENT_STOCK: {why}: {}", short.join(", "));
    if let Some(approval) = approval {
        let order_id = session.order_id.clone();
        outputs::outcome(ctx, &approval.command_id, &order_id, APPROVE, Some("INSUFFICIENT_STOCK"), detail.clone());
    }
    escalate_once(ctx, session, escalation_kind::INSUFFICIENT_STOCK, detail);
}

/// Every line deducted: the order is complete and asks for its one invoice. The customer hears
/// "approved" from the invoicing processor, once it has the invoice number.
fn complete(session: &mut Session, ctx: &mut Ctx<SessionOutput>) {
    session.set_state(WorkflowState::OrderCompleted);
    if let Some(approval) = session.approval.take() {
        let order_id = session.order_id.clone();
        outputs::outcome(ctx, &approval.command_id, &order_id, APPROVE, None, "order executed; invoice requested".to_string());
    }
    outputs::invoice(ctx, session);
}
