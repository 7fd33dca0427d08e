//! One lifecycle for every escalation (rules B7, docs/rules/escalations.md): key
//! `<tenant>|<escalation id>`. Raised `pending` with an assign SLA of 15 minutes (high) or 60
//! (medium) on stream time; an admin assigns it (`assigned`), the assignee starts
//! (`in_progress`) and resolves it with notes (`resolved`). Still pending when the SLA runs out ⇒
//! `sla_breached` and the priority raised once (medium → high → critical). A command that does
//! not fit the state is answered with `EscalationCommandRejected`, never applied.

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::escalations::{EscalationAssigned, EscalationCommandRejected, EscalationInput, EscalationResolved, EscalationUpdated, EscalationWorkStarted};
use souk_schemas::orders::EscalationRaised;
use souk_schemas::StreamEvent;

/// The processor's name in topology.toml.
pub const NAME: &str = "escalation";
/// Minutes to assign a high-priority escalation (rules B7).
pub const HIGH_SLA_MINUTES: i64 = 15;
/// Minutes to assign any other (rules B7).
pub const MEDIUM_SLA_MINUTES: i64 = 60;
const MINUTE_MS: i64 = 60_000;
/// The assign-SLA timer.
pub const SLA_TIMER: &str = "assign-sla";

/// Where an escalation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Nobody has it yet.
    Pending,
    /// Someone has it.
    Assigned,
    /// They are on it.
    InProgress,
    /// Handled. Final.
    Resolved,
}

impl Status {
    /// The logged name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
        }
    }
}

/// One escalation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    /// How it was raised.
    pub raised: EscalationRaised,
    /// Where it stands.
    pub status: Status,
    /// Now (raised priority after a breach).
    pub priority: String,
    /// Stream time it was raised.
    pub raised_at: i64,
    /// When it must be assigned by.
    pub assign_due_at: i64,
    /// The SLA ran out while pending.
    pub sla_breached: bool,
    /// Who has it.
    pub assignee: Option<String>,
    /// When it was resolved.
    pub resolved_at: Option<i64>,
    /// What was done.
    pub notes: Option<String>,
}

/// The state of one key: the escalation once raised.
pub type EscalationState = Option<Escalation>;

/// The lifecycle; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct EscalationProcessor;

/// What it emits (→ `events`, `escalation.events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationOutput {
    /// The snapshot after every change.
    EscalationUpdated(EscalationUpdated),
    /// A command refused.
    EscalationCommandRejected(EscalationCommandRejected),
}

souk_schemas::stream_event!(EscalationOutput { EscalationUpdated, EscalationCommandRejected });

/// The next priority after a breach (once).
pub fn raised_priority(priority: &str) -> &'static str {
    match priority {
        "high" | "critical" => "critical",
        _ => "high",
    }
}

/// Minutes to assign an escalation of `priority`.
pub fn sla_minutes(priority: &str) -> i64 {
    if matches!(priority, "high" | "critical") {
        HIGH_SLA_MINUTES
    } else {
        MEDIUM_SLA_MINUTES
    }
}

impl Processor for EscalationProcessor {
    type State = EscalationState;
    type Input = EscalationInput;
    type Output = EscalationOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut EscalationState, event: &EscalationInput, ctx: &mut Ctx<EscalationOutput>) -> Result<(), Rejection> {
        if event.is_tick() {
            return Ok(());
        }
        let id = match event {
            EscalationInput::EscalationRaised(e) => &e.escalation_id,
            EscalationInput::EscalationAssigned(e) => &e.escalation_id,
            EscalationInput::EscalationWorkStarted(e) => &e.escalation_id,
            EscalationInput::EscalationResolved(e) => &e.escalation_id,
            EscalationInput::Tick(_) => return Ok(()),
        };
        let expected = format!("{}|{id}", event.envelope().tenant_id);
        if ctx.key() != expected {
            return Err(Rejection::new("KEY_MISMATCH", format!("escalation {id} of tenant {} under key {:?}", event.envelope().tenant_id, ctx.key())));
        }
        match event {
            EscalationInput::EscalationRaised(e) => raised(state, e, ctx),
            EscalationInput::EscalationAssigned(c) => command(state, ctx, &c.command_id, id, "assign", |e, now| assign(e, c, now)),
            EscalationInput::EscalationWorkStarted(c) => command(state, ctx, &c.command_id, id, "start", |e, _| start(e, c)),
            EscalationInput::EscalationResolved(c) => command(state, ctx, &c.command_id, id, "resolve", |e, now| resolve(e, c, now)),
            EscalationInput::Tick(_) => {}
        }
        Ok(())
    }

    fn on_timer(&self, state: &mut EscalationState, timer_id: &str, ctx: &mut Ctx<EscalationOutput>) {
        let Some(e) = state.as_mut() else { return };
        if timer_id == SLA_TIMER && e.status == Status::Pending && !e.sla_breached {
            e.sla_breached = true;
            e.priority = raised_priority(&e.priority).to_string();
            snapshot(ctx, e, None);
        }
    }

    fn output_name(&self, _output: &EscalationOutput) -> &'static str {
        "events"
    }
}

