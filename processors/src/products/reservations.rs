//! Holds on a variant's stock with a time to live (rules IV5). A hold claims units of
//! available-to-promise (stock − held); expiry and release free them, confirmation takes them out
//! of stock as a movement. Answers are `ReservationUpdated`; a hold asked for again (same
//! command) is answered again as it stands, and a settle of a hold that already ended changes
//! nothing.

use super::commands::{movement, unknown_product};
use super::{ProductState, Refusal, RESERVATION_TIMER_PREFIX};
use souk_runtime::Ctx;
use souk_schemas::products::{ProductOutput, ReservationRequested, ReservationSettled, ReservationUpdated};

/// Ended holds remembered per product (for answers to redelivered commands).
pub const CLOSED_HOLDS_KEPT: usize = 256;
/// The longest a hold may last.
pub const MAX_TTL_SECONDS: i64 = 7 * 24 * 3600;

fn timer_id(reservation_id: &str) -> String {
    format!("{RESERVATION_TIMER_PREFIX}{reservation_id}")
}

struct Answer<'a> {
    command_id: &'a str,
    reservation_id: &'a str,
    variant_id: &'a str,
    quantity: i64,
    status: &'a str,
    expires_at: i64,
    holder: Option<&'a str>,
    reason: Option<String>,
}

fn answer(state: &ProductState, ctx: &mut Ctx<ProductOutput>, a: Answer<'_>) {
    let key = ctx.key().to_string();
    let envelope = ctx.envelope();
    ctx.emit(
        key,
        ProductOutput::ReservationUpdated(ReservationUpdated {
            envelope,
            command_id: a.command_id.to_string(),
            reservation_id: a.reservation_id.to_string(),
            product_id: state.product_id.clone(),
            variant_id: a.variant_id.to_string(),
            quantity: a.quantity,
            status: a.status.to_string(),
            expires_at: a.expires_at,
            holder: a.holder.map(str::to_string),
            reason: a.reason,
        }),
    );
}

fn close(state: &mut ProductState, reservation_id: &str, status: &str) {
    state.closed_holds.push_back((reservation_id.to_string(), status.to_string()));
    while state.closed_holds.len() > CLOSED_HOLDS_KEPT {
        state.closed_holds.pop_front();
    }
}

fn closed_status(state: &ProductState, reservation_id: &str) -> Option<String> {
    state.closed_holds.iter().rev().find(|(id, _)| id == reservation_id).map(|(_, s)| s.clone())
}

/// A new hold, or the refusal to hold.
pub(super) fn request(state: &mut ProductState, e: &ReservationRequested, ctx: &mut Ctx<ProductOutput>) -> Result<(), Refusal> {
    if !state.defined {
        return Err(unknown_product("reserve", &e.product_id));
    }
    if state.holds.contains_key(&e.reservation_id) || closed_status(state, &e.reservation_id).is_some() {
        answer_again(state, &e.reservation_id, &e.command_id, ctx);
        return Ok(());
    }
    let refuse = |code, detail| Refusal { command: "reserve", variant_id: Some(e.variant_id.clone()), code, detail };
    if e.quantity <= 0 || e.ttl_seconds <= 0 || e.ttl_seconds > MAX_TTL_SECONDS {
        return Err(refuse("BAD_RESERVATION", format!("A hold needs a positive quantity and a TTL of 1 s to {MAX_TTL_SECONDS} s")));
    }
    let Some(variant) = state.variants.iter_mut().find(|v| v.variant_id == e.variant_id) else {
        return Err(refuse("UNKNOWN_VARIANT", format!("Product {} has no variant {}", e.product_id, e.variant_id)));
    };
    let expires_at = ctx.now() + e.ttl_seconds * 1000;
    let holder = e.holder.as_deref();
    if variant.status != "active" || state.status != "active" || e.quantity > variant.available_to_promise() {
        let reason = if variant.status != "active" || state.status != "active" { "not on sale" } else { "not enough available" };
        close(state, &e.reservation_id, "rejected");
        let a = Answer {
            command_id: &e.command_id,
            reservation_id: &e.reservation_id,
            variant_id: &e.variant_id,
            quantity: e.quantity,
            status: "rejected",
            expires_at,
            holder,
            reason: Some(reason.into()),
        };
        answer(state, ctx, a);
        return Ok(());
    }
    variant.reserved += e.quantity;
    let hold = super::Hold { command_id: e.command_id.clone(), variant_id: e.variant_id.clone(), quantity: e.quantity, expires_at, holder: e.holder.clone() };
    state.holds.insert(e.reservation_id.clone(), hold);
    ctx.schedule(timer_id(&e.reservation_id), expires_at);
    let a = Answer { command_id: &e.command_id, reservation_id: &e.reservation_id, variant_id: &e.variant_id, quantity: e.quantity, status: "held", expires_at, holder, reason: None };
    answer(state, ctx, a);
    Ok(())
}

