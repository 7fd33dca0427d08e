//! The escalation lifecycle through the broker-free driver (rules B7): every transition of
//! pending → assigned → in_progress → resolved as a table, the commands that do not fit refused
//! with a reason, the assign SLA on stream time (15 min high, 60 medium; exactly at the limit it
//! breaches, a millisecond earlier not) raising the priority once, and a raise seen twice.

use rstest::rstest;
use souk_processors::escalation::{EscalationOutput as Out, EscalationProcessor, Status};
use souk_runtime::partitioner::partition_for;
use souk_runtime::TestDriver;
use souk_schemas::clock::Tick;
use souk_schemas::escalations::*;
use souk_schemas::orders::EscalationRaised;
use souk_schemas::Envelope;

const TOPIC: &str = "escalation.inputs";
const KEY: &str = "acme|n1/timeout";
const T0: i64 = 1_705_320_000_000;
const MINUTE: i64 = 60_000;

fn at(id: &str, t: i64) -> Envelope {
    Envelope::external("acme", id, t)
}

fn raise(priority: &str) -> EscalationInput {
    EscalationInput::EscalationRaised(EscalationRaised {
        envelope: at("raise", T0),
        escalation_id: "n1/timeout".into(),
        customer: None,
        order_id: None,
        kind: "TIMEOUT".into(),
        priority: priority.into(),
        detail: "No reply within 15 minutes".into(),
    })
}

fn assign(who: &str) -> EscalationInput {
    EscalationInput::EscalationAssigned(EscalationAssigned {
        envelope: at(&format!("assign-{who}"), T0 + MINUTE),
        command_id: format!("assign-{who}"),
        escalation_id: "n1/timeout".into(),
        assignee: who.into(),
        actor: "admin".into(),
    })
}

fn start() -> EscalationInput {
    start_as("start")
}

/// A start with its own command id (a redelivery of the same one is dropped by the runtime).
fn start_as(id: &str) -> EscalationInput {
    EscalationInput::EscalationWorkStarted(EscalationWorkStarted { envelope: at(id, T0 + 2 * MINUTE), command_id: id.into(), escalation_id: "n1/timeout".into(), actor: "maya".into() })
}

fn resolve() -> EscalationInput {
    resolve_as("resolve")
}

fn resolve_as(id: &str) -> EscalationInput {
    EscalationInput::EscalationResolved(EscalationResolved {
        envelope: at(id, T0 + 3 * MINUTE),
        command_id: id.into(),
        escalation_id: "n1/timeout".into(),
        actor: "maya".into(),
        notes: "Called the florist; pink is fine".into(),
    })
}

struct Run(TestDriver<EscalationProcessor>);

impl Run {
    fn new() -> Run {
        Run(TestDriver::new(EscalationProcessor, 4))
    }

    fn feed(&mut self, input: EscalationInput) -> Vec<Out> {
        self.0.feed(TOPIC, KEY, input).into_iter().map(|e| e.event).collect()
    }