/// A new escalation (a second raise of the same id changes nothing).
fn raised(state: &mut EscalationState, e: &EscalationRaised, ctx: &mut Ctx<EscalationOutput>) {
    if state.is_some() {
        return;
    }
    let now = ctx.now();
    let escalation = Escalation {
        raised: e.clone(),
        status: Status::Pending,
        priority: e.priority.clone(),
        raised_at: now,
        assign_due_at: now + sla_minutes(&e.priority) * MINUTE_MS,
        sla_breached: false,
        assignee: None,
        resolved_at: None,
        notes: None,
    };
    ctx.schedule(SLA_TIMER, escalation.assign_due_at);
    snapshot(ctx, &escalation, None);
    *state = Some(escalation);
}

/// Applies `apply` to the escalation, or answers why not.
fn command(state: &mut EscalationState, ctx: &mut Ctx<EscalationOutput>, command_id: &str, id: &str, name: &str, apply: impl FnOnce(&mut Escalation, i64) -> Result<(), (&'static str, String)>) {
    let now = ctx.now();
    let outcome = match state.as_mut() {
        None => Err(("UNKNOWN_ESCALATION", format!("no escalation {id} has been raised"))),
        Some(e) => apply(e, now),
    };
    match outcome {
        Ok(()) => {
            if let Some(e) = state.as_ref() {
                if e.status != Status::Pending {
                    ctx.cancel(SLA_TIMER);
                }
                snapshot(ctx, e, Some(command_id));
            }
        }
        Err((code, detail)) => {
            let rejected =
                EscalationCommandRejected { envelope: ctx.envelope(), command_id: command_id.to_string(), escalation_id: id.to_string(), command: name.to_string(), code: code.to_string(), detail };
            ctx.emit(ctx.key().to_string(), EscalationOutput::EscalationCommandRejected(rejected));
        }
    }
}

fn assign(e: &mut Escalation, c: &EscalationAssigned, _now: i64) -> Result<(), (&'static str, String)> {
    match e.status {
        Status::Resolved => Err(("ALREADY_RESOLVED", format!("escalation {} was resolved", c.escalation_id))),
        _ if c.assignee.trim().is_empty() => Err(("NO_ASSIGNEE", "an assignee is required".into())),
        _ => {
            e.status = if e.status == Status::InProgress && e.assignee.as_deref() == Some(c.assignee.as_str()) { Status::InProgress } else { Status::Assigned };
            e.assignee = Some(c.assignee.clone());
            Ok(())
        }
    }
}

fn start(e: &mut Escalation, c: &EscalationWorkStarted) -> Result<(), (&'static str, String)> {
    match e.status {
        Status::Assigned => {
            e.status = Status::InProgress;
            Ok(())
        }
        Status::Pending => Err(("NOT_ASSIGNED", format!("assign escalation {} before starting it", c.escalation_id))),
        Status::InProgress => Err(("ALREADY_IN_PROGRESS", format!("escalation {} is already in progress", c.escalation_id))),
        Status::Resolved => Err(("ALREADY_RESOLVED", format!("escalation {} was resolved", c.escalation_id))),
    }
}

fn resolve(e: &mut Escalation, c: &EscalationResolved, now: i64) -> Result<(), (&'static str, String)> {
    match e.status {
        Status::Assigned | Status::InProgress => {
            e.status = Status::Resolved;
            e.resolved_at = Some(now);
            e.notes = Some(c.notes.clone());
            Ok(())
        }
        Status::Pending => Err(("NOT_ASSIGNED", format!("assign escalation {} before resolving it", c.escalation_id))),
        Status::Resolved => Err(("ALREADY_RESOLVED", format!("escalation {} was resolved", c.escalation_id))),
    }
}

fn snapshot(ctx: &mut Ctx<EscalationOutput>, e: &Escalation, command_id: Option<&str>) {
    let r = &e.raised;
    let update = EscalationUpdated {
        envelope: ctx.envelope(),
        escalation_id: r.escalation_id.clone(),
        kind: r.kind.clone(),
        priority: e.priority.clone(),
        status: e.status.name().to_string(),
        customer: r.customer.clone(),
        order_id: r.order_id.clone(),
        detail: r.detail.clone(),
        raised_at: e.raised_at,
        assign_due_at: e.assign_due_at,
        sla_breached: e.sla_breached,
        assignee: e.assignee.clone(),
        resolved_at: e.resolved_at,
        notes: e.notes.clone(),
        command_id: command_id.map(str::to_string),
    };
    ctx.emit(ctx.key().to_string(), EscalationOutput::EscalationUpdated(update));
}
