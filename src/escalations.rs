//! The `escalation-intake` stage (rules B7): every `EscalationRaised` on the shared `escalations`
//! topic — from the order sessions, the ledger, the dispatcher and the negotiations, each keyed
//! by its own entity — is written again under `<tenant>|<escalation id>` onto `escalation.inputs`,
//! where the one escalation lifecycle (`processors/src/escalation`) keeps it with the admins'
//! commands. The copy keeps the event id's lineage, so a re-run's copy is dropped by id.

use serde::{Deserialize, Serialize};
use souk_runtime::stage::{Stage, StageError, StageOutput};
use souk_schemas::orders::{EscalationEvent, EscalationRaised};

/// The stage's name in topology.toml.
pub const NAME: &str = "escalation-intake";

/// What the stage writes (→ `escalations`, `escalation.inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum IntakeOutput {
    /// The escalation, keyed by its id.
    EscalationRaised(EscalationRaised),
}

souk_schemas::stream_event!(IntakeOutput { EscalationRaised });

/// The stage; stateless.
#[derive(Debug, Default)]
pub struct EscalationIntake;

impl Stage for EscalationIntake {
    type Input = EscalationEvent;
    type Output = IntakeOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    async fn resolve(&self, _key: &str, input: &EscalationEvent) -> Result<Vec<StageOutput<IntakeOutput>>, StageError> {
        let EscalationEvent::EscalationRaised(e) = input;
        if e.escalation_id.trim().is_empty() || e.escalation_id.contains('|') {
            return Err(StageError::Permanent(format!("escalation id {:?} cannot be a key part", e.escalation_id)));
        }
        let copy = EscalationRaised { envelope: e.envelope.derive(NAME, 0, e.envelope.occurred_at), ..e.clone() };
        let key = format!("{}|{}", e.envelope.tenant_id, e.escalation_id);
        Ok(vec![StageOutput { output: "escalations", key, event: IntakeOutput::EscalationRaised(copy) }])
    }
}
