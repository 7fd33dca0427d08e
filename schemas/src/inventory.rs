//! The inventory pool's events (DECISIONS A2–A3): stock in, holds, commits, releases and levels.
//! Key of every inventory event: `<tenant>|<material>|<color>`.

use crate::clock::Tick;
use crate::envelope::{Envelope, StreamEvent};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Stock in: a new batch of one material and color.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceived {
    pub envelope: Envelope,
    pub batch_id: String,
    pub material: String,
    pub color: String,
    pub dye_lot: Option<String>,
    pub rolls: i32,
    pub meters_per_roll: Decimal,
    pub loose_meters: Decimal,
    pub price_per_meter: Option<Decimal>,
    /// Epoch ms; FIFO order of batches (then batch_id).
    pub received_at: i64,
}

/// A counted correction of one batch: absolute rolls and loose meters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAdjusted {
    pub envelope: Envelope,
    pub batch_id: String,
    pub rolls: i32,
    pub loose_meters: Decimal,
    pub price_per_meter: Option<Decimal>,
    pub reason: String,
}

/// Hold meters for one order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveRequested {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
    pub meters: Decimal,
    /// Time to live of the hold in ms (default 24 h).
    pub ttl_ms: i64,
}

/// Deduct a hold (owner approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequested {
    pub envelope: Envelope,
    pub hold_id: String,
}

/// Give a hold back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequested {
    pub envelope: Envelope,
    pub hold_id: String,
    pub reason: String,
}

/// What one hold takes from one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchAllocation {
    pub batch_id: String,
    /// Whole rolls taken.
    pub rolls: i32,
    /// Meters taken from the loose pool.
    pub loose_meters: Decimal,
    /// Meters cut from one opened roll (0 when none); the remnant of that roll goes to loose.
    pub cut_meters: Decimal,
    /// Total meters from this batch.
    pub meters: Decimal,
}

/// A hold was placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserved {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
    pub meters: Decimal,
    pub allocations: Vec<BatchAllocation>,
    pub expires_at: i64,
}

/// A hold could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReserveRejected {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
    pub requested_meters: Decimal,
    pub available_meters: Decimal,
}

/// A hold was deducted from stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
    pub allocations: Vec<BatchAllocation>,
}

/// A hold went back to the pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Released {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
    pub reason: String,
}

/// A hold reached its TTL.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldExpired {
    pub envelope: Envelope,
    pub hold_id: String,
    pub order_id: String,
    pub line_id: String,
}

/// A commit or release named a hold that is unknown or no longer open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldCommandRejected {
    pub envelope: Envelope,
    pub hold_id: String,
    /// `commit` or `release`.
    pub command: String,
    /// `UNKNOWN_HOLD`, `HOLD_EXPIRED`, `ALREADY_COMMITTED`, `ALREADY_RELEASED`.
    pub reason: String,
}

/// Stock of one batch after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchLevel {
    pub batch_id: String,
    pub dye_lot: Option<String>,
    pub rolls: i32,
    pub meters_per_roll: Decimal,
    pub loose_meters: Decimal,
    pub held_meters: Decimal,
    pub available_meters: Decimal,
    pub price_per_meter: Option<Decimal>,
    pub received_at: i64,
}

/// The pool after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockLevelChanged {
    pub envelope: Envelope,
    pub material: String,
    pub color: String,
    pub batches: Vec<BatchLevel>,
    pub on_hand_meters: Decimal,
    pub held_meters: Decimal,
    pub available_meters: Decimal,
}

/// Everything on the `inventory.commands` topic (one union, so one pool's commands stay ordered).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryCommand {
    BatchReceived(BatchReceived),
    BatchAdjusted(BatchAdjusted),
    ReserveRequested(ReserveRequested),
    CommitRequested(CommitRequested),
    ReleaseRequested(ReleaseRequested),
    Tick(Tick),
}

/// Everything on the `inventory.events` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryEvent {
    Reserved(Reserved),
    ReserveRejected(ReserveRejected),
    Committed(Committed),
    Released(Released),
    HoldExpired(HoldExpired),
    HoldCommandRejected(HoldCommandRejected),
    StockLevelChanged(StockLevelChanged),
}

impl StreamEvent for InventoryCommand {
    fn envelope(&self) -> &Envelope {
        match self {
            InventoryCommand::BatchReceived(e) => &e.envelope,
            InventoryCommand::BatchAdjusted(e) => &e.envelope,
            InventoryCommand::ReserveRequested(e) => &e.envelope,
            InventoryCommand::CommitRequested(e) => &e.envelope,
            InventoryCommand::ReleaseRequested(e) => &e.envelope,
            InventoryCommand::Tick(e) => &e.envelope,
        }
    }
    fn is_tick(&self) -> bool {
        matches!(self, InventoryCommand::Tick(_))
    }
}

impl StreamEvent for InventoryEvent {
    fn envelope(&self) -> &Envelope {
        match self {
            InventoryEvent::Reserved(e) => &e.envelope,
            InventoryEvent::ReserveRejected(e) => &e.envelope,
            InventoryEvent::Committed(e) => &e.envelope,
            InventoryEvent::Released(e) => &e.envelope,
            InventoryEvent::HoldExpired(e) => &e.envelope,
            InventoryEvent::HoldCommandRejected(e) => &e.envelope,
            InventoryEvent::StockLevelChanged(e) => &e.envelope,
        }
    }
}

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use super::*;
    use crate::{avro_to_json, json_to_avro, Catalog};

    /// The Rust types and the .avsc files agree: serde JSON → Avro → bytes → Avro → JSON → serde.
    #[test]
    fn rust_types_match_the_registered_schemas() {
        let schema = Catalog::builtin().unwrap().topic_schema(&[
            "souk.inventory.Reserved".into(), "souk.inventory.StockLevelChanged".into(),
        ]).unwrap();
        let parsed = apache_avro::Schema::parse(&schema).unwrap();
        let event = InventoryEvent::Reserved(Reserved {
            envelope: Envelope::external("acme", "x", 7),
            hold_id: "h".into(), order_id: "o".into(), line_id: "l".into(),
            meters: "20.000".parse().unwrap(),
            allocations: vec![BatchAllocation { batch_id: "b1".into(), rolls: 1, loose_meters: "5".parse().unwrap(), cut_meters: "-0.001".parse().unwrap(), meters: "15.5".parse().unwrap() }],
            expires_at: 99,
        });
        let avro = json_to_avro(&schema, &serde_json::to_value(&event).unwrap()).unwrap();
        let bytes = apache_avro::to_avro_datum(&parsed, avro).unwrap();
        let decoded = apache_avro::from_avro_datum(&parsed, &mut bytes.as_slice(), None).unwrap();
        let back: InventoryEvent = serde_json::from_value(avro_to_json(&schema, &decoded).unwrap()).unwrap();
        assert_eq!(back, event);
    }
}
