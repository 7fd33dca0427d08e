//! What an understood message does to a session in negotiation or final confirmation: cancel all,
//! confirm (holds), or apply every item decision of the message (targets resolved against the lines
//! as the customer saw them), append/edit extracted lines, then settle the state the lines imply and
//! pick the one reply.

use super::holds;
use super::lines::{self, implied_state, is_active, line_id, new_line, number_of, resolve_target, TargetError};
use super::state::{inventory_status, line_status, Session, WorkflowState};
use super::text::{self, Reply};
use super::SessionOutput;
use rust_decimal::Decimal;
use souk_runtime::Ctx;
use souk_schemas::orders::{IntentLine, IntentResolved, ItemDecision, OrderLine};

/// Intent decisions (`IntentResolved.decision`) this module acts on.
mod intent {
    pub const CONFIRM: &str = "CONFIRM";
    pub const CANCEL_ALL: &str = "CANCEL_ALL";
    pub const EDIT: &str = "EDIT";
}

/// Item actions (`ItemDecision.action`).
mod action {
    pub const ACCEPT_AVAILABLE: &str = "ACCEPT_AVAILABLE";
    pub const CANCEL_ITEM: &str = "CANCEL_ITEM";
    pub const REQUEST_ALTERNATIVE: &str = "REQUEST_ALTERNATIVE";
    pub const EDIT_ITEM: &str = "EDIT_ITEM";
    pub const REPLACE: &str = "REPLACE";
}

/// Applies an understood message; the reply, or `None` when the answer comes later (confirm: the
/// reservation's outcome answers).
pub(super) fn apply(session: &mut Session, intent: &IntentResolved, ctx: &mut Ctx<SessionOutput>) -> Option<Reply> {
    let decision = intent.decision.as_str();
    let only_a_decision = intent.decisions.is_empty() && intent.lines.is_empty();
    if decision == intent::CANCEL_ALL {
        session.set_state(WorkflowState::OrderCancelled);
        return Some(text::cancelled());
    }
    if decision == intent::CONFIRM && only_a_decision && session.state == WorkflowState::FinalCustomerConfirmation {
        holds::start_reservation(session, ctx);
        return None;
    }
    if decision == intent::EDIT && only_a_decision {
        return Some(text::ask_edit());
    }
    let mut notes = Notes::default();
    let mut alternatives_of = None;
    let item_decisions = item_decisions(intent);
    let targets: Vec<(&ItemDecision, Result<String, TargetError>)> = item_decisions.iter().map(|d| (d, resolve_target(&session.lines, d).map(|p| session.lines[p].line_id.clone()))).collect();
    for (d, target) in targets {
        match target {
            Ok(id) => apply_item(session, &id, d, &mut notes, &mut alternatives_of),
            Err(e) => target_note(&e, &mut notes),
        }
    }
    let missing = if decision == intent::EDIT && intent.decisions.is_empty() { edit_or_append(session, &intent.lines) } else { append_lines(session, &intent.lines) };
    if !missing.is_empty() {
        notes.ask("ask_meters", text::missing_meters(&missing));
    }
    session.set_state(implied_state(&session.lines));
    Some(notes.reply(reply_for(session, decision, alternatives_of.as_deref())))
}

/// The message's item decisions; a bare item-level intent becomes one untargeted decision.
fn item_decisions(intent: &IntentResolved) -> Vec<ItemDecision> {
    let bare = [action::ACCEPT_AVAILABLE, action::CANCEL_ITEM, action::REQUEST_ALTERNATIVE];
    if intent.decisions.is_empty() && bare.contains(&intent.decision.as_str()) {
        return vec![ItemDecision { action: intent.decision.clone(), material: None, color: None, index: None, meters: None, replacement: None }];
    }
    intent.decisions.clone()
}

/// The reply for the state the session settled in: cancelled, the summary, the alternatives the
/// customer asked for, or the negotiation (prefixed by what is still open after a premature confirm).
pub(super) fn reply_for(session: &Session, decision: &str, alternatives_of: Option<&str>) -> Reply {
    match session.state {
        WorkflowState::OrderCancelled => text::cancelled(),
        WorkflowState::FinalCustomerConfirmation => text::summary(&session.lines),
        _ => {
            let asked = alternatives_of.and_then(|id| session.lines.iter().position(|l| l.line_id == id));
            if let Some(p) = asked.filter(|&p| session.lines[p].status == line_status::NEGOTIATING) {
                if let Some(n) = number_of(&session.lines, p) {
                    return text::alternatives(n, &session.lines[p]);
                }
            }
            let reply = text::negotiation(&session.lines);
            if decision == intent::CONFIRM {
                reply.after(&text::still_open(&session.lines))
            } else {
                reply
            }
        }
    }
}

/// What a message's decisions leave to tell the customer besides the state's reply: things said,
/// and questions that must be answered first.
#[derive(Debug, Default)]
pub(super) struct Notes {
    said: Vec<String>,
    asked: Vec<(&'static str, String)>,
}

impl Notes {
    fn say(&mut self, note: String) {
        self.said.push(note);
    }

    fn ask(&mut self, purpose: &'static str, question: String) {
        self.asked.push((purpose, question));
    }

