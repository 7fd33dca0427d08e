//! Holds (DECISIONS A3): reserve against availability, commit (deduct from on hand), release and
//! expire (drop the claim), each idempotent on `hold_id` through the pool's closed-hold memory.

use super::state::{ClosedHold, Hold, HoldEnd, HoldRequest, PoolState};
use super::stock::check_scale;
use super::{allocation, emit, emit_levels, hold_timer_id, METER_SCALE};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::inventory::{
    BatchAllocation, CommitRequested, Committed, HoldCommandRejected, HoldExpired, InventoryEvent,
    ReleaseRequested, Released, ReserveRejected, ReserveRequested, Reserved,
};

/// `ReserveRequested`: validate, answer a known hold_id as before, else allocate (A2) against
/// availability and hold it until its TTL, or refuse with the available meters.
pub(super) fn reserve(
    state: &mut PoolState,
    e: &ReserveRequested,
    ctx: &mut Ctx<InventoryEvent>,
) -> Result<(), Rejection> {
    if e.meters <= Decimal::ZERO {
        return Err(Rejection::new(
            "NON_POSITIVE_METERS",
            format!("meters {} <= 0", e.meters),
        ));
    }
    check_scale(e.meters, METER_SCALE, "meters")?;
    if e.ttl_ms <= 0 {
        return Err(Rejection::new(
            "NON_POSITIVE_TTL",
            format!("ttl_ms {} <= 0", e.ttl_ms),
        ));
    }
    if e.hold_id.is_empty() {
        return Err(Rejection::new("BAD_HOLD_ID", "empty hold_id"));
    }
    let request = HoldRequest {
        order_id: e.order_id.clone(),
        line_id: e.line_id.clone(),
        meters: e.meters,
    };
    let price = state.price_per_meter;
    if let Some(hold) = state.holds.get(&e.hold_id) {
        same_request(&e.hold_id, &hold.request, &request)?;
        let (allocations, expires_at) = (hold.allocations.clone(), hold.expires_at);
        emit_reserved(ctx, e, allocations, expires_at, price);
        return Ok(());
    }
    if let Some(closed) = state.closed.get(&e.hold_id) {
        same_request(&e.hold_id, &closed.request, &request)?;
        match closed.end.clone() {
            HoldEnd::Rejected { available_meters } => emit_rejected(ctx, e, available_meters),
            HoldEnd::Committed {
                allocations,
                expires_at,
            }
            | HoldEnd::Released {
                allocations,
                expires_at,
                ..
            }
            | HoldEnd::Expired {
                allocations,
                expires_at,
            } => emit_reserved(ctx, e, allocations, expires_at, price),
        }
        return Ok(());
    }
    let Some(allocations) = allocation::allocate(&state.available(), e.meters) else {
        let available_meters = state.available_meters();
        emit_rejected(ctx, e, available_meters);
        state.remember_closed(
            &e.hold_id,
            ClosedHold {
                request,
                end: HoldEnd::Rejected { available_meters },
            },
        );
        return Ok(());
    };
    let expires_at = ctx.now().checked_add(e.ttl_ms).ok_or_else(|| {
        Rejection::new(
            "TTL_OVERFLOW",
            format!("ttl_ms {} overflows the clock", e.ttl_ms),
        )
    })?;
    state.holds.insert(
        e.hold_id.clone(),
        Hold {
            request,
            allocations: allocations.clone(),
            expires_at,
        },
    );
    ctx.schedule(hold_timer_id(&e.hold_id), expires_at);
    emit_reserved(ctx, e, allocations, expires_at, price);
    emit_levels(state, ctx);
    Ok(())
}

/// A hold_id names one order line's request; the same id with other content is a caller bug.
fn same_request(hold_id: &str, known: &HoldRequest, asked: &HoldRequest) -> Result<(), Rejection> {
    if known != asked {
        return Err(Rejection::new(
            "HOLD_ID_CONFLICT",
            format!("hold {hold_id} was requested as {known:?}, now as {asked:?}"),
        ));
    }
    Ok(())
}

fn emit_reserved(
    ctx: &mut Ctx<InventoryEvent>,
    e: &ReserveRequested,
    allocations: Vec<BatchAllocation>,
    expires_at: i64,
    price: Option<Decimal>,
) {
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::Reserved(Reserved {
            envelope,
            hold_id: e.hold_id.clone(),
            order_id: e.order_id.clone(),
            line_id: e.line_id.clone(),
            meters: e.meters,
            allocations,
            expires_at,
            price_per_meter: price,
        }),
    );
}

fn emit_rejected(ctx: &mut Ctx<InventoryEvent>, e: &ReserveRequested, available_meters: Decimal) {
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::ReserveRejected(ReserveRejected {
            envelope,
            hold_id: e.hold_id.clone(),
            order_id: e.order_id.clone(),
            line_id: e.line_id.clone(),
            requested_meters: e.meters,
            available_meters,
        }),
    );
}

