//! Owner decisions (rules S003.9, BUG-9): approve or reject, only from `WAITING_OWNER_CONFIRMATION`; any other
//! state (double click, unknown or closed order, saga in flight) gets a refused `CommandOutcome`
//! and nothing else.

use super::holds::{self, APPROVE};
use super::outputs;
use super::state::{hold_status, line_status, ApprovalInFlight, Session, SessionState, WorkflowState};
use super::text;
use super::{with_session, SessionOutput};
use souk_runtime::Ctx;
use souk_schemas::orders::OwnerDecision;

/// Command name of rejections in `CommandOutcome.command`.
const REJECT: &str = "REJECT";
/// `OrderUpdated.cause` of owner decisions.
const CAUSE: &str = "OwnerDecision";

/// Handles one owner command.
pub(super) fn on_decision(state: &mut SessionState, cmd: &OwnerDecision, ctx: &mut Ctx<SessionOutput>) {
    let refuse = |ctx: &mut Ctx<SessionOutput>, code: &str, detail: String| {
        outputs::outcome(ctx, &cmd.command_id, &cmd.order_id, &cmd.decision, Some(code), detail);
    };
    if cmd.decision != APPROVE && cmd.decision != REJECT {
        return refuse(ctx, "UNKNOWN_COMMAND", format!("decision {:?} is neither APPROVE nor REJECT", cmd.decision));
    }
    let active = state.session.as_ref().filter(|s| s.order_id == cmd.order_id).map(|s| s.state);
    match (active, state.closed_state(&cmd.order_id)) {
        (Some(WorkflowState::WaitingOwnerConfirmation), _) => {}
        (Some(other), _) | (None, Some(other)) => {
            return refuse(ctx, "INVALID_STATE", format!("order {} is {}, not WAITING_OWNER_CONFIRMATION", cmd.order_id, other.as_str()));
        }
        (None, None) => return refuse(ctx, "UNKNOWN_ORDER", format!("order {} is not known for this customer", cmd.order_id)),
    }
    if cmd.decision == APPROVE {
        if let Some(unpriced) = unpriced_line(state.session.as_ref().expect("checked above")) {
            return refuse(ctx, "MISSING_PRICE", format!("no price per meter for {unpriced}"));
        }
        with_session(state, CAUSE, ctx, |session, ctx| approve(session, cmd, ctx));
    } else {
        with_session(state, CAUSE, ctx, |session, ctx| reject(session, cmd, ctx));
    }
}

/// The first accepted line without a price snapshot, named for the owner.
fn unpriced_line(session: &Session) -> Option<String> {
    session.lines.iter().find(|l| l.status == line_status::ACCEPTED && l.price_per_meter.is_none()).map(|l| format!("{} {}", l.color, l.material))
}

/// APPROVE: every line still held ⇒ commit them all; some holds expired ⇒ place those again first
/// (holds derived from the command id), committing when all are held again.
fn approve(session: &mut Session, cmd: &OwnerDecision, ctx: &mut Ctx<SessionOutput>) {
    session.approval = Some(ApprovalInFlight { command_id: cmd.command_id.clone(), rereserved_line_ids: Vec::new() });
    let lapsed: Vec<usize> = session.accepted_positions().into_iter().filter(|&p| !matches!(session.lines[p].hold_status.as_deref(), Some(hold_status::HELD) | Some(hold_status::COMMITTED))).collect();
    if lapsed.is_empty() {
        holds::commit_held(session, ctx);
        return;
    }
    for p in lapsed {
        holds::rereserve_in_approval(session, p, &cmd.command_id, ctx);
    }
    session.set_state(WorkflowState::ApprovalReserving);
}

/// REJECT: give every hold back, tell the customer, close the order (no financial effect).
fn reject(session: &mut Session, cmd: &OwnerDecision, ctx: &mut Ctx<SessionOutput>) {
    for p in session.accepted_positions() {
        if session.lines[p].hold_status.as_deref() == Some(hold_status::HELD) {
            holds::release_line(session, p, "owner rejected", ctx);
        }
    }
    session.set_state(WorkflowState::OrderRejected);
    let order_id = session.order_id.clone();
    outputs::reply(ctx, Some(&order_id), text::rejected(cmd.reason.as_deref()));
    outputs::outcome(ctx, &cmd.command_id, &order_id, REJECT, None, "order rejected; holds released".to_string());
}
