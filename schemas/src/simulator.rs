//! The partner simulator's records (seed-000 module 25): simulated partners' behaviour
//! (`simulator.partners`, compacted), what each answered and why (`simulator.log`), and the
//! manual queue (`simulator.queue`, compacted). Key: `<tenant>|<number>` or `<tenant>|<queue id>`.

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// How a simulated partner answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatedPartnerUpserted {
    pub envelope: Envelope,
    pub number: String,
    pub name: String,
    pub manual: bool,
    /// Scenarios and stock as JSON (`souk_producers::simulator::engine::Profile`).
    pub profile_json: String,
    pub active: bool,
}

/// One answer and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatorAnswered {
    pub envelope: Envelope,
    pub number: String,
    pub message_id: String,
    pub request_kind: String,
    pub product: String,
    pub scenario: String,
    pub text: String,
    pub delay_seconds: i64,
}

/// A manual-queue item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulatorQueueItem {
    pub envelope: Envelope,
    pub queue_id: String,
    pub number: String,
    pub message_id: String,
    pub request_text: String,
    pub request_kind: String,
    pub product: String,
    /// `pending` or `responded`.
    pub status: String,
    pub response: Option<String>,
    pub responded_by: Option<String>,
    pub responded_at: Option<i64>,
}

/// `simulator.partners`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimulatedPartnerEvent {
    SimulatedPartnerUpserted(SimulatedPartnerUpserted),
}

/// `simulator.queue`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimulatorQueueEvent {
    SimulatorQueueItem(SimulatorQueueItem),
}

crate::stream_event!(SimulatedPartnerEvent { SimulatedPartnerUpserted });
crate::stream_event!(SimulatorQueueEvent { SimulatorQueueItem });

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    #[test]
    fn simulator_records_round_trip_through_avro() {
        let envelope = Envelope::external("acme", "s1", 5);
        round_trip(
            &["souk.simulator.SimulatedPartnerUpserted"],
            &SimulatedPartnerUpserted { envelope: envelope.clone(), number: "1234567890".into(), name: "Flower Shop A".into(), manual: false, profile_json: "{}".into(), active: true },
        );
        round_trip(
            &["souk.simulator.SimulatorAnswered"],
            &SimulatorAnswered {
                envelope: envelope.clone(),
                number: "1".into(),
                message_id: "w".into(),
                request_kind: "product_change".into(),
                product: "pink".into(),
                scenario: "scenario 1".into(),
                text: "No".into(),
                delay_seconds: 0,
            },
        );
        round_trip(
            &["souk.simulator.SimulatorQueueItem"],
            &SimulatorQueueItem {
                envelope,
                queue_id: "q1".into(),
                number: "1".into(),
                message_id: "w".into(),
                request_text: "t".into(),
                request_kind: "other".into(),
                product: String::new(),
                status: "responded".into(),
                response: Some("Yes".into()),
                responded_by: Some("maya".into()),
                responded_at: Some(9),
            },
        );
    }
}
