//! Standing intents (rules SI1–SI7, B5, B5a; seed-000 module 23 and §4.7): one keyed state machine
//! per `<tenant>|<intent id>` that waits — days if need be — for every one of its conditions to
//! hold at once, asks the user's approval unless trusted otherwise, then places its bundle.
//!
//! It watches the subjects its conditions name (a place's weather, a product) through the
//! `intent-watch` join ([`crate::intent_watch`]), judges the conditions ([`conditions`]) on every
//! observation and every check (hourly by default) on stream time, and writes its progress ledger
//! (thought / activity / event entries, and narrative facts the narrator renders for the user's
//! thread). Pure: time is `ctx.now()`, ids derive from the causing events.

pub mod conditions;
mod ledger;
pub mod state;

use conditions::{Evaluation, Facts};
use ledger::Entry;
use serde::{Deserialize, Serialize};
use serde_json::json;
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::bundles::{BundleLeg, BundleRequested};
use souk_schemas::intents::{ConditionObserved, IntentCancelRequested, IntentDecided, IntentInput, ProgressLogged, StandingIntentRequested, StandingIntentUpdated, WatchChanged};
use souk_schemas::key::{BundleKey, IntentKey, SubjectKey};
use souk_schemas::payments::{CheckoutFinished, CheckoutRequested};
use souk_schemas::StreamEvent;
pub use state::{Intent, IntentState, Status};

/// The processor's name in topology.toml.
pub const NAME: &str = "standing-intent";
/// One hour of stream time in ms.
pub const HOUR_MS: i64 = 3_600_000;
/// One day of stream time in ms.
pub const DAY_MS: i64 = 24 * HOUR_MS;
/// The source's texts (seed-000 §6.5).
pub mod say {
    /// A high-trust intent whose approval timed out.
    pub const PROCEEDING: &str = "Proceeding automatically based on your preferences";
    /// Any other intent whose approval timed out.
    pub const NO_APPROVAL: &str = "Intent cancelled - no approval received";
    /// The user rejected or cancelled it.
    pub const AS_REQUESTED: &str = "Intent cancelled as requested";
    /// Its checkout is paid (seed-000 module 23's `atomic_checkout_activity`).
    pub const PLACED: &str = "Your order has been placed successfully!";
}

/// Timer ids.
pub mod timer {
    /// The next check of the conditions.
    pub const CHECK: &str = "check";
    /// The end of the longest wait.
    pub const EXPIRE: &str = "expire";
    /// The end of the user's time to approve.
    pub const APPROVAL: &str = "approval";
}

/// The standing intent state machine; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandingIntentProcessor;

/// What a standing intent emits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntentOutput {
    /// Snapshot after every change or check → `events`.
    StandingIntentUpdated(StandingIntentUpdated),
    /// A ledger entry → `events`.
    ProgressLogged(ProgressLogged),
    /// Start or stop watching a subject → `watch` (`observations`).
    WatchChanged(WatchChanged),
    /// The bundle it places → `bundles` (`negotiation.inputs`).
    BundleRequested(BundleRequested),
    /// The bundle's checkout → `bundles` (after the bundle, on its key).
    CheckoutRequested(CheckoutRequested),
}

souk_schemas::stream_event!(IntentOutput { StandingIntentUpdated, ProgressLogged, WatchChanged, BundleRequested, CheckoutRequested });

type Out = IntentOutput;

