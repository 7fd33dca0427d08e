//! The business rules the reply stage applies (rules BR5): the compacted `rules.table` the rule
//! aggregates write (caught up before every batch — never a read model), and the pure step that
//! applies a tenant's active rules to a draft, highest priority first (ties by rule id):
//!
//! - the first `answer` rule whose topic the message mentions answers a message the drafter is
//!   not sure of (below 0.90) with the owner's own words, at 0.90;
//! - the first `discount` rule whose quantity condition the message meets adds its template to
//!   the draft (one discount, never stacked).
//!
//! The draft records the ids of the rules it applied; the read side counts them as executions.

use super::drafter::{normalise, Draft};
use rust_decimal::Decimal;
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::topology::SourceTopic;
use souk_schemas::rules::{RuleCondition, RuleTableEvent, RuleUpdated};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Every rule as it stands by `<tenant>|<rule_id>`.
pub type RulesTable = GlobalTable<RuleTableEvent, RuleUpdated>;

/// How sure a draft is that answers with the owner's own words.
pub const OWNER_ANSWER_CONFIDENCE: &str = "0.900";

fn fold(rows: &mut HashMap<String, RuleUpdated>, key: &str, event: RuleTableEvent) {
    let RuleTableEvent::RuleUpdated(rule) = event;
    rows.insert(key.to_string(), rule);
}

/// Loads the table of `topic` (the stage's `tables` entry).
pub async fn load(bootstrap: &str, codec: Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<RulesTable> {
    GlobalTable::of(bootstrap, codec, topic, Box::new(fold), Duration::from_secs(60)).await
}

/// The tenant's active rules in the order they apply: priority descending, then rule id.
pub fn active_of_tenant(table: &RulesTable, tenant: &str) -> Vec<RuleUpdated> {
    let prefix = format!("{tenant}|");
    let mut rules: Vec<RuleUpdated> = table.read(|rows| rows.iter().filter(|(k, r)| k.starts_with(&prefix) && r.status == "active").map(|(_, r)| r.clone()).collect());
    sort(&mut rules);
    rules
}

fn sort(rules: &mut [RuleUpdated]) {
    rules.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.rule_id.cmp(&b.rule_id)));
}

/// The units a message asks for: the first number in it that is not a size ("size 42").
pub fn asked_quantity(words: &str) -> Option<u32> {
    let w: Vec<&str> = words.split(' ').collect();
    w.iter().enumerate().find_map(|(i, word)| {
        if i > 0 && w[i - 1] == "size" {
            return None;
        }
        let n = souk_processors::rules::parser::number(word)?;
        (1..=100_000).contains(&n).then_some(n)
    })
}

/// Whether two words are forms of one ("ship", "shipping", "shipped"): equal, or sharing a
/// prefix of at least four letters that leaves at most two letters of the shorter.
fn same_word(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    a == b || (common >= 4 && common + 2 >= shorter)
}

fn holds(condition: &RuleCondition, words: &str, quantity: Option<u32>) -> bool {
    let value: Option<u32> = condition.value.trim().parse().ok();
    match (condition.field.as_str(), condition.operator.as_str()) {
        ("quantity", "gt") => matches!((quantity, value), (Some(q), Some(v)) if q > v),
        ("quantity", "gte") => matches!((quantity, value), (Some(q), Some(v)) if q >= v),
        ("message", "mentions") => {
            let have: Vec<&str> = words.split(' ').collect();
            let topic = normalise(&condition.value);
            !topic.is_empty() && topic.split(' ').all(|t| have.iter().any(|h| same_word(h, t)))
        }
        // A condition this build does not know never holds: a rule is applied only when understood.
        _ => false,
    }
}

