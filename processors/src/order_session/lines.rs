//! Pure helpers over order lines: stock classification, line construction from an extracted
//! `IntentLine`, active-line numbering, target resolution of a customer decision, the workflow state
//! the lines imply, and money (A5: exact, half-up to 2 dp where the wire needs it).

use super::state::{inventory_status, line_status, WorkflowState};
use rust_decimal::{Decimal, RoundingStrategy};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::orders::{IntentLine, ItemDecision, OrderLine, StockAlternative};
use uuid::Uuid;

/// At most this many alternatives are kept for an out-of-stock line (A9).
pub const MAX_ALTERNATIVES: usize = 3;
/// Scale of money on the wire (Avro decimal(18,2)).
pub const MONEY_SCALE: u32 = 2;

/// Stock status of `meters` against `available` (None = unknown, treated as nothing available).
pub fn classify(meters: Decimal, available: Option<Decimal>) -> &'static str {
    match available {
        Some(a) if a >= meters => inventory_status::FULL_AVAILABLE,
        Some(a) if a > Decimal::ZERO => inventory_status::PARTIAL_AVAILABLE,
        _ => inventory_status::OUT_OF_STOCK,
    }
}

/// The item status a stock status implies: fully available lines are accepted, the rest negotiate.
pub fn status_for(inventory: &str) -> &'static str {
    if inventory == inventory_status::FULL_AVAILABLE {
        line_status::ACCEPTED
    } else {
        line_status::NEGOTIATING
    }
}

/// Deterministic id of the `number`-th line minted in `order_id`.
pub fn line_id(order_id: &str, number: u32) -> String {
    Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{order_id}/line/{number}").as_bytes()).to_string()
}

/// A new line of `meters` built from an extracted line and its stock snapshot.
pub fn new_line(id: String, source: &IntentLine, meters: Decimal) -> OrderLine {
    let mut line = OrderLine {
        line_id: id,
        material: source.material.clone(),
        color: source.color.clone(),
        requested_meters: meters,
        normalized_meters: meters,
        status: String::new(),
        replaced_by: None,
        inventory_status: None,
        available_meters: source.available_meters,
        price_per_meter: source.price_per_meter,
        hold_id: None,
        hold_status: None,
        allocations: Vec::new(),
        alternatives: Vec::new(),
    };
    let alternatives: Vec<StockAlternative> = source.alternatives.iter().take(MAX_ALTERNATIVES).cloned().collect();
    reevaluate(&mut line, alternatives);
    line
}

/// Re-classifies a line's normalized meters against its last known availability; alternatives are
/// kept only while it is out of stock (A9).
pub fn reevaluate(line: &mut OrderLine, alternatives: Vec<StockAlternative>) {
    let inventory = classify(line.normalized_meters, line.available_meters);
    line.inventory_status = Some(inventory.to_string());
    line.status = status_for(inventory).to_string();
    line.alternatives = if inventory == inventory_status::OUT_OF_STOCK { alternatives } else { Vec::new() };
}

/// A line the customer still sees: neither replaced nor cancelled.
pub fn is_active(line: &OrderLine) -> bool {
    line.status == line_status::NEGOTIATING || line.status == line_status::ACCEPTED
}

/// Positions (in `lines`) of the active lines; the customer's item `n` is the `n-1`-th of these.
pub fn active_positions(lines: &[OrderLine]) -> Vec<usize> {
    (0..lines.len()).filter(|&i| is_active(&lines[i])).collect()
}

/// The customer-facing number (1-based among active lines) of the line at `position`.
pub fn number_of(lines: &[OrderLine], position: usize) -> Option<usize> {
    active_positions(lines).iter().position(|&p| p == position).map(|n| n + 1)
}

/// Why a decision could not be tied to one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetError {
    /// No active line has that number.
    NoSuchNumber(i32),
    /// No active line matches the material/color.
    NoMatch,
    /// Several lines match and nothing narrows it down.
    Ambiguous,
}

/// The position of the line a decision is about: by 1-based number among active lines, else by
/// material/color (case-insensitive; a tie is broken in favour of the single unresolved match), else
/// the single unresolved line, else the single active line.
pub fn resolve_target(lines: &[OrderLine], decision: &ItemDecision) -> Result<usize, TargetError> {
    let active = active_positions(lines);
    if let Some(n) = decision.index {
        return usize::try_from(n).ok().and_then(|n| n.checked_sub(1)).and_then(|i| active.get(i).copied()).ok_or(TargetError::NoSuchNumber(n));
    }
    let named = |p: &usize| {
        let line = &lines[*p];
        let same = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w.eq_ignore_ascii_case(have));
        same(&decision.material, &line.material) && same(&decision.color, &line.color)
    };
    let by_name = decision.material.is_some() || decision.color.is_some();
    let candidates: Vec<usize> = active.iter().copied().filter(|p| !by_name || named(p)).collect();
    if candidates.is_empty() {
        return Err(TargetError::NoMatch);
    }
    single(&candidates).or_else(|| single(&candidates.iter().copied().filter(|&p| lines[p].status == line_status::NEGOTIATING).collect::<Vec<_>>())).ok_or(TargetError::Ambiguous)
}

/// The only element, if there is exactly one.
fn single(positions: &[usize]) -> Option<usize> {
    match positions {
        [only] => Some(*only),
        _ => None,
    }
}

/// Where a conversational session stands given its lines: any unresolved line ⇒ negotiation
/// (rules BUG-1: nothing can be skipped); else anything accepted ⇒ final confirmation; else cancelled.
pub fn implied_state(lines: &[OrderLine]) -> WorkflowState {
    if lines.iter().any(|l| l.status == line_status::NEGOTIATING) {
        WorkflowState::CustomerNegotiation
    } else if lines.iter().any(|l| l.status == line_status::ACCEPTED) {
        WorkflowState::FinalCustomerConfirmation
    } else {
        WorkflowState::OrderCancelled
    }
}

/// meters × price, rounded half-up to the wire's 2 dp; exact whenever the product has at most 2
/// decimals (e.g. whole or half meters at a 2-dp price).
pub fn amount(meters: Decimal, price: Decimal) -> Decimal {
    (meters * price).round_dp_with_strategy(MONEY_SCALE, RoundingStrategy::MidpointAwayFromZero)
}

/// Σ amount of the accepted, priced lines; `None` when no accepted line has a price.
pub fn subtotal(lines: &[OrderLine]) -> Option<Decimal> {
    lines.iter().filter(|l| l.status == line_status::ACCEPTED).filter_map(|l| l.price_per_meter.map(|p| amount(l.normalized_meters, p))).reduce(|a, b| a + b)
}
