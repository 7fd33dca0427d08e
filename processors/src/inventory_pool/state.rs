//! The per-key state of one inventory pool (`<tenant>|<material>|<color>`): its batches' physical
//! stock, the open holds and a bounded memory of closed ones, plus the derived views the processor
//! answers from (availability per batch, stock levels).
//!
//! Holds vs on hand: a batch's `rolls` / `loose_meters` are the *physical* stock and change only on
//! receipt, adjustment and commit. An open hold is a claim (its [`BatchAllocation`]s: whole rolls, and
//! loose + cut meters of loose stock). The available view is derived from on hand minus all claims
//! ([`allocation::available`]), opening on paper as many rolls as the loose claims need. Hence a
//! release or expiry only drops the claim (state returns exactly to what it was), and a commit deducts
//! exactly its claim from on hand, never going negative because all claims always fit on hand.

use super::allocation::{self, Claims, Stock};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_schemas::inventory::{BatchAllocation, BatchLevel};
use std::collections::{BTreeMap, VecDeque};

/// How many closed holds a pool remembers for idempotent answers (oldest forgotten first).
pub const CLOSED_HOLDS_REMEMBERED: usize = 4096;

/// One pool's state; `Default` is a pool never seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PoolState {
    /// Material of the pool (from the key).
    pub material: String,
    /// Color of the pool (from the key).
    pub color: String,
    /// Batches in FIFO order (received_at, then batch_id).
    pub batches: Vec<Batch>,
    /// Open holds by hold_id.
    pub holds: BTreeMap<String, Hold>,
    /// Closed holds by hold_id, so a redelivered command gets the same answer.
    pub closed: BTreeMap<String, ClosedHold>,
    /// hold_ids of `closed` in the order they closed; bounds `closed` deterministically.
    pub closed_order: VecDeque<String>,
    /// The pool's catalog price per meter (rules A4); a batch may override it.
    #[serde(default)]
    pub price_per_meter: Option<Decimal>,
    /// Other names customers use for the material (from the catalog).
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// One batch: its physical stock and the receipt it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Batch {
    /// Supplier/warehouse id of the batch; unique within the pool.
    pub batch_id: String,
    /// Dye lot, when known (one line is preferably served from one).
    pub dye_lot: Option<String>,
    /// Whole rolls physically on hand.
    pub rolls: i32,
    /// Length of one roll; > 0.
    pub meters_per_roll: Decimal,
    /// Loose meters physically on hand (remnants of cut rolls included).
    pub loose_meters: Decimal,
    /// Price override of this batch (rules A4), if any.
    pub price_per_meter: Option<Decimal>,
    /// Epoch ms; FIFO order.
    pub received_at: i64,
    /// The receipt as first received, to tell a redelivery from a conflicting receipt.
    pub receipt: Receipt,
}

/// The content of a `BatchReceived` (without envelope), for idempotency of receipts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Material named by the receipt.
    pub material: String,
    /// Color named by the receipt.
    pub color: String,
    /// Dye lot named by the receipt.
    pub dye_lot: Option<String>,
    /// Rolls received.
    pub rolls: i32,
    /// Length of one roll.
    pub meters_per_roll: Decimal,
    /// Loose meters received.
    pub loose_meters: Decimal,
    /// Price per meter, if the batch overrides the pool's.
    pub price_per_meter: Option<Decimal>,
    /// Receipt time (FIFO order).
    pub received_at: i64,
}

/// What a hold was asked for: the identity of its order line and the meters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldRequest {
    /// The order the line belongs to.
    pub order_id: String,
    /// The order line.
    pub line_id: String,
    /// Meters requested.
    pub meters: Decimal,
}

/// An open hold: a claim on stock until commit, release or expiry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// What was asked for.
    pub request: HoldRequest,
    /// What it claims, per batch (rules A2).
    pub allocations: Vec<BatchAllocation>,
    /// Epoch ms (stream time) at which the hold expires.
    pub expires_at: i64,
    /// The requester's key (`<tenant>|<customer>`) that gets a copy of every answer about this hold
    /// on the `replies` output; `None` for holds placed without one (or restored from older state).
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// A hold that is no longer open (or never was), with everything needed to answer again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClosedHold {
    /// What was asked for.
    pub request: HoldRequest,
    /// How it ended.
    pub end: HoldEnd,
    /// Where answers about the hold are copied (see [`Hold::reply_to`]), kept so that re-answers
    /// to redelivered commands reach the requester too.
    #[serde(default)]
    pub reply_to: Option<String>,
}

