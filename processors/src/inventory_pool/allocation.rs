//! rules A2 as pure functions: which batches and which pieces (whole rolls, loose meters, one cut
//! roll) serve a line, and how much of a batch is free once the open holds' claims are taken out.
//!
//! Nothing here knows about events or holds; the processor feeds it the *available* view of each
//! batch (see [`available`]) and records what [`allocate`] returns as the hold's claim.

use rust_decimal::Decimal;
use souk_schemas::inventory::BatchAllocation;

/// One batch as the allocator sees it: the stock it may take from (usually the available view, i.e.
/// on hand minus what open holds claim), plus the keys of the FIFO order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stock {
    /// The batch this stock belongs to (tie-breaker of the FIFO order).
    pub batch_id: String,
    /// Epoch ms the batch arrived; FIFO order.
    pub received_at: i64,
    /// Whole (unopened) rolls that may be taken.
    pub rolls: i32,
    /// Length of one roll of this batch; always > 0.
    pub meters_per_roll: Decimal,
    /// Loose meters that may be taken.
    pub loose_meters: Decimal,
}

impl Stock {
    /// Meters this stock holds in all: rolls × meters_per_roll + loose.
    pub fn meters(&self) -> Decimal {
        Decimal::from(self.rolls) * self.meters_per_roll + self.loose_meters
    }
}

/// The batches in rules A2 order: FIFO by `received_at`, then `batch_id`.
pub fn fifo_order(pool: &[Stock]) -> Vec<&Stock> {
    let mut ordered: Vec<&Stock> = pool.iter().collect();
    ordered.sort_by(|a, b| a.received_at.cmp(&b.received_at).then_with(|| a.batch_id.cmp(&b.batch_id)));
    ordered
}

/// How `meters` are served by the pool, or `None` when the pool has fewer meters in all.
///
/// rules A2: the first batch (FIFO) that can serve the whole line alone wins (one dye lot);
/// otherwise batches are drained in FIFO order, the last one possibly only in part. Batches that
/// contribute nothing get no entry. `meters` must be > 0.
pub fn allocate(pool: &[Stock], meters: Decimal) -> Option<Vec<BatchAllocation>> {
    let ordered = fifo_order(pool);
    if let Some(single) = ordered.iter().find(|s| s.meters() >= meters) {
        return Some(vec![take_from_batch(single, meters)]);
    }
    let total: Decimal = ordered.iter().map(|s| s.meters()).sum();
    if total < meters {
        return None;
    }
    let mut remaining = meters;
    let mut allocations = Vec::new();
    for stock in ordered {
        if remaining <= Decimal::ZERO {
            break;
        }
        let take = remaining.min(stock.meters());
        if take <= Decimal::ZERO {
            continue;
        }
        allocations.push(take_from_batch(stock, take));
        remaining -= take;
    }
    Some(allocations)
}

/// What one batch gives for `meters` (rules A2, inside a batch): loose meters alone when they
/// cover it; else whole rolls `min(rolls, floor(meters / meters_per_roll))`, then loose meters, then
/// one roll cut for what is left (its remnant becomes loose).
///
/// Serves all of `meters` whenever `meters <= stock.meters()` (the caller's precondition); the result
/// never takes more rolls or loose meters than the stock has, and `cut_meters < meters_per_roll`.
pub fn take_from_batch(stock: &Stock, meters: Decimal) -> BatchAllocation {
    let mut allocation = BatchAllocation { batch_id: stock.batch_id.clone(), rolls: 0, loose_meters: Decimal::ZERO, cut_meters: Decimal::ZERO, meters: Decimal::ZERO };
    if stock.loose_meters >= meters {
        allocation.loose_meters = meters;
        allocation.meters = meters;
        return allocation;
    }
    let whole = whole_rolls(meters, stock.meters_per_roll).min(i64::from(stock.rolls.max(0))) as i32;
    let mut remaining = meters - Decimal::from(whole) * stock.meters_per_roll;
    let loose = stock.loose_meters.max(Decimal::ZERO).min(remaining);
    remaining -= loose;
    let mut cut = Decimal::ZERO;
    if remaining > Decimal::ZERO && stock.rolls - whole >= 1 {
        cut = remaining.min(stock.meters_per_roll);
        remaining -= cut;
    }
    allocation.rolls = whole;
    allocation.loose_meters = loose;
    allocation.cut_meters = cut;
    allocation.meters = meters - remaining;
    allocation
}

