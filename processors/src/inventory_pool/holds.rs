//! Holds (rules A3): reserve against availability, commit (deduct from on hand), release and
//! expire (drop the claim), each idempotent on `hold_id` through the pool's closed-hold memory.
//! Every answer is also copied to the hold's `reply_to` (see [`super::answer`]).

use super::state::{ClosedHold, Hold, HoldEnd, HoldRequest, PoolState};
use super::stock::check_scale;
use super::{allocation, answer, emit_levels, hold_timer_id, METER_SCALE};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::inventory::{BatchAllocation, CommitRequested, Committed, HoldCommandRejected, HoldExpired, InventoryEvent, ReleaseRequested, Released, ReserveRejected, ReserveRequested, Reserved};

/// A `reply_to` must be a key of the pool's own tenant (`<tenant>|<customer>`): answers never
/// cross tenants.
pub(super) fn check_reply_to(reply_to: Option<&str>, tenant: &str) -> Result<(), Rejection> {
    let Some(reply_to) = reply_to else {
        return Ok(());
    };
    souk_schemas::key::CustomerKey::parse_in(reply_to, tenant).map(|_| ()).map_err(|e| Rejection::new("BAD_REPLY_TO", format!("reply_to: {e}")))
}

/// Where answers about a hold go besides the pool key: the hold's own `reply_to` when the pool
/// knows the hold and has one, else the command's.
fn reply_target<'a>(known: Option<&'a Option<String>>, command: &'a Option<String>) -> Option<&'a str> {
    known.and_then(|r| r.as_deref()).or(command.as_deref())
}

/// `ReserveRequested`: validate, answer a known hold_id as before, else allocate (A2) against
/// availability and hold it until its TTL, or refuse with the available meters.
pub(super) fn reserve(state: &mut PoolState, e: &ReserveRequested, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    if e.meters <= Decimal::ZERO {
        return Err(Rejection::new("NON_POSITIVE_METERS", format!("meters {} <= 0", e.meters)));
    }
    check_scale(e.meters, METER_SCALE, "meters")?;
    if e.ttl_ms <= 0 {
        return Err(Rejection::new("NON_POSITIVE_TTL", format!("ttl_ms {} <= 0", e.ttl_ms)));
    }
    if e.hold_id.is_empty() {
        return Err(Rejection::new("BAD_HOLD_ID", "empty hold_id"));
    }
    let request = HoldRequest { order_id: e.order_id.clone(), line_id: e.line_id.clone(), meters: e.meters };
    let price = state.price_per_meter;
    if let Some(hold) = state.holds.get(&e.hold_id) {
        same_request(&e.hold_id, &hold.request, &request)?;
        let reply_to = reply_target(Some(&hold.reply_to), &e.reply_to);
        emit_reserved(ctx, reply_to, e, &hold.allocations, hold.expires_at, price);
        return Ok(());
    }
    if let Some(closed) = state.closed.get(&e.hold_id) {
        same_request(&e.hold_id, &closed.request, &request)?;
        let reply_to = reply_target(Some(&closed.reply_to), &e.reply_to);
        match &closed.end {
            HoldEnd::Rejected { available_meters } => emit_rejected(ctx, reply_to, e, *available_meters),
            HoldEnd::Committed { allocations, expires_at } | HoldEnd::Released { allocations, expires_at, .. } | HoldEnd::Expired { allocations, expires_at } => {
                emit_reserved(ctx, reply_to, e, allocations, *expires_at, price)
            }
        }
        return Ok(());
    }
    let reply_to = e.reply_to.clone();
    let Some(allocations) = allocation::allocate(&state.available(), e.meters) else {
        let available_meters = state.available_meters();
        emit_rejected(ctx, reply_to.as_deref(), e, available_meters);
        state.remember_closed(&e.hold_id, ClosedHold { request, end: HoldEnd::Rejected { available_meters }, reply_to });
        return Ok(());
    };
    let expires_at = ctx.now().checked_add(e.ttl_ms).ok_or_else(|| Rejection::new("TTL_OVERFLOW", format!("ttl_ms {} overflows the clock", e.ttl_ms)))?;
    emit_reserved(ctx, reply_to.as_deref(), e, &allocations, expires_at, price);
    state.holds.insert(e.hold_id.clone(), Hold { request, allocations, expires_at, reply_to });
    ctx.schedule(hold_timer_id(&e.hold_id), expires_at);
    emit_levels(state, ctx);
    Ok(())
}