/// How a hold ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HoldEnd {
    /// The reserve was refused; the pool had only `available_meters`.
    Rejected {
        /// Available meters at the time of the refusal.
        available_meters: Decimal,
    },
    /// Deducted from stock.
    Committed {
        /// The allocations that were held and deducted.
        allocations: Vec<BatchAllocation>,
        /// When the hold would have expired (part of the original `Reserved`).
        expires_at: i64,
    },
    /// Given back on request.
    Released {
        /// The allocations that were held.
        allocations: Vec<BatchAllocation>,
        /// When the hold would have expired.
        expires_at: i64,
        /// The reason given with the release.
        reason: String,
    },
    /// Given back at its TTL.
    Expired {
        /// The allocations that were held.
        allocations: Vec<BatchAllocation>,
        /// When it expired.
        expires_at: i64,
    },
}

impl Batch {
    /// The batch's physical stock as allocator input.
    pub fn on_hand(&self) -> Stock {
        Stock { batch_id: self.batch_id.clone(), received_at: self.received_at, rolls: self.rolls, meters_per_roll: self.meters_per_roll, loose_meters: self.loose_meters }
    }

    /// Physical meters on hand.
    pub fn on_hand_meters(&self) -> Decimal {
        self.on_hand().meters()
    }
}

impl PoolState {
    /// The batch with `batch_id`.
    pub fn batch(&self, batch_id: &str) -> Option<&Batch> {
        self.batches.iter().find(|b| b.batch_id == batch_id)
    }

    /// The batch with `batch_id`, mutable.
    pub fn batch_mut(&mut self, batch_id: &str) -> Option<&mut Batch> {
        self.batches.iter_mut().find(|b| b.batch_id == batch_id)
    }

    /// Adds a batch keeping the FIFO order (received_at, then batch_id).
    pub fn insert_batch(&mut self, batch: Batch) {
        let at = self.batches.iter().position(|b| (b.received_at, b.batch_id.as_str()) > (batch.received_at, batch.batch_id.as_str())).unwrap_or(self.batches.len());
        self.batches.insert(at, batch);
    }

    /// What the open holds claim from each batch.
    pub fn claims(&self) -> BTreeMap<String, Claims> {
        let mut claims: BTreeMap<String, Claims> = BTreeMap::new();
        for hold in self.holds.values() {
            for allocation in &hold.allocations {
                claims.entry(allocation.batch_id.clone()).or_default().add(allocation);
            }
        }
        claims
    }

    /// The available view of every batch (FIFO order): on hand minus the open holds' claims.
    pub fn available(&self) -> Vec<Stock> {
        let claims = self.claims();
        self.batches
            .iter()
            .map(|b| {
                let claim = claims.get(&b.batch_id).copied().unwrap_or_default();
                // Claims always fit (checked on reserve and adjust); an empty view is the safe side.
                allocation::available(&b.on_hand(), &claim).unwrap_or(Stock { rolls: 0, loose_meters: Decimal::ZERO, ..b.on_hand() })
            })
            .collect()
    }

    /// Total available meters of the pool.
    pub fn available_meters(&self) -> Decimal {
        self.available().iter().map(Stock::meters).sum()
    }

    /// Every batch's level and the pool totals (on hand, held, available), FIFO order.
    pub fn levels(&self) -> (Vec<BatchLevel>, Decimal, Decimal, Decimal) {
        let claims = self.claims();
        let available = self.available();
        let (mut on_hand, mut held, mut free) = (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
        let levels = self
            .batches
            .iter()
            .zip(available)
            .map(|(b, avail)| {
                let claimed = claims.get(&b.batch_id).copied().unwrap_or_default().meters(b.meters_per_roll);
                on_hand += b.on_hand_meters();
                held += claimed;
                free += avail.meters();
                BatchLevel {
                    batch_id: b.batch_id.clone(),
                    dye_lot: b.dye_lot.clone(),
                    rolls: b.rolls,
                    meters_per_roll: b.meters_per_roll,
                    loose_meters: b.loose_meters,
                    held_meters: claimed,
                    available_meters: avail.meters(),
                    price_per_meter: b.price_per_meter,
                    received_at: b.received_at,
                }
            })
            .collect();
        (levels, on_hand, held, free)
    }

    /// Remembers a closed hold, forgetting the oldest beyond [`CLOSED_HOLDS_REMEMBERED`].
    pub fn remember_closed(&mut self, hold_id: &str, closed: ClosedHold) {
        if self.closed.insert(hold_id.to_string(), closed).is_none() {
            self.closed_order.push_back(hold_id.to_string());
        }
        while self.closed_order.len() > CLOSED_HOLDS_REMEMBERED {
            if let Some(oldest) = self.closed_order.pop_front() {
                self.closed.remove(&oldest);
            }
        }
    }
}
