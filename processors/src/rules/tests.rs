//! The rule aggregate through the broker-free driver: example 1 (taught → proposed with the
//! owner chat's answer), confirmation before use, pausing, deleting for good, refusals with their
//! reasons, and a proptest that no sequence of commands activates an unconfirmed rule.

use super::*;
use proptest::prelude::*;
use rstest::rstest;
use souk_runtime::TestDriver;
use souk_schemas::rules::*;
use souk_schemas::Envelope;

const TOPIC: &str = "rules.commands";
const KEY: &str = "shop|rule-1";
const T0: i64 = 1_764_000_000_000;

fn env(id: &str) -> Envelope {
    Envelope::external("shop", id, T0)
}

fn teach(id: &str, text: &str) -> RuleCommand {
    RuleCommand::RuleTaught(RuleTaught { envelope: env(id), command_id: id.into(), rule_id: "rule-1".into(), text: text.into(), priority: 0 })
}

fn confirm(id: &str) -> RuleCommand {
    RuleCommand::RuleConfirmed(RuleConfirmed { envelope: env(id), command_id: id.into(), rule_id: "rule-1".into() })
}

fn set_active(id: &str, active: bool) -> RuleCommand {
    RuleCommand::RuleChanged(RuleChanged { envelope: env(id), command_id: id.into(), rule_id: "rule-1".into(), priority: None, active: Some(active), description: None, response_template: None })
}

fn delete(id: &str) -> RuleCommand {
    RuleCommand::RuleDeleteRequested(RuleDeleteRequested { envelope: env(id), command_id: id.into(), rule_id: "rule-1".into() })
}

const EXAMPLE_1: &str = "If someone orders more than 3 items, give them 10% off";

fn updated(out: &[souk_runtime::processor::Emitted<RuleOutput>]) -> Vec<(&'static str, RuleUpdated)> {
    out.iter()
        .filter_map(|e| match &e.event {
            RuleOutput::RuleUpdated(u) => Some((e.output.unwrap_or("events"), u.clone())),
            RuleOutput::RuleCommandRejected(_) => None,
        })
        .collect()
}

fn rejected(out: &[souk_runtime::processor::Emitted<RuleOutput>]) -> Option<String> {
    out.iter().find_map(|e| match &e.event {
        RuleOutput::RuleCommandRejected(r) => Some(r.code.clone()),
        RuleOutput::RuleUpdated(_) => None,
    })
}

#[test]
fn example_1_a_taught_rule_is_proposed_with_the_owner_chats_answer() {
    let mut d = TestDriver::new(BusinessRules, 1);
    let out = d.feed(TOPIC, KEY, teach("c1", EXAMPLE_1));
    let snapshots = updated(&out);
    assert_eq!(snapshots.iter().map(|(o, _)| *o).collect::<Vec<_>>(), vec!["table", "events"], "the table and the events both carry it");
    let rule = &snapshots[1].1;
    assert_eq!((rule.rule_type.as_str(), rule.status.as_str(), rule.action.as_str()), ("pricing", "proposed", "discount"));
    assert_eq!(rule.description, "10% discount for more than 3 items");
    assert_eq!(rule.conditions, vec![RuleCondition { field: "quantity".into(), operator: "gt".into(), value: "3".into() }]);
    assert_eq!(rule.discount_percent, Some("10".parse().unwrap()));
    assert_eq!(rule.answer, "I understood a pricing rule \"10% discount for more than 3 items\". Confirm it and I'll start using it.");
    assert_eq!(rule.parser, parser::PARSER);
}

