//! Stock in and corrections: `BatchReceived` (idempotent on identical content) and `BatchAdjusted`
//! (absolute on-hand set, never below what open holds claim).

use super::state::{Batch, PoolState, Receipt};
use super::{allocation, emit_levels, PoolKey, METER_SCALE, PRICE_SCALE};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::inventory::{BatchAdjusted, BatchReceived, CatalogItemUpserted, InventoryEvent};

/// Ok when `value` has at most `scale` decimals (after dropping trailing zeros).
pub(super) fn check_scale(value: Decimal, scale: u32, field: &str) -> Result<(), Rejection> {
    if value.round_dp(scale) != value {
        return Err(Rejection::new("TOO_MANY_DECIMALS", format!("{field} {value} has more than {scale} decimals")));
    }
    Ok(())
}

/// Rolls ≥ 0, loose ≥ 0 with ≤ 3 decimals, price (if any) ≥ 0 with ≤ 2 decimals.
fn check_stock(rolls: i32, loose: Decimal, price: Option<Decimal>) -> Result<(), Rejection> {
    if rolls < 0 {
        return Err(Rejection::new("NEGATIVE_ROLLS", format!("rolls {rolls} < 0")));
    }
    if loose < Decimal::ZERO {
        return Err(Rejection::new("NEGATIVE_METERS", format!("loose_meters {loose} < 0")));
    }
    check_scale(loose, METER_SCALE, "loose_meters")?;
    if let Some(price) = price {
        if price < Decimal::ZERO {
            return Err(Rejection::new("NEGATIVE_PRICE", format!("price_per_meter {price} < 0")));
        }
        check_scale(price, PRICE_SCALE, "price_per_meter")?;
    }
    Ok(())
}

/// `BatchReceived`: add a batch of this pool (idempotent on identical content).
pub(super) fn batch_received(state: &mut PoolState, e: &BatchReceived, key: &PoolKey<'_>, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    if e.material != key.material || e.color != key.color {
        return Err(Rejection::new("POOL_MISMATCH", format!("batch {} is {}/{} but the key is {:?}", e.batch_id, e.material, e.color, ctx.key())));
    }
    if e.batch_id.is_empty() {
        return Err(Rejection::new("BAD_BATCH_ID", "empty batch_id"));
    }
    if e.meters_per_roll <= Decimal::ZERO {
        return Err(Rejection::new("BAD_METERS_PER_ROLL", format!("meters_per_roll {} <= 0", e.meters_per_roll)));
    }
    check_scale(e.meters_per_roll, METER_SCALE, "meters_per_roll")?;
    check_stock(e.rolls, e.loose_meters, e.price_per_meter)?;
    let receipt = Receipt {
        material: e.material.clone(),
        color: e.color.clone(),
        dye_lot: e.dye_lot.clone(),
        rolls: e.rolls,
        meters_per_roll: e.meters_per_roll,
        loose_meters: e.loose_meters,
        price_per_meter: e.price_per_meter,
        received_at: e.received_at,
    };
    if let Some(existing) = state.batch(&e.batch_id) {
        if existing.receipt == receipt {
            return Ok(()); // a redelivered receipt: already counted, nothing changed
        }
        return Err(Rejection::new("BATCH_CONFLICT", format!("batch {} was already received with other content", e.batch_id)));
    }
    state.insert_batch(Batch {
        batch_id: e.batch_id.clone(),
        dye_lot: e.dye_lot.clone(),
        rolls: e.rolls,
        meters_per_roll: e.meters_per_roll,
        loose_meters: e.loose_meters,
        price_per_meter: e.price_per_meter,
        received_at: e.received_at,
        receipt,
    });
    emit_levels(state, ctx);
    Ok(())
}

/// `BatchAdjusted`: set a batch's on hand absolutely, never below the open holds' claims.
pub(super) fn batch_adjusted(state: &mut PoolState, e: &BatchAdjusted, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    check_stock(e.rolls, e.loose_meters, e.price_per_meter)?;
    let claim = state.claims().get(&e.batch_id).copied().unwrap_or_default();
    let batch = state.batch_mut(&e.batch_id).ok_or_else(|| Rejection::new("UNKNOWN_BATCH", format!("no batch {} in this pool", e.batch_id)))?;
    let mut adjusted = batch.on_hand();
    adjusted.rolls = e.rolls;
    adjusted.loose_meters = e.loose_meters;
    if allocation::available(&adjusted, &claim).is_none() {
        return Err(Rejection::new(
            "ADJUSTMENT_BELOW_HELD",
            format!("batch {}: {} rolls + {} loose cannot cover the open holds' {} rolls + {} loose meters", e.batch_id, e.rolls, e.loose_meters, claim.rolls, claim.loose_meters),
        ));
    }
    batch.rolls = e.rolls;
    batch.loose_meters = e.loose_meters;
    if e.price_per_meter.is_some() {
        batch.price_per_meter = e.price_per_meter;
    }
    emit_levels(state, ctx);
    Ok(())
}

/// `CatalogItemUpserted`: the pool's price and aliases (rules A4); stock is unchanged.
pub(super) fn catalog_upserted(state: &mut PoolState, e: &CatalogItemUpserted, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
    if e.price_per_meter <= Decimal::ZERO || e.price_per_meter.round_dp(PRICE_SCALE) != e.price_per_meter {
        return Err(Rejection::new("BAD_PRICE", format!("price per meter {} must be > 0 with at most {PRICE_SCALE} decimals", e.price_per_meter)));
    }
    if !e.material.eq_ignore_ascii_case(&state.material) || !e.color.eq_ignore_ascii_case(&state.color) {
        return Err(Rejection::new("KEY_MISMATCH", format!("catalog item {}/{} sent to pool {}/{}", e.material, e.color, state.material, state.color)));
    }
    state.price_per_meter = Some(e.price_per_meter);
    state.aliases = e.aliases.clone();
    emit_levels(state, ctx);
    Ok(())
}