    fn tick(&mut self, t: i64) -> Vec<Out> {
        let partition = partition_for(KEY.as_bytes(), 4);
        self.0.feed_partition(TOPIC, partition, "", EscalationInput::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{t}"), t), partition })).into_iter().map(|e| e.event).collect()
    }

    fn status(&self) -> Option<Status> {
        self.0.state(KEY).map(|e| e.status)
    }
}

fn updated(out: &[Out]) -> Option<&EscalationUpdated> {
    out.iter().rev().find_map(|o| if let Out::EscalationUpdated(u) = o { Some(u) } else { None })
}

fn rejected(out: &[Out]) -> Option<&str> {
    out.iter().find_map(|o| if let Out::EscalationCommandRejected(r) = o { Some(r.code.as_str()) } else { None })
}

/// Each step from the state the steps before it reach: the status after it, or the code it is
/// refused with (the state unchanged).
#[rstest]
#[case::assign_pending(vec![], assign("maya"), Ok(Status::Assigned))]
#[case::reassign(vec![assign("maya")], assign("omar"), Ok(Status::Assigned))]
#[case::start_assigned(vec![assign("maya")], start(), Ok(Status::InProgress))]
#[case::resolve_assigned(vec![assign("maya")], resolve(), Ok(Status::Resolved))]
#[case::resolve_in_progress(vec![assign("maya"), start()], resolve(), Ok(Status::Resolved))]
#[case::start_pending(vec![], start(), Err("NOT_ASSIGNED"))]
#[case::resolve_pending(vec![], resolve(), Err("NOT_ASSIGNED"))]
#[case::start_twice(vec![assign("maya"), start()], start_as("start-2"), Err("ALREADY_IN_PROGRESS"))]
#[case::resolve_twice(vec![assign("maya"), resolve()], resolve_as("resolve-2"), Err("ALREADY_RESOLVED"))]
#[case::assign_resolved(vec![assign("maya"), resolve()], assign("omar"), Err("ALREADY_RESOLVED"))]
#[case::start_resolved(vec![assign("maya"), resolve()], start(), Err("ALREADY_RESOLVED"))]
fn every_transition(#[case] before: Vec<EscalationInput>, #[case] step: EscalationInput, #[case] expected: Result<Status, &str>) {
    let mut run = Run::new();
    run.feed(raise("high"));
    for input in before {
        run.feed(input);
    }
    let status = run.status();
    let out = run.feed(step);
    match expected {
        Ok(after) => {
            assert_eq!(run.status(), Some(after));
            let u = updated(&out).expect("a snapshot");
            assert_eq!(u.status, after.name());
            assert!(u.command_id.is_some(), "the snapshot names its command");
        }
        Err(code) => {
            assert_eq!(rejected(&out), Some(code));
            assert_eq!(run.status(), status, "a refused command changes nothing");
        }
    }
}

/// A command for an escalation nobody raised is refused with the reason.
#[test]
fn a_command_before_the_raise_is_refused() {
    let mut run = Run::new();
    assert_eq!(rejected(&run.feed(assign("maya"))), Some("UNKNOWN_ESCALATION"));
}

/// The assign SLA: at 15 minutes (high) or 60 (medium) still pending breaches once and raises
/// the priority once; assigned in time, nothing happens.
#[rstest]
#[case::high(raise("high"), 15, "critical")]
#[case::medium(raise("medium"), 60, "high")]
fn the_assign_sla_breaches_once_at_its_limit(#[case] raised: EscalationInput, #[case] minutes: i64, #[case] raised_to: &str) {
    let mut run = Run::new();
    let first = run.feed(raised);
    assert_eq!(updated(&first).map(|u| (u.status.as_str(), u.assign_due_at)), Some(("pending", T0 + minutes * MINUTE)));
    assert!(run.tick(T0 + minutes * MINUTE - 1).is_empty(), "a millisecond early: nothing");
    let out = run.tick(T0 + minutes * MINUTE);
    let u = updated(&out).expect("breached");
    assert_eq!((u.sla_breached, u.priority.as_str(), u.status.as_str()), (true, raised_to, "pending"));
    assert!(run.tick(T0 + 10 * minutes * MINUTE).is_empty(), "the priority is raised once");
    let assigned = run.feed(assign("maya"));
    assert_eq!(updated(&assigned).map(|u| (u.priority.as_str(), u.sla_breached)), Some((raised_to, true)), "the breach stays on record");
}

#[test]
fn assigned_in_time_never_breaches() {
    let mut run = Run::new();
    run.feed(raise("high"));
    run.feed(assign("maya"));
    assert!(run.tick(T0 + 60 * MINUTE).is_empty());
}

#[test]
fn a_raise_seen_twice_is_one_escalation() {
    let mut run = Run::new();
    run.feed(raise("high"));
    run.feed(assign("maya"));
    assert!(run.feed(raise("high")).is_empty());
    assert_eq!(run.status(), Some(Status::Assigned));
}
