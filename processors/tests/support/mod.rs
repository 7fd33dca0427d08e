//! Builders for inventory commands and helpers to read the driver's outputs, shared by the
//! inventory pool's driver tests and property test.
#![allow(dead_code)]

use rust_decimal::Decimal;
use souk_processors::InventoryPool;
use souk_runtime::partitioner::partition_for;
use souk_runtime::{Emitted, TestDriver};
use souk_schemas::clock::Tick;
use souk_schemas::inventory::*;
use souk_schemas::Envelope;

/// Input topic of the inventory pool.
pub const TOPIC: &str = "inventory.commands";
/// Partitions of the input topic in these tests.
pub const PARTITIONS: i32 = 4;
/// The pool under test.
pub const KEY: &str = "acme|cotton|blue";

/// A fresh driver.
pub fn driver() -> TestDriver<InventoryPool> {
    TestDriver::new(InventoryPool, PARTITIONS)
}

/// An external envelope of tenant `acme`; `id` names the source event (same id ⇒ same event_id).
pub fn env(id: &str, at: i64) -> Envelope {
    Envelope::external("acme", id, at)
}

/// A receipt of `rolls` × `per_roll` + `loose` into `batch`.
pub fn received(id: &str, at: i64, batch: &str, rolls: i32, per_roll: Decimal, loose: Decimal, received_at: i64) -> InventoryCommand {
    InventoryCommand::BatchReceived(BatchReceived {
        envelope: env(id, at),
        batch_id: batch.into(),
        material: "cotton".into(),
        color: "blue".into(),
        dye_lot: Some(format!("lot-{batch}")),
        rolls,
        meters_per_roll: per_roll,
        loose_meters: loose,
        price_per_meter: None,
        received_at,
    })
}

/// An absolute correction of `batch`.
pub fn adjusted(id: &str, at: i64, batch: &str, rolls: i32, loose: Decimal) -> InventoryCommand {
    InventoryCommand::BatchAdjusted(BatchAdjusted { envelope: env(id, at), batch_id: batch.into(), rolls, loose_meters: loose, price_per_meter: None, reason: "count".into() })
}

/// A reserve of `meters` for hold `hold` (order `o-<hold>`, line `l-<hold>`).
pub fn reserve(id: &str, at: i64, hold: &str, meters: Decimal, ttl_ms: i64) -> InventoryCommand {
    InventoryCommand::ReserveRequested(ReserveRequested { envelope: env(id, at), hold_id: hold.into(), order_id: format!("o-{hold}"), line_id: format!("l-{hold}"), meters, ttl_ms, reply_to: None })
}

/// A commit of hold `hold`.
pub fn commit(id: &str, at: i64, hold: &str) -> InventoryCommand {
    InventoryCommand::CommitRequested(CommitRequested { envelope: env(id, at), hold_id: hold.into(), reply_to: None })
}

/// A release of hold `hold`.
pub fn release(id: &str, at: i64, hold: &str) -> InventoryCommand {
    InventoryCommand::ReleaseRequested(ReleaseRequested { envelope: env(id, at), hold_id: hold.into(), reason: "customer".into(), reply_to: None })
}

/// Feeds a command for [`KEY`].
/// What a step emitted on the pool's own key (answers and levels), without the copies of each
/// level on the `levels` table output.
pub fn pool_events(emitted: Vec<Emitted<InventoryEvent>>) -> Vec<InventoryEvent> {
    emitted.into_iter().filter(|e| e.output != Some(souk_processors::inventory_pool::LEVELS_OUTPUT)).map(|e| e.event).collect()
}

pub fn feed(d: &mut TestDriver<InventoryPool>, command: InventoryCommand) -> Vec<InventoryEvent> {
    pool_events(d.feed(TOPIC, KEY, command))
}

/// Feeds a clock tick at `at` into [`KEY`]'s partition.
pub fn tick(d: &mut TestDriver<InventoryPool>, at: i64) -> Vec<InventoryEvent> {
    let partition = partition_for(KEY.as_bytes(), PARTITIONS);
    let tick = InventoryCommand::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{partition}-{at}"), at), partition });
    pool_events(d.feed_partition(TOPIC, partition, "", tick))
}

/// The event with a blank envelope: what "the same answer" compares.
pub fn data(event: &InventoryEvent) -> InventoryEvent {
    let blank = Envelope { event_id: String::new(), tenant_id: String::new(), occurred_at: 0, causation_id: None, correlation_id: String::new() };
    let mut e = event.clone();
    match &mut e {
        InventoryEvent::Reserved(x) => x.envelope = blank,
        InventoryEvent::ReserveRejected(x) => x.envelope = blank,
        InventoryEvent::Committed(x) => x.envelope = blank,
        InventoryEvent::Released(x) => x.envelope = blank,
        InventoryEvent::HoldExpired(x) => x.envelope = blank,
        InventoryEvent::HoldCommandRejected(x) => x.envelope = blank,
        InventoryEvent::StockLevelChanged(x) => x.envelope = blank,
    }
    e
}

/// The last `StockLevelChanged` among `events`.
pub fn levels(events: &[InventoryEvent]) -> Option<&StockLevelChanged> {
    events.iter().rev().find_map(|e| match e {
        InventoryEvent::StockLevelChanged(s) => Some(s),
        _ => None,
    })
}

/// A short tag per event kind, to assert sequences.
pub fn kinds(events: &[InventoryEvent]) -> Vec<&'static str> {
    events
        .iter()
        .map(|e| match e {
            InventoryEvent::Reserved(_) => "Reserved",
            InventoryEvent::ReserveRejected(_) => "ReserveRejected",
            InventoryEvent::Committed(_) => "Committed",
            InventoryEvent::Released(_) => "Released",
            InventoryEvent::HoldExpired(_) => "HoldExpired",
            InventoryEvent::HoldCommandRejected(_) => "HoldCommandRejected",
            InventoryEvent::StockLevelChanged(_) => "StockLevelChanged",
        })
        .collect()
}