/// `floor(meters / meters_per_roll)` computed exactly (decimal division may round its last digit;
/// the result is corrected with multiplications, which are exact). 0 for non-positive input.
pub fn whole_rolls(meters: Decimal, meters_per_roll: Decimal) -> i64 {
    if meters <= Decimal::ZERO || meters_per_roll <= Decimal::ZERO {
        return 0;
    }
    let mut k: i64 = (meters / meters_per_roll).floor().try_into().unwrap_or(i64::MAX / 2);
    while k > 0 && Decimal::from(k) * meters_per_roll > meters {
        k -= 1;
    }
    while Decimal::from(k + 1) * meters_per_roll <= meters {
        k += 1;
    }
    k
}

/// How many rolls must be opened so that loose stock covers `loose_claims`:
/// `ceil((loose_claims − loose_on_hand) / meters_per_roll)`, or 0 when loose on hand already covers it.
pub fn rolls_to_open(loose_claims: Decimal, loose_on_hand: Decimal, meters_per_roll: Decimal) -> i64 {
    let short = loose_claims - loose_on_hand;
    if short <= Decimal::ZERO {
        return 0;
    }
    let k = whole_rolls(short, meters_per_roll);
    if Decimal::from(k) * meters_per_roll == short {
        k
    } else {
        k + 1
    }
}

/// What open holds claim from one batch: whole rolls, and loose meters (their `loose_meters` plus
/// their `cut_meters`; a cut is a claim on loose stock that opening a roll provides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Claims {
    /// Σ whole rolls of the open holds' allocations from the batch.
    pub rolls: i64,
    /// Σ (loose + cut) meters of the open holds' allocations from the batch.
    pub loose_meters: Decimal,
}

impl Claims {
    /// Adds one allocation's claim.
    pub fn add(&mut self, allocation: &BatchAllocation) {
        self.rolls += i64::from(allocation.rolls);
        self.loose_meters += allocation.loose_meters + allocation.cut_meters;
    }

    /// The claimed meters: rolls × meters_per_roll + loose.
    pub fn meters(&self, meters_per_roll: Decimal) -> Decimal {
        Decimal::from(self.rolls) * meters_per_roll + self.loose_meters
    }
}

/// The available view of a batch whose physical stock is `on_hand` once `claims` are taken out, or
/// `None` when the claims do not fit (which the processor never lets happen).
///
/// Rolls that must be opened to cover the loose claims ([`rolls_to_open`]) leave the roll count and
/// their meters join the loose stock; a roll opened only on paper closes again as soon as the claims
/// that needed it go away. So `available.meters() == on_hand.meters() − claims.meters()` always.
pub fn available(on_hand: &Stock, claims: &Claims) -> Option<Stock> {
    let opened = rolls_to_open(claims.loose_meters, on_hand.loose_meters, on_hand.meters_per_roll);
    let rolls = i64::from(on_hand.rolls) - claims.rolls - opened;
    let loose = on_hand.loose_meters + Decimal::from(opened) * on_hand.meters_per_roll - claims.loose_meters;
    if rolls < 0 || loose < Decimal::ZERO {
        return None;
    }
    Some(Stock { rolls: rolls as i32, loose_meters: loose, ..on_hand.clone() })
}

/// The physical stock after deducting one committed allocation from `on_hand`: its whole rolls, then
/// its loose + cut meters from loose stock, opening as few rolls as needed when loose stock runs
/// short (a cut claimed by another hold may be the one physically made here; stock is fungible).
/// `None` if the allocation does not fit (never, while the claims fit on hand).
pub fn deduct(on_hand: &Stock, allocation: &BatchAllocation) -> Option<Stock> {
    let need = allocation.loose_meters + allocation.cut_meters;
    let opened = rolls_to_open(need, on_hand.loose_meters, on_hand.meters_per_roll);
    let rolls = i64::from(on_hand.rolls) - i64::from(allocation.rolls) - opened;
    let loose = on_hand.loose_meters + Decimal::from(opened) * on_hand.meters_per_roll - need;
    if rolls < 0 || loose < Decimal::ZERO {
        return None;
    }
    Some(Stock { rolls: rolls as i32, loose_meters: loose, ..on_hand.clone() })
}

#[cfg(test)]
#[path = "allocation_tests.rs"]
mod tests;
