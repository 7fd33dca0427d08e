//! The business-rule aggregate of the social inbox (rules BR1–BR4, source 002 §a.7 and F.2.5):
//! one keyed state machine per `<tenant>|<rule_id>`.
//!
//! - BR1 the owner teaches a rule in the owner chat; the offline reader ([`parser`]) turns the
//!   words into a `proposed` rule, or answers why it read none — nothing is guessed;
//! - BR2 no rule applies before the owner confirms it (the source's AC): `proposed` → `active`;
//! - BR3 a confirmed rule can be paused and resumed (`active` ↔ `inactive`), reworded and
//!   re-prioritised; a deleted rule stays deleted and its id is never reused;
//! - BR4 every accepted command leaves the rule's snapshot on `rules.events` (the owner chat's
//!   answer and the read model) and on the compacted `rules.table` the reply stage reads.
//!
//! A command delivered twice is applied once.

pub mod parser;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::rules::{RuleChanged, RuleCommand, RuleCommandRejected, RuleCondition, RuleOutput, RuleUpdated};
use std::collections::VecDeque;

/// The processor's name in topology.toml.
pub const NAME: &str = "business-rules";
/// Command ids remembered per rule (rules change a few times in their life).
pub const RECENT_COMMANDS: usize = 64;

/// A rule's state: the last snapshot, or nothing for a rule never taught.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleState {
    /// The rule as it stands.
    pub rule: Option<Rule>,
    /// Command ids applied, oldest first.
    pub recent_commands: VecDeque<String>,
}

/// What a rule is, as the aggregate keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// The source's rule type.
    pub rule_type: String,
    /// A short name.
    pub name: String,
    /// One line saying what it does.
    pub description: String,
    /// When it applies.
    pub conditions: Vec<RuleCondition>,
    /// `discount` or `answer`.
    pub action: String,
    /// A discount's percentage.
    pub discount_percent: Option<rust_decimal::Decimal>,
    /// What the customer is told.
    pub response_template: String,
    /// Higher first.
    pub priority: i32,
    /// `proposed`, `active`, `inactive` or `deleted`.
    pub status: String,
    /// The reader that read it.
    pub parser: String,
    /// The owner's words.
    pub taught_text: String,
    /// When it was taught (stream time, ms).
    pub created_at: i64,
}

/// The rule state machine; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct BusinessRules;

/// Why a command was refused.
struct Refusal {
    code: &'static str,
    detail: String,
}

fn refuse(code: &'static str, detail: impl Into<String>) -> Refusal {
    Refusal { code, detail: detail.into() }
}

impl Processor for BusinessRules {
    type State = RuleState;
    type Input = RuleCommand;
    type Output = RuleOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut RuleState, event: &RuleCommand, ctx: &mut Ctx<RuleOutput>) -> Result<(), Rejection> {
        let (tenant, rule_id) = ctx.key().split_once('|').ok_or_else(|| Rejection::new("BAD_KEY", format!("key {:?} is not <tenant>|<rule_id>", ctx.key())))?;
        let envelope = souk_schemas::StreamEvent::envelope(event);
        if envelope.tenant_id != tenant {
            return Err(Rejection::new("TENANT_MISMATCH", format!("event tenant {:?} on key {:?}", envelope.tenant_id, ctx.key())));
        }
        let (command_id, named) = event.ids();
        if named != rule_id {
            return Err(Rejection::new("KEY_MISMATCH", format!("rule {named:?} on key {:?}", ctx.key())));
        }
        let command_id = command_id.to_string();
        if state.recent_commands.contains(&command_id) {
            return Ok(());
        }
        let outcome = match event {
            RuleCommand::RuleTaught(e) => teach(state, e, ctx.now()),
            RuleCommand::RuleConfirmed(_) => confirm(state),
            RuleCommand::RuleChanged(e) => change(state, e),
            RuleCommand::RuleDeleteRequested(_) => delete(state),
        };
        let rule_id = rule_id.to_string();
        match outcome {
            Ok(()) => publish(state, &command_id, &rule_id, ctx),
            Err(refusal) => {
                let command = match event {
                    RuleCommand::RuleTaught(_) => "teach",
                    RuleCommand::RuleConfirmed(_) => "confirm",
                    RuleCommand::RuleChanged(_) => "change",
                    RuleCommand::RuleDeleteRequested(_) => "delete",
                };
                let rejected = RuleCommandRejected { envelope: ctx.envelope(), command_id: command_id.clone(), rule_id, command: command.into(), code: refusal.code.into(), detail: refusal.detail };
                let key = ctx.key().to_string();
                ctx.emit_to("events", key, RuleOutput::RuleCommandRejected(rejected));
            }
        }
        state.recent_commands.push_back(command_id);
        while state.recent_commands.len() > RECENT_COMMANDS {
            state.recent_commands.pop_front();
        }
        Ok(())
    }

    /// Rules keep no timers.
    fn on_timer(&self, _state: &mut RuleState, _timer_id: &str, _ctx: &mut Ctx<RuleOutput>) {}

    fn output_name(&self, _output: &RuleOutput) -> &'static str {
        "events"
    }
}

