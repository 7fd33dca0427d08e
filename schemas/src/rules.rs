//! Business rules an owner teaches the inbox (source 002 §a.7 and F.2.5, docs/rules/inbox.md
//! BR1–BR5): what the owner said in the owner chat, the rule read from it, the owner's
//! confirmation, changes and deletion, and the rule's state as the reply stage reads it. Keyed
//! `<tenant>|<rule_id>`, so each rule changes in one place and one order.

use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One condition of a rule: `quantity gt 3`, `message mentions shipping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCondition {
    /// What is tested: `quantity` (units the customer asks for) or `message` (their words).
    pub field: String,
    /// `gt`, `gte` (quantity) or `mentions` (message).
    pub operator: String,
    /// The value compared with.
    pub value: String,
}

/// The owner stated a rule in the owner chat (the source's `create_business_rule` input).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTaught {
    pub envelope: Envelope,
    pub command_id: String,
    pub rule_id: String,
    /// The owner's words (sanitised like any message, §a.5).
    pub text: String,
    /// Evaluation order: higher first (source: `priority INT`, default 0).
    pub priority: i32,
}

/// The owner confirmed a proposed rule (the source's AC: no rule is active before this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleConfirmed {
    pub envelope: Envelope,
    pub command_id: String,
    pub rule_id: String,
}

/// The owner changed a rule: its priority, whether it is on, its wording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChanged {
    pub envelope: Envelope,
    pub command_id: String,
    pub rule_id: String,
    pub priority: Option<i32>,
    pub active: Option<bool>,
    pub description: Option<String>,
    pub response_template: Option<String>,
}

/// The owner deleted a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleDeleteRequested {
    pub envelope: Envelope,
    pub command_id: String,
    pub rule_id: String,
}

/// A rule as it stands (`rules.events` and the compacted `rules.table`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleUpdated {
    pub envelope: Envelope,
    /// The command that changed it.
    pub command_id: String,
    pub rule_id: String,
    /// `shipping`, `returns`, `pricing`, `availability` or `custom` (the source's enum).
    pub rule_type: String,
    /// A short name for lists.
    pub name: String,
    /// What the rule says, in one line ("10% discount for more than 3 items").
    pub description: String,
    pub conditions: Vec<RuleCondition>,
    /// What to do when the conditions hold: `discount` or `answer`.
    pub action: String,
    /// The discount of a `discount` rule, in percent.
    pub discount_percent: Option<Decimal>,
    /// What the customer is told when the rule applies.
    pub response_template: String,
    pub priority: i32,
    /// `proposed`, `active`, `inactive` or `deleted`.
    pub status: String,
    /// Which parser read the rule (`rules-offline-1`).
    pub parser: String,
    /// The owner's words it was read from.
    pub taught_text: String,
    /// The owner chat's answer: what was understood and what to do next.
    pub answer: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A rule command refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCommandRejected {
    pub envelope: Envelope,
    pub command_id: String,
    pub rule_id: String,
    /// `teach`, `confirm`, `change` or `delete`.
    pub command: String,
    pub code: String,
    pub detail: String,
}

/// What drives a rule (`rules.commands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleCommand {
    RuleTaught(RuleTaught),
    RuleConfirmed(RuleConfirmed),
    RuleChanged(RuleChanged),
    RuleDeleteRequested(RuleDeleteRequested),
}

/// What a rule decided (`rules.events`, and `rules.table` for the rule itself).
#[allow(clippy::large_enum_variant)] // decoded one record at a time; boxing would only add an allocation
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleOutput {
    RuleUpdated(RuleUpdated),
    RuleCommandRejected(RuleCommandRejected),
}

/// The records of `rules.table`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleTableEvent {
    RuleUpdated(RuleUpdated),
}

crate::stream_event!(RuleCommand { RuleTaught, RuleConfirmed, RuleChanged, RuleDeleteRequested });
crate::stream_event!(RuleOutput { RuleUpdated, RuleCommandRejected });
crate::stream_event!(RuleTableEvent { RuleUpdated });

impl RuleCommand {
    /// The command's id and the rule it names.
    pub fn ids(&self) -> (&str, &str) {
        match self {
            RuleCommand::RuleTaught(e) => (&e.command_id, &e.rule_id),
            RuleCommand::RuleConfirmed(e) => (&e.command_id, &e.rule_id),
            RuleCommand::RuleChanged(e) => (&e.command_id, &e.rule_id),
            RuleCommand::RuleDeleteRequested(e) => (&e.command_id, &e.rule_id),
        }
    }
}

/// The rule key `<tenant>|<rule_id>`.
pub fn rule_key(tenant: &str, rule_id: &str) -> String {
    format!("{tenant}|{rule_id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    /// The Rust types and the .avsc files agree for every record of the rule topics.
    #[test]
    fn rule_records_round_trip_through_avro() {
        let envelope = Envelope::external("shop", "c1", 5);
        let commands = [
            RuleCommand::RuleTaught(RuleTaught {
                envelope: envelope.clone(),
                command_id: "c1".into(),
                rule_id: "rule-1".into(),
                text: "If someone orders more than 3 items, give them 10% off".into(),
                priority: 0,
            }),
            RuleCommand::RuleChanged(RuleChanged {
                envelope: envelope.clone(),
                command_id: "c2".into(),
                rule_id: "rule-1".into(),
                priority: Some(5),
                active: Some(false),
                description: None,
                response_template: Some("Orders of 4 or more get 10% off!".into()),
            }),
        ];
        let command_records = ["souk.rules.RuleTaught", "souk.rules.RuleConfirmed", "souk.rules.RuleChanged", "souk.rules.RuleDeleteRequested"];
        for c in &commands {
            round_trip(&command_records, c);
        }
        let updated = RuleOutput::RuleUpdated(RuleUpdated {
            envelope,
            command_id: "c1".into(),
            rule_id: "rule-1".into(),
            rule_type: "pricing".into(),
            name: "Bulk discount".into(),
            description: "10% discount for more than 3 items".into(),
            conditions: vec![RuleCondition { field: "quantity".into(), operator: "gt".into(), value: "3".into() }],
            action: "discount".into(),
            discount_percent: Some("10".parse().unwrap()),
            response_template: "Good news: orders of more than 3 items get 10% off!".into(),
            priority: 0,
            status: "proposed".into(),
            parser: "rules-offline-1".into(),
            taught_text: "If someone orders more than 3 items, give them 10% off".into(),
            answer: "I understood a pricing rule.".into(),
            created_at: 5,
            updated_at: 5,
        });
        round_trip(&["souk.rules.RuleUpdated", "souk.rules.RuleCommandRejected"], &updated);
    }
}