/// A hold_id names one order line's request; the same id with other content is a caller bug.
fn same_request(hold_id: &str, known: &HoldRequest, asked: &HoldRequest) -> Result<(), Rejection> {
    if known != asked {
        return Err(Rejection::new("HOLD_ID_CONFLICT", format!("hold {hold_id} was requested as {known:?}, now as {asked:?}")));
    }
    Ok(())
}

fn emit_reserved(ctx: &mut Ctx<InventoryEvent>, reply_to: Option<&str>, e: &ReserveRequested, allocations: &[BatchAllocation], expires_at: i64, price: Option<Decimal>) {
    answer(ctx, reply_to, |envelope| {
        InventoryEvent::Reserved(Reserved {
            envelope,
            hold_id: e.hold_id.clone(),
            order_id: e.order_id.clone(),
            line_id: e.line_id.clone(),
            meters: e.meters,
            allocations: allocations.to_vec(),
            expires_at,
            price_per_meter: price,
        })
    });
}

fn emit_rejected(ctx: &mut Ctx<InventoryEvent>, reply_to: Option<&str>, e: &ReserveRequested, available_meters: Decimal) {
    answer(ctx, reply_to, |envelope| {
        InventoryEvent::ReserveRejected(ReserveRejected {
            envelope,
            hold_id: e.hold_id.clone(),
            order_id: e.order_id.clone(),
            line_id: e.line_id.clone(),
            requested_meters: e.meters,
            available_meters,
        })
    });
}

/// Answers a commit or release of a hold that is not open: the remembered outcome when it matches
/// the command (`same_outcome`), else `HoldCommandRejected` with the reason.
fn answer_not_open(
    state: &PoolState,
    hold_id: &str,
    command: &str,
    command_reply_to: &Option<String>,
    ctx: &mut Ctx<InventoryEvent>,
    same_outcome: impl Fn(&ClosedHold, Option<&str>, &mut Ctx<InventoryEvent>) -> bool,
) {
    let closed = state.closed.get(hold_id);
    let reply_to = reply_target(closed.map(|c| &c.reply_to), command_reply_to);
    if closed.is_some_and(|c| same_outcome(c, reply_to, ctx)) {
        return;
    }
    let reason = closed_reason(closed);
    answer(ctx, reply_to, |envelope| InventoryEvent::HoldCommandRejected(HoldCommandRejected { envelope, hold_id: hold_id.to_string(), command: command.to_string(), reason: reason.to_string() }));
}

/// The `HoldCommandRejected` reason for a command on a hold that is not open.
fn closed_reason(closed: Option<&ClosedHold>) -> &'static str {
    match closed.map(|c| &c.end) {
        None | Some(HoldEnd::Rejected { .. }) => "UNKNOWN_HOLD",
        Some(HoldEnd::Committed { .. }) => "ALREADY_COMMITTED",
        Some(HoldEnd::Released { .. }) => "ALREADY_RELEASED",
        Some(HoldEnd::Expired { .. }) => "HOLD_EXPIRED",
    }
}