    /// `reply` with the notes said first; a question replaces the reply's own call to action
    /// (one per reply, A12: the first question asked; the customer answers it before anything
    /// else is asked).
    pub(super) fn reply(self, reply: Reply) -> Reply {
        let reply = reply.after(&self.said.join("\n"));
        match self.asked.into_iter().next() {
            Some((purpose, question)) => reply.asking(purpose, &question),
            None => reply,
        }
    }
}

/// What to tell the customer when a decision names no single line.
fn target_note(error: &TargetError, notes: &mut Notes) {
    match error {
        TargetError::NoSuchNumber(n) => notes.say(format!("There is no item {n} in your order.")),
        TargetError::NoMatch => notes.say("I couldn't find that item in your order.".to_string()),
        TargetError::Ambiguous => notes.ask("ask_item", "Which item do you mean? Please use its number.".to_string()),
    }
}

/// Applies one item decision to the line `id`.
fn apply_item(session: &mut Session, id: &str, d: &ItemDecision, notes: &mut Notes, alternatives_of: &mut Option<String>) {
    let Some(p) = session.lines.iter().position(|l| l.line_id == id && is_active(l)) else {
        return;
    };
    let number = number_of(&session.lines, p).unwrap_or(0);
    let line = &mut session.lines[p];
    let stock = line.inventory_status.clone().unwrap_or_default();
    match d.action.as_str() {
        action::ACCEPT_AVAILABLE => match (stock.as_str(), line.available_meters) {
            (inventory_status::PARTIAL_AVAILABLE, Some(available)) => {
                line.normalized_meters = available;
                line.status = line_status::ACCEPTED.to_string();
            }
            (inventory_status::FULL_AVAILABLE, _) => line.status = line_status::ACCEPTED.to_string(),
            _ => notes.say(format!("Item {number} is out of stock, so there is nothing to take.")),
        },
        action::CANCEL_ITEM => line.status = line_status::CANCELLED.to_string(),
        action::REQUEST_ALTERNATIVE if stock == inventory_status::OUT_OF_STOCK && !line.alternatives.is_empty() => {
            *alternatives_of = Some(line.line_id.clone());
        }
        action::REQUEST_ALTERNATIVE if stock == inventory_status::PARTIAL_AVAILABLE => {
            notes.say(format!("Alternatives are only offered for items that are out of stock. For item {number}, take what is available or remove it."));
        }
        action::REQUEST_ALTERNATIVE => notes.say(format!("I have no alternatives to suggest for item {number}.")),
        action::EDIT_ITEM => match d.meters {
            Some(m) if m > Decimal::ZERO => {
                line.requested_meters = m;
                line.normalized_meters = m;
                let alternatives = line.alternatives.clone();
                lines::reevaluate(line, alternatives);
            }
            _ => notes.ask("ask_meters", format!("How many meters should item {number} be?")),
        },
        action::REPLACE => replace(session, p, d, notes),
        other => notes.say(format!("Sorry, I can't do {other:?} for item {number}.")),
    }
}

/// REPLACE: the old line becomes REPLACED, linked to a new line right after it (so numbering keeps
/// its place); replacing a line by the same material and color changes nothing (no duplicates).
fn replace(session: &mut Session, p: usize, d: &ItemDecision, notes: &mut Notes) {
    let Some(replacement) = &d.replacement else {
        notes.ask("ask_replacement", "Which material and color should I use instead?".to_string());
        return;
    };
    let old = &session.lines[p];
    if old.material.eq_ignore_ascii_case(&replacement.material) && old.color.eq_ignore_ascii_case(&replacement.color) {
        return;
    }
    let meters = replacement.requested_meters.filter(|m| *m > Decimal::ZERO).unwrap_or(old.normalized_meters);
    let new = mint_line(session, replacement, meters);
    session.lines[p].status = line_status::REPLACED.to_string();
    session.lines[p].replaced_by = Some(new.line_id.clone());
    session.lines.insert(p + 1, new);
}

/// A new line with the session's next deterministic id.
fn mint_line(session: &mut Session, source: &IntentLine, meters: Decimal) -> OrderLine {
    session.lines_minted += 1;
    new_line(line_id(&session.order_id, session.lines_minted), source, meters)
}

/// Appends extracted lines; returns the ones whose quantity is not in meters (asked for instead).
pub(super) fn append_lines(session: &mut Session, extracted: &[IntentLine]) -> Vec<String> {
    let mut missing = Vec::new();
    for source in extracted {
        match source.requested_meters.filter(|m| *m > Decimal::ZERO) {
            Some(meters) => {
                let line = mint_line(session, source, meters);
                session.lines.push(line);
            }
            None => missing.push(format!("{} {}", source.color, source.material)),
        }
    }
    missing
}

/// EDIT with lines and no item decisions: a line naming an active line's material and color sets
/// its meters (against the fresh stock snapshot); any other line is added.
fn edit_or_append(session: &mut Session, extracted: &[IntentLine]) -> Vec<String> {
    let mut additions = Vec::new();
    for source in extracted {
        let same = |l: &&mut OrderLine| is_active(l) && l.material.eq_ignore_ascii_case(&source.material) && l.color.eq_ignore_ascii_case(&source.color);
        match (session.lines.iter_mut().find(same), source.requested_meters) {
            (Some(line), Some(meters)) if meters > Decimal::ZERO => {
                line.requested_meters = meters;
                line.normalized_meters = meters;
                line.available_meters = source.available_meters.or(line.available_meters);
                line.price_per_meter = source.price_per_meter.or(line.price_per_meter);
                lines::reevaluate(line, source.alternatives.iter().take(lines::MAX_ALTERNATIVES).cloned().collect());
            }
            _ => additions.push(source.clone()),
        }
    }
    append_lines(session, &additions)
}