/// The answer to a hold command delivered again: the hold as it stands.
pub(super) fn answer_again(state: &ProductState, reservation_id: &str, command_id: &str, ctx: &mut Ctx<ProductOutput>) {
    if let Some(h) = state.holds.get(reservation_id) {
        let a = Answer { command_id, reservation_id, variant_id: &h.variant_id, quantity: h.quantity, status: "held", expires_at: h.expires_at, holder: h.holder.as_deref(), reason: None };
        answer(state, ctx, a);
    } else if let Some(status) = closed_status(state, reservation_id) {
        let a = Answer { command_id, reservation_id, variant_id: "", quantity: 0, status: &status, expires_at: 0, holder: None, reason: Some("already ended".into()) };
        answer(state, ctx, a);
    }
}

/// Confirms (the units leave stock) or releases an open hold.
pub(super) fn settle(state: &mut ProductState, e: &ReservationSettled, ctx: &mut Ctx<ProductOutput>) -> Result<(), Refusal> {
    if !state.defined {
        return Err(unknown_product("settle", &e.product_id));
    }
    let Some(hold) = state.holds.remove(&e.reservation_id) else {
        if closed_status(state, &e.reservation_id).is_some() {
            answer_again(state, &e.reservation_id, &e.command_id, ctx);
            return Ok(());
        }
        return Err(Refusal { command: "settle", variant_id: None, code: "UNKNOWN_RESERVATION", detail: format!("No hold {} on product {}", e.reservation_id, e.product_id) });
    };
    ctx.cancel(&timer_id(&e.reservation_id));
    let variant = state.variants.iter_mut().find(|v| v.variant_id == hold.variant_id).expect("a hold names a variant of its product");
    variant.reserved -= hold.quantity;
    let status = if e.outcome == "confirm" {
        let previous = variant.stock;
        variant.stock -= hold.quantity;
        movement(ctx, &e.command_id, &state.product_id, &hold.variant_id, "reservation", -hold.quantity, previous, &format!("reservation {}", e.reservation_id));
        "confirmed"
    } else {
        "released"
    };
    close(state, &e.reservation_id, status);
    let a = Answer {
        command_id: &e.command_id,
        reservation_id: &e.reservation_id,
        variant_id: &hold.variant_id,
        quantity: hold.quantity,
        status,
        expires_at: hold.expires_at,
        holder: hold.holder.as_deref(),
        reason: None,
    };
    answer(state, ctx, a);
    Ok(())
}

/// A hold's TTL ran out: its units are free again. `false` when it had already ended.
pub(super) fn expire(state: &mut ProductState, reservation_id: &str, ctx: &mut Ctx<ProductOutput>) -> bool {
    let Some(hold) = state.holds.remove(reservation_id) else { return false };
    if let Some(variant) = state.variants.iter_mut().find(|v| v.variant_id == hold.variant_id) {
        variant.reserved -= hold.quantity;
    }
    close(state, reservation_id, "expired");
    let a = Answer {
        command_id: &hold.command_id,
        reservation_id,
        variant_id: &hold.variant_id,
        quantity: hold.quantity,
        status: "expired",
        expires_at: hold.expires_at,
        holder: hold.holder.as_deref(),
        reason: None,
    };
    answer(state, ctx, a);
    true
}