#[rstest]
#[case::confirmed(&["teach", "confirm"], "active", None)]
#[case::confirmed_twice(&["teach", "confirm", "confirm"], "active", None)]
#[case::paused(&["teach", "confirm", "pause"], "inactive", None)]
#[case::resumed(&["teach", "confirm", "pause", "resume"], "active", None)]
#[case::paused_rule_is_not_confirmed_again(&["teach", "confirm", "pause", "confirm"], "inactive", Some("RULE_PAUSED"))]
#[case::unconfirmed_cannot_be_turned_on(&["teach", "resume"], "proposed", Some("NOT_CONFIRMED"))]
#[case::deleted(&["teach", "confirm", "delete"], "deleted", None)]
#[case::deleted_stays_deleted(&["teach", "delete", "resume"], "deleted", Some("RULE_DELETED"))]
#[case::deleted_cannot_be_confirmed(&["teach", "delete", "confirm"], "deleted", Some("RULE_DELETED"))]
#[case::taught_twice(&["teach", "teach"], "proposed", Some("RULE_EXISTS"))]
#[case::confirm_unknown(&["confirm"], "", Some("UNKNOWN_RULE"))]
fn lifecycle(#[case] steps: &[&str], #[case] status: &str, #[case] last_refusal: Option<&str>) {
    let mut d = TestDriver::new(BusinessRules, 1);
    let mut last = vec![];
    for (i, step) in steps.iter().enumerate() {
        let id = format!("c{i}");
        let command = match *step {
            "teach" => teach(&id, EXAMPLE_1),
            "confirm" => confirm(&id),
            "pause" => set_active(&id, false),
            "resume" => set_active(&id, true),
            _ => delete(&id),
        };
        last = d.feed(TOPIC, KEY, command);
    }
    assert_eq!(d.state(KEY).rule.map(|r| r.status).unwrap_or_default(), status);
    assert_eq!(rejected(&last).as_deref(), last_refusal);
}

#[test]
fn words_without_a_rule_are_answered_with_examples_and_change_nothing() {
    let mut d = TestDriver::new(BusinessRules, 1);
    let out = d.feed(TOPIC, KEY, teach("c1", "We are closed on Sundays"));
    let RuleOutput::RuleCommandRejected(r) = &out[0].event else { panic!("{out:?}") };
    assert_eq!((r.code.as_str(), r.detail.as_str()), ("NO_RULE_FOUND", parser::NOT_A_RULE));
    assert_eq!(d.state(KEY).rule, None);
}

#[test]
fn a_redelivered_command_is_applied_once() {
    let mut d = TestDriver::new(BusinessRules, 1);
    d.feed(TOPIC, KEY, teach("c1", EXAMPLE_1));
    assert!(d.feed(TOPIC, KEY, teach("c1", EXAMPLE_1)).is_empty(), "no RULE_EXISTS for the same command");
}

#[test]
fn a_command_for_another_rule_on_this_key_is_a_dead_letter() {
    let mut d = TestDriver::new(BusinessRules, 1);
    let mut other = teach("c1", EXAMPLE_1);
    if let RuleCommand::RuleTaught(t) = &mut other {
        t.rule_id = "rule-2".into();
    }
    let out = d.feed(TOPIC, KEY, other);
    assert!(updated(&out).is_empty());
    assert_eq!(d.rejections.last().map(|r| r.3.code.clone()).as_deref(), Some("KEY_MISMATCH"));
}

proptest! {
    /// Whatever the owner does, a rule is active only after a confirmation, never comes back
    /// from deletion, and every accepted command writes the same snapshot to both outputs.
    #[test]
    fn no_rule_applies_unconfirmed_or_after_deletion(ops in proptest::collection::vec(0u8..5, 1..30)) {
        let mut d = TestDriver::new(BusinessRules, 1);
        let mut confirmed = false;
        let mut deleted = false;
        for (i, op) in ops.into_iter().enumerate() {
            let id = format!("c{i}");
            let command = match op { 0 => teach(&id, EXAMPLE_1), 1 => confirm(&id), 2 => set_active(&id, false), 3 => set_active(&id, true), _ => delete(&id) };
            let out = d.feed(TOPIC, KEY, command);
            let snapshots = updated(&out);
            if let [(_, table), (_, events)] = snapshots.as_slice() {
                prop_assert_eq!(table, events);
            }
            let Some(rule) = d.state(KEY).rule else { continue };
            if op == 1 && rule.status == "active" { confirmed = true; }
            if rule.status == "deleted" { deleted = true; }
            prop_assert!(rule.status != "active" || confirmed, "active without a confirmation");
            prop_assert!(!deleted || rule.status == "deleted", "back from deletion");
        }
    }
}