/// Applies `rules` (in their order) to the `draft` for the customer's `text`; returns the draft
/// and the ids of the rules applied.
pub fn apply(draft: Draft, text: &str, rules: &[RuleUpdated]) -> (Draft, Vec<String>) {
    let words = normalise(text);
    let quantity = asked_quantity(&words);
    let applies = |r: &&RuleUpdated| !r.conditions.is_empty() && r.conditions.iter().all(|c| holds(c, &words, quantity));
    let mut draft = draft;
    let mut applied = vec![];
    let owner: Decimal = OWNER_ANSWER_CONFIDENCE.parse().expect("a literal confidence");
    if draft.confidence < owner {
        if let Some(rule) = rules.iter().filter(|r| r.action == "answer").find(applies) {
            draft = Draft { text: rule.response_template.clone(), confidence: owner, reason: format!("the owner's answer: rule {} ({})", rule.rule_id, rule.name) };
            applied.push(rule.rule_id.clone());
        }
    }
    if let Some(rule) = rules.iter().filter(|r| r.action == "discount").find(applies) {
        draft.text = format!("{} {}", draft.text.trim_end(), rule.response_template);
        draft.reason = format!("{}; rule {} ({})", draft.reason, rule.rule_id, rule.name);
        applied.push(rule.rule_id.clone());
    }
    (draft, applied)
}

#[cfg(test)]
mod tests {
    use super::super::drafter::draft_reply;
    use super::*;
    use rstest::rstest;
    use souk_schemas::Envelope;

    fn rule(id: &str, priority: i32, action: &str, condition: (&str, &str, &str), template: &str) -> RuleUpdated {
        RuleUpdated {
            envelope: Envelope::external("shop", id, 0),
            command_id: id.into(),
            rule_id: id.into(),
            rule_type: "custom".into(),
            name: id.into(),
            description: String::new(),
            conditions: vec![RuleCondition { field: condition.0.into(), operator: condition.1.into(), value: condition.2.into() }],
            action: action.into(),
            discount_percent: None,
            response_template: template.into(),
            priority,
            status: "active".into(),
            parser: "rules-offline-1".into(),
            taught_text: String::new(),
            answer: String::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn rules() -> Vec<RuleUpdated> {
        let mut r = vec![
            rule("r-bulk", 0, "discount", ("quantity", "gt", "3"), "Good news: orders of more than 3 items get 10% off!"),
            rule("r-bulk-big", 5, "discount", ("quantity", "gte", "10"), "Good news: orders of 10 or more items get 20% off!"),
            rule("r-ship", 0, "answer", ("message", "mentions", "shipping"), "We ship within 2 days."),
            rule("r-ship-lagos", 1, "answer", ("message", "mentions", "lagos"), "We deliver in Lagos the next day."),
        ];
        sort(&mut r);
        r
    }

    #[rstest]
    #[case::bulk("Can I get 5 of them?", &["r-bulk"], "Good news: orders of more than 3 items get 10% off!")]
    #[case::highest_priority_discount_only("I'd like twelve please", &["r-bulk-big"], "20% off")]
    #[case::boundary_not_more_than_3("Can I get 3 of them?", &[], "")]
    #[case::size_is_not_a_quantity("Do you have size 42 in stock?", &[], "")]
    #[case::answer("Do you ship abroad?", &["r-ship"], "We ship within 2 days.")]
    #[case::answer_by_priority("How is shipping to Lagos?", &["r-ship-lagos"], "We deliver in Lagos the next day.")]
    #[case::answer_and_discount("Shipping for 6 pieces?", &["r-ship", "r-bulk"], "We ship within 2 days. Good news: orders of more than 3 items get 10% off!")]
    fn rules_apply_by_priority(#[case] text: &str, #[case] applied: &[&str], #[case] contains: &str) {
        let (draft, ids) = apply(draft_reply(text, &[], &[]), text, &rules());
        assert_eq!(ids, applied.iter().map(|s| s.to_string()).collect::<Vec<_>>(), "{}", draft.reason);
        assert!(draft.text.contains(contains), "{}", draft.text);
    }

    #[test]
    fn a_sure_draft_is_not_replaced_and_unknown_conditions_never_hold() {
        let (draft, ids) = apply(draft_reply("hello", &[], &[]), "hello shipping", &rules());
        assert_eq!((draft.confidence.to_string().as_str(), ids), ("0.900", vec![]), "a greeting keeps its answer: {}", draft.text);
        let odd = [rule("r-odd", 9, "answer", ("weather", "is", "sunny"), "Sunny!")];
        assert!(apply(draft_reply("Is it sunny?", &[], &[]), "Is it sunny?", &odd).1.is_empty());
    }
}