impl Processor for StandingIntentProcessor {
    type State = IntentState;
    type Input = IntentInput;
    type Output = IntentOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut IntentState, event: &IntentInput, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
        let intent_id = match event {
            IntentInput::StandingIntentRequested(e) => &e.intent_id,
            IntentInput::ConditionObserved(e) => &e.intent_id,
            IntentInput::IntentDecided(e) => &e.intent_id,
            IntentInput::IntentCancelRequested(e) => &e.intent_id,
            IntentInput::CheckoutFinished(e) => &e.intent_id,
            IntentInput::Tick(_) => return Ok(()),
        };
        let expected = IntentKey::of(&event.envelope().tenant_id, intent_id);
        if ctx.key() != expected {
            return Err(Rejection::new("KEY_MISMATCH", format!("event for {expected:?} under key {:?}", ctx.key())));
        }
        match event {
            IntentInput::StandingIntentRequested(r) => requested(state, r, ctx),
            IntentInput::ConditionObserved(o) => observed(state, o, ctx),
            IntentInput::IntentDecided(d) => decided(state, d, ctx),
            IntentInput::IntentCancelRequested(c) => cancel_requested(state, c, ctx),
            IntentInput::CheckoutFinished(f) => checkout_finished(state, f, ctx),
            IntentInput::Tick(_) => Ok(()),
        }
    }

    fn on_timer(&self, state: &mut IntentState, timer_id: &str, ctx: &mut Ctx<Out>) {
        let Some(intent) = state.intent.as_mut() else { return };
        match (timer_id, intent.status) {
            (timer::CHECK, Status::Active) => {
                intent.checks_count += 1;
                // On the grid of the first check, so a late tick never shifts the hours checked.
                let every = intent.request.check_frequency_minutes * 60_000;
                intent.next_check_at += every * (1 + (ctx.now() - intent.next_check_at).max(0) / every);
                ctx.schedule(timer::CHECK, intent.next_check_at);
                judge(intent, ctx);
            }
            (timer::EXPIRE, Status::Active) => {
                let days = intent.request.max_wait_days;
                cancel(intent, ctx, "max_wait", format!("Intent cancelled - the conditions were not met within {days} days"));
            }
            (timer::APPROVAL, Status::WaitingApproval) if intent.request.trust_level == "high" => {
                Entry::event("approval", "approval_timeout", format!("No answer within {} hours; trust is high", intent.request.approval_timeout_hours)).log(intent, ctx);
                Entry::narrative("approval", "action_taken", json!({ "action_reason": { "reason": say::PROCEEDING }, "message": say::PROCEEDING })).log(intent, ctx);
                execute(intent, ctx);
            }
            (timer::APPROVAL, Status::WaitingApproval) => {
                Entry::event("approval", "approval_timeout", format!("No answer within {} hours; trust is {}", intent.request.approval_timeout_hours, intent.request.trust_level)).log(intent, ctx);
                cancel(intent, ctx, "no_approval", say::NO_APPROVAL.into());
            }
            _ => return,
        }
        snapshot(intent, ctx);
    }

    fn output_name(&self, output: &Out) -> &'static str {
        match output {
            Out::WatchChanged(_) => "watch",
            Out::BundleRequested(_) | Out::CheckoutRequested(_) => "bundles",
            _ => "events",
        }
    }
}

/// Opens the intent (a redelivered request changes nothing): scout result, watches, timers, and
/// the first judgement of its conditions.
fn requested(state: &mut IntentState, r: &StandingIntentRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    if let Some(existing) = &state.intent {
        return if existing.request.envelope.event_id == r.envelope.event_id { Ok(()) } else { Err(Rejection::new("INTENT_EXISTS", format!("standing intent {} was already requested", r.intent_id))) };
    }
    state::validate(r).map_err(|reason| Rejection::new("BAD_INTENT", reason))?;
    let now = ctx.now();
    let mut intent = Intent::opened(r.clone(), now);
    let vendors = r.vendors_found;
    Entry::thought("vendor_scout", "found_vendors", format!("Scouted {vendors} vendors matching criteria")).log(&mut intent, ctx);
    Entry::narrative("vendor_scout", "found_vendors", json!({ "vendors": vendors, "message": format!("Found {vendors} vendors for your request!") })).log(&mut intent, ctx);
    for (kind, subject) in intent.subjects() {
        watch(ctx, &intent, kind, &subject, true);
    }
    ctx.schedule(timer::CHECK, intent.next_check_at);
    ctx.schedule(timer::EXPIRE, intent.expires_at);
    judge(&mut intent, ctx);
    snapshot(&intent, ctx);
    state.intent = Some(intent);
    Ok(())
}

/// An observation of a watched subject: kept if it is newer than what the intent knew, then the
/// conditions are judged again.
fn observed(state: &mut IntentState, o: &ConditionObserved, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(intent) = state.intent.as_mut() else {
        return Err(Rejection::new("UNKNOWN_INTENT", format!("no standing intent {}", o.intent_id)));
    };
    if !intent.remember(&o.observation) || intent.status != Status::Active {
        return Ok(());
    }
    judge(intent, ctx);
    snapshot(intent, ctx);
    Ok(())
}

fn decided(state: &mut IntentState, d: &IntentDecided, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(intent) = state.intent.as_mut() else {
        return Err(Rejection::new("UNKNOWN_INTENT", format!("no standing intent {}", d.intent_id)));
    };
    if intent.status != Status::WaitingApproval {
        // A late or repeated answer: recorded, nothing changes.
        let verdict = if d.approved { "approval" } else { "rejection" };
        Entry::event("approval", "ignored", format!("{verdict} by {} ignored: the intent is {}", d.actor, intent.status.name())).log(intent, ctx);
        return Ok(());
    }
    ctx.cancel(timer::APPROVAL);
    if d.approved {
        Entry::event("approval", "approved", format!("Approved by {}", d.actor)).log(intent, ctx);
        execute(intent, ctx);
    } else {
        cancel(intent, ctx, "rejected", say::AS_REQUESTED.into());
    }
    snapshot(intent, ctx);
    Ok(())
}

