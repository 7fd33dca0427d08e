//! The inventory pool's events (rules A2–A3): stock in, holds, commits, releases and levels.
//! Key of every inventory event: `<tenant>|<material>|<color>`.

use crate::clock::Tick;
use crate::envelope::Envelope;
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
    /// Key (`<tenant>|<customer>`) that also receives every answer about this hold on the pool's
    /// `replies` output (the order-session saga); `None` = answers only on `inventory.events`.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// Deduct a hold (owner approved).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequested {
    pub envelope: Envelope,
    pub hold_id: String,
    /// Where to answer when the hold is unknown to the pool (else the hold's own `reply_to`).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// Give a hold back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseRequested {
    pub envelope: Envelope,
    pub hold_id: String,
    pub reason: String,
    /// Where to answer when the hold is unknown to the pool (else the hold's own `reply_to`).
    #[serde(default)]
    pub reply_to: Option<String>,
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
    /// The pool's price at reservation (rules A4: the order snapshots it).
    #[serde(default)]
    pub price_per_meter: Option<Decimal>,
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
    /// The pool's catalog price (rules A4).
    #[serde(default)]
    pub price_per_meter: Option<Decimal>,
    /// Other names customers use for this material.
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// The owner lists a material+color with its price per meter (the price lives on the pool, A4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogItemUpserted {
    pub envelope: Envelope,
    pub material: String,
    pub color: String,
    pub price_per_meter: Decimal,
    /// Other names customers use (e.g. "sooti" for cotton).
    #[serde(default)]
    pub aliases: Vec<String>,
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
    CatalogItemUpserted(CatalogItemUpserted),
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

crate::stream_event!(InventoryCommand { BatchReceived, BatchAdjusted, ReserveRequested, CommitRequested, ReleaseRequested, Tick, CatalogItemUpserted } tick Tick);
crate::stream_event!(InventoryEvent { Reserved, ReserveRejected, Committed, Released, HoldExpired, HoldCommandRejected, StockLevelChanged });

#[cfg(test)]
#[allow(deprecated)]
mod tests {
    use super::*;
    use crate::{avro_to_json, json_to_avro, Catalog};

    /// The Rust types and the .avsc files agree: serde JSON → Avro → bytes → Avro → JSON → serde.
    #[test]
    fn rust_types_match_the_registered_schemas() {
        let schema = Catalog::builtin().unwrap().topic_schema(&["souk.inventory.Reserved".into(), "souk.inventory.StockLevelChanged".into()]).unwrap();
        let parsed = apache_avro::Schema::parse(&schema).unwrap();
        let event = InventoryEvent::Reserved(Reserved {
            envelope: Envelope::external("acme", "x", 7),
            hold_id: "h".into(),
            order_id: "o".into(),
            line_id: "l".into(),
            meters: "20.000".parse().unwrap(),
            allocations: vec![BatchAllocation { batch_id: "b1".into(), rolls: 1, loose_meters: "5".parse().unwrap(), cut_meters: "-0.001".parse().unwrap(), meters: "15.5".parse().unwrap() }],
            expires_at: 99,
            price_per_meter: Some("120.50".parse().unwrap()),
        });
        let avro = json_to_avro(&schema, &serde_json::to_value(&event).unwrap()).unwrap();
        let bytes = apache_avro::to_avro_datum(&parsed, avro).unwrap();
        let decoded = apache_avro::from_avro_datum(&parsed, &mut bytes.as_slice(), None).unwrap();
        let back: InventoryEvent = serde_json::from_value(avro_to_json(&schema, &decoded).unwrap()).unwrap();
        assert_eq!(back, event);
    }
}