fn emit_hold_rejected(ctx: &mut Ctx<InventoryEvent>, hold_id: &str, command: &str, reason: &str) {
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::HoldCommandRejected(HoldCommandRejected {
            envelope,
            hold_id: hold_id.to_string(),
            command: command.to_string(),
            reason: reason.to_string(),
        }),
    );
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
pub(super) fn commit(
    state: &mut PoolState,
    e: &CommitRequested,
    ctx: &mut Ctx<InventoryEvent>,
) -> Result<(), Rejection> {
    let Some(hold) = state.holds.get(&e.hold_id).cloned() else {
        let closed = state.closed.get(&e.hold_id);
        if let Some(ClosedHold {
            request,
            end: HoldEnd::Committed { allocations, .. },
        }) = closed
        {
            let (request, allocations) = (request.clone(), allocations.clone());
            emit_committed(ctx, &e.hold_id, &request, allocations);
        } else {
            emit_hold_rejected(ctx, &e.hold_id, "commit", closed_reason(closed));
        }
        return Ok(());
    };
    for allocation in &hold.allocations {
        let batch = state.batch_mut(&allocation.batch_id).ok_or_else(|| {
            Rejection::new(
                "CORRUPT_HOLD",
                format!(
                    "hold {} names missing batch {}",
                    e.hold_id, allocation.batch_id
                ),
            )
        })?;
        let after = allocation::deduct(&batch.on_hand(), allocation).ok_or_else(|| {
            Rejection::new(
                "CORRUPT_HOLD",
                format!(
                    "hold {} exceeds batch {} on hand",
                    e.hold_id, allocation.batch_id
                ),
            )
        })?;
        batch.rolls = after.rolls;
        batch.loose_meters = after.loose_meters;
    }
    state.holds.remove(&e.hold_id);
    ctx.cancel(&hold_timer_id(&e.hold_id));
    emit_committed(ctx, &e.hold_id, &hold.request, hold.allocations.clone());
    let end = HoldEnd::Committed {
        allocations: hold.allocations,
        expires_at: hold.expires_at,
    };
    close(state, &e.hold_id, hold.request, end, ctx);
    Ok(())
}

/// Every way a hold ends: remember how (so a redelivered command gets the same answer) and
/// publish the pool's new levels.
fn close(
    state: &mut PoolState,
    hold_id: &str,
    request: HoldRequest,
    end: HoldEnd,
    ctx: &mut Ctx<InventoryEvent>,
) {
    state.remember_closed(hold_id, ClosedHold { request, end });
    emit_levels(state, ctx);
}

fn emit_committed(
    ctx: &mut Ctx<InventoryEvent>,
    hold_id: &str,
    request: &HoldRequest,
    allocations: Vec<BatchAllocation>,
) {
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::Committed(Committed {
            envelope,
            hold_id: hold_id.to_string(),
            order_id: request.order_id.clone(),
            line_id: request.line_id.clone(),
            allocations,
        }),
    );
}

/// `ReleaseRequested`: drop an open hold's claim; answer closed/unknown holds.
pub(super) fn release(
    state: &mut PoolState,
    e: &ReleaseRequested,
    ctx: &mut Ctx<InventoryEvent>,
) -> Result<(), Rejection> {
    let Some(hold) = state.holds.remove(&e.hold_id) else {
        let closed = state.closed.get(&e.hold_id);
        if let Some(ClosedHold {
            request,
            end: HoldEnd::Released { reason, .. },
        }) = closed
        {
            let (request, reason) = (request.clone(), reason.clone());
            emit_released(ctx, &e.hold_id, &request, &reason);
        } else {
            emit_hold_rejected(ctx, &e.hold_id, "release", closed_reason(closed));
        }
        return Ok(());
    };
    ctx.cancel(&hold_timer_id(&e.hold_id));
    emit_released(ctx, &e.hold_id, &hold.request, &e.reason);
    let end = HoldEnd::Released {
        allocations: hold.allocations,
        expires_at: hold.expires_at,
        reason: e.reason.clone(),
    };
    close(state, &e.hold_id, hold.request, end, ctx);
    Ok(())
}

fn emit_released(
    ctx: &mut Ctx<InventoryEvent>,
    hold_id: &str,
    request: &HoldRequest,
    reason: &str,
) {
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::Released(Released {
            envelope,
            hold_id: hold_id.to_string(),
            order_id: request.order_id.clone(),
            line_id: request.line_id.clone(),
            reason: reason.to_string(),
        }),
    );
}

/// The hold's TTL passed: give its claim back, emit `HoldExpired` and the new levels.
pub(super) fn expire(state: &mut PoolState, hold_id: &str, ctx: &mut Ctx<InventoryEvent>) {
    let Some(hold) = state.holds.remove(hold_id) else {
        return;
    };
    let envelope = ctx.envelope();
    emit(
        ctx,
        InventoryEvent::HoldExpired(HoldExpired {
            envelope,
            hold_id: hold_id.to_string(),
            order_id: hold.request.order_id.clone(),
            line_id: hold.request.line_id.clone(),
        }),
    );
    let end = HoldEnd::Expired {
        allocations: hold.allocations,
        expires_at: hold.expires_at,
    };
    close(state, hold_id, hold.request, end, ctx);
}