fn cancel_requested(state: &mut IntentState, c: &IntentCancelRequested, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let Some(intent) = state.intent.as_mut() else {
        return Err(Rejection::new("UNKNOWN_INTENT", format!("no standing intent {}", c.intent_id)));
    };
    if intent.status.is_final() || intent.status == Status::Executing {
        Entry::event("cancel", "ignored", format!("cancel by {} ignored: the intent is {}", c.actor, intent.status.name())).log(intent, ctx);
        return Ok(());
    }
    cancel(intent, ctx, "user", say::AS_REQUESTED.into());
    snapshot(intent, ctx);
    Ok(())
}

/// Judges the conditions now; narrates when the reason to wait changed; fires when all hold.
fn judge(intent: &mut Intent, ctx: &mut Ctx<Out>) {
    let r = &intent.request;
    let Evaluation { checks, waiting } = conditions::evaluate(&r.conditions, Facts { latest: Some(&intent.observations), previous: Some(&intent.previous) }, ctx.now(), r.utc_offset_minutes);
    intent.checks = checks;
    intent.last_checked_at = ctx.now();
    let Some(waiting) = waiting else {
        Entry::event("condition_wait", "conditions_met", format!("All conditions met: {}", intent.if_text())).log(intent, ctx);
        fire(intent, ctx);
        return;
    };
    let context = waiting.context();
    let fingerprint = context.to_string();
    if intent.last_waiting.as_deref() == Some(fingerprint.as_str()) {
        return;
    }
    intent.last_waiting = Some(fingerprint);
    let summary: Vec<String> = intent.checks.iter().map(|c| format!("{} {}: {}", c.kind, c.value, if c.met { "met" } else { "not met" })).collect();
    Entry::thought("condition_wait", "waiting", format!("Checked {}: {}", intent.if_text(), summary.join(", "))).log(intent, ctx);
    let next_check = intent.next_check_at;
    Entry::narrative("condition_wait", "waiting", json!({ "waiting_reason": context, "monitoring": true, "next_check": next_check })).log(intent, ctx);
}

/// Every condition holds: approval first unless trust allows otherwise (low always asks).
fn fire(intent: &mut Intent, ctx: &mut Ctx<Out>) {
    ctx.cancel(timer::CHECK);
    ctx.cancel(timer::EXPIRE);
    if intent.request.requires_approval || intent.request.trust_level == "low" {
        intent.status = Status::WaitingApproval;
        let due = ctx.now() + intent.request.approval_timeout_hours * HOUR_MS;
        intent.approval_due_at = Some(due);
        ctx.schedule(timer::APPROVAL, due);
        Entry::narrative("approval", "approval", json!({ "waiting_reason": { "type": "approval", "item": intent.items_text() }, "approval_due": due })).log(intent, ctx);
    } else {
        execute(intent, ctx);
    }
}

/// Places the bundle: its legs start now and are due as long after now as the intent allows.
fn execute(intent: &mut Intent, ctx: &mut Ctx<Out>) {
    intent.status = Status::Executing;
    intent.approval_due_at = None;
    let now = ctx.now();
    let r = intent.request.clone();
    let bundle_id = format!("si-{}", r.intent_id);
    let legs = r.legs.iter().map(|l| BundleLeg { starts_at: now + l.starts_at, deadline: now + l.deadline, arrives_at: None, ..l.clone() }).collect();
    let bundle = BundleRequested { envelope: ctx.envelope(), bundle_id: bundle_id.clone(), user_id: r.user_id.clone(), thread_id: r.thread_id.clone(), starts_at: now, legs };
    let key = BundleKey::of(&r.envelope.tenant_id, &bundle_id);
    ctx.emit_to("bundles", key.clone(), Out::BundleRequested(bundle));
    intent.bundle_id = Some(bundle_id.clone());
    unwatch_all(intent, ctx);
    Entry::activity("checkout", "executing", format!("Placing bundle {bundle_id}: {}", intent.then_text())).log(intent, ctx);
    match &r.payment_method {
        Some(method) => {
            let checkout = CheckoutRequested {
                envelope: ctx.envelope(),
                checkout_id: format!("co-{}", r.intent_id),
                bundle_id: bundle_id.clone(),
                payment_method: method.clone(),
                affiliate_id: None,
                affiliate_account: None,
                affiliate_percent: None,
                intent_id: Some(r.intent_id.clone()),
            };
            ctx.emit_to("bundles", key, Out::CheckoutRequested(checkout));
            Entry::activity("checkout", "checkout_requested", format!("Checking out bundle {bundle_id} with the saved payment method")).log(intent, ctx);
        }
        // Intents recorded before payment methods were required: the bundle is placed, its
        // checkout is the user's to start.
        None => Entry::thought("checkout", "no_payment_method", format!("No payment method is saved for this intent; bundle {bundle_id} waits for the user's checkout")).log(intent, ctx),
    }
    let reason = format!("all your conditions are met ({})", intent.if_text());
    Entry::narrative("checkout", "decision_made", json!({ "decision_reason": { "reason": reason }, "items": intent.items_text(), "bundle_id": bundle_id })).log(intent, ctx);
}

