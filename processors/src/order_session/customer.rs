//! Customer messages (`IntentResolved`, the only meaning of a message): wamid dedup, the confidence
//! gate with one clarifying question then a human (B6, A7), opening a session (A11), the status
//! reply while the order is out of the customer's hands (A8) and the negotiation bound (A7).

use super::decisions;
use super::lines::implied_state;
use super::outputs::{self, derived_id, escalate_once, escalation_kind};
use super::state::{Session, SessionState, WorkflowState};
use super::text::{self, Reply};
use super::{finish, SessionOutput};
use souk_runtime::tenants::DEFAULT_CONFIDENCE_THRESHOLD;
use souk_runtime::Ctx;
use souk_schemas::orders::IntentResolved;
use std::collections::BTreeSet;

/// Not-understood messages in a row that hand the conversation to a human (B6, A7).
pub const UNKNOWN_STREAK_LIMIT: i32 = 2;
/// Customer turns in one negotiation round that escalate (A7).
pub const NEGOTIATION_TURN_LIMIT: i32 = 6;
/// `OrderUpdated.cause` of a change made by a customer message.
const CAUSE: &str = "IntentResolved";

/// Whether the NLU classified the message confidently enough to act on it, against the threshold
/// recorded on the event (so a replay decides the same even if the tenant's setting changed since).
pub fn is_understood(intent: &IntentResolved) -> bool {
    intent.decision != "UNKNOWN" && intent.confidence >= intent.confidence_threshold.unwrap_or(DEFAULT_CONFIDENCE_THRESHOLD)
}

/// Handles one customer message.
pub(super) fn on_intent(state: &mut SessionState, intent: &IntentResolved, ctx: &mut Ctx<SessionOutput>) {
    if !state.first_sight_of(&intent.wamid) {
        return;
    }
    let understood = is_understood(intent);
    match state.session.take() {
        None => idle(state, intent, understood, ctx),
        Some(session) if !session.state.accepts_customer_changes() => {
            outputs::reply(ctx, Some(&session.order_id), text::status(session.state));
            state.session = Some(session);
        }
        Some(session) => converse(state, session, intent, understood, ctx),
    }
}

/// No active session: open one if the message names lines, else help or clarify.
fn idle(state: &mut SessionState, intent: &IntentResolved, understood: bool, ctx: &mut Ctx<SessionOutput>) {
    if !understood {
        state.idle_unknown_streak += 1;
        let reply = if state.idle_unknown_streak < UNKNOWN_STREAK_LIMIT {
            text::clarify()
        } else {
            if !state.idle_escalated {
                state.idle_escalated = true;
                let detail = not_understood_detail(state.idle_unknown_streak, intent);
                outputs::escalation(ctx, None, escalation_kind::LOW_CONFIDENCE, &intent.message_event_id, detail);
            }
            text::handover()
        };
        outputs::reply(ctx, None, reply);
        return;
    }
    state.idle_unknown_streak = 0;
    state.idle_escalated = false;
    let order_id = derived_id(&format!("order/{}", intent.message_event_id));
    let mut session = Session {
        order_id: order_id.clone(),
        customer: intent.customer.clone(),
        state: WorkflowState::CustomerNegotiation,
        opened_at: ctx.now(),
        lines: Vec::new(),
        negotiation_turns: 0,
        unknown_streak: 0,
        lines_minted: 0,
        escalated: BTreeSet::new(),
        approval: None,
    };
    let missing = decisions::append_lines(&mut session, &intent.lines);
    if session.lines.is_empty() {
        let reply = if missing.is_empty() { text::help() } else { Reply::plain("ask_meters", text::missing_meters(&missing)) };
        outputs::reply(ctx, None, reply);
        return;
    }
    session.state = implied_state(&session.lines);
    let reply = decisions::reply_for(&session, &intent.decision, None);
    let reply = if missing.is_empty() { reply } else { reply.asking("ask_meters", &text::missing_meters(&missing)) };
    outputs::reply(ctx, Some(&order_id), reply);
    finish(state, None, session, CAUSE, Some(&intent.wamid), ctx);
}

/// An active session in negotiation or final confirmation.
fn converse(state: &mut SessionState, mut session: Session, intent: &IntentResolved, understood: bool, ctx: &mut Ctx<SessionOutput>) {
    let before = session.clone();
    if session.state == WorkflowState::CustomerNegotiation {
        session.negotiation_turns += 1;
    }
    let reply = if understood {
        session.unknown_streak = 0;
        decisions::apply(&mut session, intent, ctx)
    } else {
        session.unknown_streak += 1;
        Some(not_understood(&mut session, intent, ctx))
    };
    if let Some(reply) = reply.map(|r| bound_negotiation(&mut session, r, ctx)) {
        outputs::reply(ctx, Some(&session.order_id), reply);
    }
    finish(state, Some(&before), session, CAUSE, Some(&intent.wamid), ctx);
}

/// First miss: ask once; second: a human takes over (escalated once per session).
fn not_understood(session: &mut Session, intent: &IntentResolved, ctx: &mut Ctx<SessionOutput>) -> Reply {
    if session.unknown_streak < UNKNOWN_STREAK_LIMIT {
        return text::clarify();
    }
    let kind = if session.state == WorkflowState::CustomerNegotiation { escalation_kind::NEGOTIATION_STALLED } else { escalation_kind::LOW_CONFIDENCE };
    escalate_once(ctx, session, kind, not_understood_detail(session.unknown_streak, intent));
    text::handover()
}

/// What the owner reads about a run of messages the NLU could not classify.
fn not_understood_detail(streak: i32, intent: &IntentResolved) -> String {
    let said: String = intent.text.as_deref().unwrap_or("").chars().take(100).collect();
    let threshold = intent.confidence_threshold.unwrap_or(DEFAULT_CONFIDENCE_THRESHOLD);
    format!("{streak} messages in a row not understood (confidence {} < {threshold}); last: {said:?}", intent.confidence)
}

/// A7: the negotiation's 6th turn without leaving it escalates once and tells the customer.
fn bound_negotiation(session: &mut Session, mut reply: Reply, ctx: &mut Ctx<SessionOutput>) -> Reply {
    if session.state == WorkflowState::CustomerNegotiation && session.negotiation_turns >= NEGOTIATION_TURN_LIMIT {
        let detail = format!("{} customer turns without resolving the order", session.negotiation_turns);
        if escalate_once(ctx, session, escalation_kind::NEGOTIATION_STALLED, detail) {
            reply.text = format!("{}\n{}", reply.text, text::OWNER_ASKED);
        }
    }
    reply
}