/// BR1: a taught rule is read and proposed; a second teaching under the same id is refused.
fn teach(state: &mut RuleState, e: &souk_schemas::rules::RuleTaught, now: i64) -> Result<(), Refusal> {
    if let Some(rule) = &state.rule {
        return Err(refuse("RULE_EXISTS", format!("Rule {} already exists ({}); change it instead", e.rule_id, rule.status)));
    }
    let read = parser::read_rule(&e.text).map_err(|why| refuse("NO_RULE_FOUND", why))?;
    state.rule = Some(Rule {
        rule_type: read.rule_type.into(),
        name: read.name,
        description: read.description,
        conditions: read.conditions,
        action: read.action.into(),
        discount_percent: read.discount_percent,
        response_template: read.response_template,
        priority: e.priority,
        status: "proposed".into(),
        parser: parser::PARSER.into(),
        taught_text: e.text.clone(),
        created_at: now,
    });
    Ok(())
}

fn existing(state: &mut RuleState) -> Result<&mut Rule, Refusal> {
    match state.rule.as_mut() {
        None => Err(refuse("UNKNOWN_RULE", "No such rule; teach it in the owner chat first")),
        Some(rule) if rule.status == "deleted" => Err(refuse("RULE_DELETED", "The rule was deleted; teach a new one")),
        Some(rule) => Ok(rule),
    }
}

/// BR2: proposed → active; confirming an active rule again changes nothing.
fn confirm(state: &mut RuleState) -> Result<(), Refusal> {
    let rule = existing(state)?;
    match rule.status.as_str() {
        "proposed" | "active" => {
            rule.status = "active".into();
            Ok(())
        }
        _ => Err(refuse("RULE_PAUSED", "The rule is paused; resume it with active: true")),
    }
}

/// BR3: wording, priority, and pausing or resuming a confirmed rule.
fn change(state: &mut RuleState, e: &RuleChanged) -> Result<(), Refusal> {
    let rule = existing(state)?;
    if let Some(active) = e.active {
        if rule.status == "proposed" {
            return Err(refuse("NOT_CONFIRMED", "Confirm the rule before turning it on or off"));
        }
        rule.status = if active { "active" } else { "inactive" }.into();
    }
    if let Some(priority) = e.priority {
        rule.priority = priority;
    }
    if let Some(description) = &e.description {
        rule.description = description.clone();
    }
    if let Some(template) = &e.response_template {
        rule.response_template = template.clone();
    }
    Ok(())
}

/// BR3: deleted for good (deleting twice changes nothing).
fn delete(state: &mut RuleState) -> Result<(), Refusal> {
    match state.rule.as_mut() {
        None => Err(refuse("UNKNOWN_RULE", "No such rule")),
        Some(rule) => {
            rule.status = "deleted".into();
            Ok(())
        }
    }
}

/// The owner chat's answer for a rule in its status.
pub fn answer(rule: &Rule) -> String {
    let what = format!("{} rule \"{}\"", rule.rule_type, rule.description);
    match rule.status.as_str() {
        "proposed" => format!("I understood a {what}. Confirm it and I'll start using it."),
        "active" => format!("The {what} is active: customers will hear \"{}\" when it applies.", rule.response_template),
        "inactive" => format!("The {what} is paused."),
        _ => format!("The {what} is deleted."),
    }
}

/// BR4: the snapshot after an accepted command, on `rules.events` and `rules.table`.
fn publish(state: &RuleState, command_id: &str, rule_id: &str, ctx: &mut Ctx<RuleOutput>) {
    let Some(rule) = &state.rule else { return };
    let updated = RuleUpdated {
        envelope: ctx.envelope(),
        command_id: command_id.to_string(),
        rule_id: rule_id.to_string(),
        rule_type: rule.rule_type.clone(),
        name: rule.name.clone(),
        description: rule.description.clone(),
        conditions: rule.conditions.clone(),
        action: rule.action.clone(),
        discount_percent: rule.discount_percent,
        response_template: rule.response_template.clone(),
        priority: rule.priority,
        status: rule.status.clone(),
        parser: rule.parser.clone(),
        taught_text: rule.taught_text.clone(),
        answer: answer(rule),
        created_at: rule.created_at,
        updated_at: ctx.now(),
    };
    let key = ctx.key().to_string();
    ctx.emit_to("table", key.clone(), RuleOutput::RuleUpdated(updated.clone()));
    ctx.emit_to("events", key, RuleOutput::RuleUpdated(updated));
}