/// `CommitRequested`: deduct an open hold's claim from on hand; answer closed/unknown holds.
pub(super) fn commit(state: &mut PoolState, e: &CommitRequested, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    let Some(hold) = state.holds.get(&e.hold_id).cloned() else {
        answer_not_open(state, &e.hold_id, "commit", &e.reply_to, ctx, |closed, reply_to, ctx| {
            let HoldEnd::Committed { allocations, .. } = &closed.end else {
                return false;
            };
            emit_committed(ctx, reply_to, &e.hold_id, &closed.request, allocations);
            true
        });
        return Ok(());
    };
    for allocation in &hold.allocations {
        let batch = state.batch_mut(&allocation.batch_id).ok_or_else(|| Rejection::new("CORRUPT_HOLD", format!("hold {} names missing batch {}", e.hold_id, allocation.batch_id)))?;
        let after = allocation::deduct(&batch.on_hand(), allocation).ok_or_else(|| Rejection::new("CORRUPT_HOLD", format!("hold {} exceeds batch {} on hand", e.hold_id, allocation.batch_id)))?;
        batch.rolls = after.rolls;
        batch.loose_meters = after.loose_meters;
    }
    state.holds.remove(&e.hold_id);
    ctx.cancel(&hold_timer_id(&e.hold_id));
    let reply_to = reply_target(Some(&hold.reply_to), &e.reply_to);
    emit_committed(ctx, reply_to, &e.hold_id, &hold.request, &hold.allocations);
    let end = HoldEnd::Committed { allocations: hold.allocations, expires_at: hold.expires_at };
    close(state, &e.hold_id, hold.request, end, hold.reply_to, ctx);
    Ok(())
}

/// Every way a hold ends: remember how (so a redelivered command gets the same answer, also at
/// the requester) and publish the pool's new levels.
fn close(state: &mut PoolState, hold_id: &str, request: HoldRequest, end: HoldEnd, reply_to: Option<String>, ctx: &mut Ctx<InventoryEvent>) {
    state.remember_closed(hold_id, ClosedHold { request, end, reply_to });
    emit_levels(state, ctx);
}

fn emit_committed(ctx: &mut Ctx<InventoryEvent>, reply_to: Option<&str>, hold_id: &str, request: &HoldRequest, allocations: &[BatchAllocation]) {
    answer(ctx, reply_to, |envelope| {
        InventoryEvent::Committed(Committed { envelope, hold_id: hold_id.to_string(), order_id: request.order_id.clone(), line_id: request.line_id.clone(), allocations: allocations.to_vec() })
    });
}

/// `ReleaseRequested`: drop an open hold's claim; answer closed/unknown holds.
pub(super) fn release(state: &mut PoolState, e: &ReleaseRequested, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    let Some(hold) = state.holds.remove(&e.hold_id) else {
        answer_not_open(state, &e.hold_id, "release", &e.reply_to, ctx, |closed, reply_to, ctx| {
            let HoldEnd::Released { reason, .. } = &closed.end else {
                return false;
            };
            emit_released(ctx, reply_to, &e.hold_id, &closed.request, reason);
            true
        });
        return Ok(());
    };
    ctx.cancel(&hold_timer_id(&e.hold_id));
    let reply_to = reply_target(Some(&hold.reply_to), &e.reply_to);
    emit_released(ctx, reply_to, &e.hold_id, &hold.request, &e.reason);
    let end = HoldEnd::Released { allocations: hold.allocations, expires_at: hold.expires_at, reason: e.reason.clone() };
    close(state, &e.hold_id, hold.request, end, hold.reply_to, ctx);
    Ok(())
}

fn emit_released(ctx: &mut Ctx<InventoryEvent>, reply_to: Option<&str>, hold_id: &str, request: &HoldRequest, reason: &str) {
    answer(ctx, reply_to, |envelope| {
        InventoryEvent::Released(Released { envelope, hold_id: hold_id.to_string(), order_id: request.order_id.clone(), line_id: request.line_id.clone(), reason: reason.to_string() })
    });
}

/// The hold's TTL passed: give its claim back, emit `HoldExpired` and the new levels.
pub(super) fn expire(state: &mut PoolState, hold_id: &str, ctx: &mut Ctx<InventoryEvent>) {
    let Some(hold) = state.holds.remove(hold_id) else {
        return;
    };
    answer(ctx, hold.reply_to.as_deref(), |envelope| {
        InventoryEvent::HoldExpired(HoldExpired { envelope, hold_id: hold_id.to_string(), order_id: hold.request.order_id.clone(), line_id: hold.request.line_id.clone() })
    });
    let end = HoldEnd::Expired { allocations: hold.allocations, expires_at: hold.expires_at };
    close(state, hold_id, hold.request, end, hold.reply_to, ctx);
}