/// The bundle's checkout ended: paid ⇒ completed; compensated ⇒ cancelled with its reason (the
/// conditions are not waited for again: the moment they held has passed).
fn checkout_finished(state: &mut IntentState, f: &CheckoutFinished, ctx: &mut Ctx<Out>) -> Result<(), Rejection> {
    let intent = state.intent.as_mut().ok_or_else(|| Rejection::new("UNKNOWN_INTENT", format!("no intent {}", f.intent_id)))?;
    if intent.status != Status::Executing || intent.bundle_id.as_deref() != Some(f.bundle_id.as_str()) {
        Entry::event("checkout", "ignored", format!("checkout {} of bundle {} ended while the intent is {}", f.checkout_id, f.bundle_id, intent.status.name())).log(intent, ctx);
        return Ok(());
    }
    if f.succeeded {
        intent.status = Status::Completed;
        Entry::thought("checkout", "completed", format!("Checkout completed: {}", f.checkout_id)).log(intent, ctx);
        Entry::narrative("checkout", "completed", json!({ "message": say::PLACED, "checkout_id": f.checkout_id })).log(intent, ctx);
    } else {
        let why = f.reason.clone().unwrap_or_else(|| "the checkout failed".into());
        intent.status = Status::Cancelled;
        intent.reason = Some(format!("Checkout failed: {why}"));
        Entry::narrative("checkout", "cancelled", json!({ "cancel_reason": "checkout_failed", "message": format!("Intent cancelled - the order could not be placed: {why}") })).log(intent, ctx);
    }
    snapshot(intent, ctx);
    Ok(())
}

fn cancel(intent: &mut Intent, ctx: &mut Ctx<Out>, why: &str, text: String) {
    intent.status = Status::Cancelled;
    intent.reason = Some(text.clone());
    intent.approval_due_at = None;
    for t in [timer::CHECK, timer::EXPIRE, timer::APPROVAL] {
        ctx.cancel(t);
    }
    unwatch_all(intent, ctx);
    Entry::narrative("cancel", "cancelled", json!({ "cancel_reason": why, "message": text })).log(intent, ctx);
}

fn unwatch_all(intent: &Intent, ctx: &mut Ctx<Out>) {
    for (kind, subject) in intent.subjects() {
        watch(ctx, intent, kind, &subject, false);
    }
}

fn watch(ctx: &mut Ctx<Out>, intent: &Intent, kind: &str, subject: &str, watching: bool) {
    let tenant = &intent.request.envelope.tenant_id;
    let change = WatchChanged { envelope: ctx.envelope(), intent_id: intent.request.intent_id.clone(), kind: kind.to_string(), subject: subject.to_string(), watching };
    ctx.emit_to("watch", SubjectKey::of(tenant, kind, subject), Out::WatchChanged(change));
}

fn snapshot(intent: &Intent, ctx: &mut Ctx<Out>) {
    let r = &intent.request;
    let update = StandingIntentUpdated {
        envelope: ctx.envelope(),
        intent_id: r.intent_id.clone(),
        user_id: r.user_id.clone(),
        thread_id: r.thread_id.clone(),
        description: r.description.clone(),
        status: intent.status.name().to_string(),
        trust_level: r.trust_level.clone(),
        requires_approval: r.requires_approval || r.trust_level == "low",
        if_text: intent.if_text(),
        then_text: intent.then_text(),
        checks: intent.checks.clone(),
        checks_count: intent.checks_count,
        last_checked_at: intent.last_checked_at,
        expires_at: intent.expires_at,
        approval_due_at: intent.approval_due_at,
        bundle_id: intent.bundle_id.clone(),
        reason: intent.reason.clone(),
        created_at: intent.created_at,
        vendors_found: r.vendors_found,
    };
    ctx.emit(ctx.key().to_string(), Out::StandingIntentUpdated(update));
}
