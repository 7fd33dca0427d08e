//! One lifecycle for every escalation in souk (rules B7): raised by any processor as
//! `souk.orders.EscalationRaised` on `escalations`, re-keyed by escalation id onto
//! `escalation.inputs`, where admins' commands (assign, start, resolve) and ticks (the assign SLA)
//! drive it; its snapshots go to `escalation.events`. Key: `<tenant>|<escalation id>`.

use crate::clock::Tick;
use crate::envelope::Envelope;
use crate::orders::EscalationRaised;
use serde::{Deserialize, Serialize};

/// An admin takes an escalation or hands it to someone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationAssigned {
    pub envelope: Envelope,
    pub command_id: String,
    pub escalation_id: String,
    pub assignee: String,
    pub actor: String,
}

/// The assignee starts on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationWorkStarted {
    pub envelope: Envelope,
    pub command_id: String,
    pub escalation_id: String,
    pub actor: String,
}

/// It is handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationResolved {
    pub envelope: Envelope,
    pub command_id: String,
    pub escalation_id: String,
    pub actor: String,
    pub notes: String,
}

/// An escalation's snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationUpdated {
    pub envelope: Envelope,
    pub escalation_id: String,
    pub kind: String,
    /// `medium`, `high` or `critical`.
    pub priority: String,
    /// `pending`, `assigned`, `in_progress` or `resolved`.
    pub status: String,
    pub customer: Option<String>,
    pub order_id: Option<String>,
    pub detail: String,
    pub raised_at: i64,
    pub assign_due_at: i64,
    pub sla_breached: bool,
    pub assignee: Option<String>,
    pub resolved_at: Option<i64>,
    pub notes: Option<String>,
    /// The command that caused this snapshot.
    pub command_id: Option<String>,
}

/// A command that does not fit the escalation's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalationCommandRejected {
    pub envelope: Envelope,
    pub command_id: String,
    pub escalation_id: String,
    /// `assign`, `start` or `resolve`.
    pub command: String,
    pub code: String,
    pub detail: String,
}

/// `escalation.inputs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationInput {
    EscalationRaised(EscalationRaised),
    EscalationAssigned(EscalationAssigned),
    EscalationWorkStarted(EscalationWorkStarted),
    EscalationResolved(EscalationResolved),
    Tick(Tick),
}

/// `escalation.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EscalationEvent {
    EscalationUpdated(EscalationUpdated),
    EscalationCommandRejected(EscalationCommandRejected),
}

crate::stream_event!(EscalationInput { EscalationRaised, EscalationAssigned, EscalationWorkStarted, EscalationResolved, Tick } tick Tick);
crate::stream_event!(EscalationEvent { EscalationUpdated, EscalationCommandRejected });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    /// The Rust types and the .avsc files agree for every record of the escalation topics.
    #[test]
    fn escalation_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "e1", 5);
        let inputs = [
            EscalationInput::EscalationRaised(EscalationRaised {
                envelope: envelope.clone(),
                escalation_id: "n1/timeout".into(),
                customer: None,
                order_id: None,
                kind: "TIMEOUT".into(),
                priority: "high".into(),
                detail: "No reply within 15 minutes".into(),
            }),
            EscalationInput::EscalationAssigned(EscalationAssigned {
                envelope: envelope.clone(),
                command_id: "c1".into(),
                escalation_id: "n1/timeout".into(),
                assignee: "maya".into(),
                actor: "admin".into(),
            }),
            EscalationInput::EscalationWorkStarted(EscalationWorkStarted { envelope: envelope.clone(), command_id: "c2".into(), escalation_id: "n1/timeout".into(), actor: "maya".into() }),
            EscalationInput::EscalationResolved(EscalationResolved {
                envelope: envelope.clone(),
                command_id: "c3".into(),
                escalation_id: "n1/timeout".into(),
                actor: "maya".into(),
                notes: "called the florist".into(),
            }),
        ];
        let names = ["souk.orders.EscalationRaised", "souk.escalations.EscalationAssigned", "souk.escalations.EscalationWorkStarted", "souk.escalations.EscalationResolved", "souk.clock.Tick"];
        for input in &inputs {
            round_trip(&names, input);
        }
        let events = [
            EscalationEvent::EscalationUpdated(EscalationUpdated {
                envelope: envelope.clone(),
                escalation_id: "n1/timeout".into(),
                kind: "TIMEOUT".into(),
                priority: "critical".into(),
                status: "resolved".into(),
                customer: None,
                order_id: Some("o1".into()),
                detail: "d".into(),
                raised_at: 1,
                assign_due_at: 900_001,
                sla_breached: true,
                assignee: Some("maya".into()),
                resolved_at: Some(5),
                notes: Some("done".into()),
                command_id: Some("c3".into()),
            }),
            EscalationEvent::EscalationCommandRejected(EscalationCommandRejected {
                envelope,
                command_id: "c4".into(),
                escalation_id: "n1/timeout".into(),
                command: "resolve".into(),
                code: "ALREADY_RESOLVED".into(),
                detail: "d".into(),
            }),
        ];
        for event in &events {
            round_trip(&["souk.escalations.EscalationUpdated", "souk.escalations.EscalationCommandRejected"], event);
        }
    }
}
