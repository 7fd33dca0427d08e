//! The inventory projection: `inventory.events` → `stock_pools`, `stock_batches` and `holds`
//! (tables in `projections/migrations`). Each record is applied exactly once (its offset moves in
//! the same transaction), so plain upserts suffice; the one subtlety is that the inventory pool
//! answers a redelivered reserve request for a closed hold with a copy of its `Reserved`, which
//! must not reopen the hold here.

use super::runner::{Projection, SinkRecord};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use souk_schemas::inventory::{BatchAllocation, InventoryEvent, StockLevelChanged};
use souk_schemas::StreamEvent;
use sqlx::PgConnection;

/// Projects inventory events into the stock and hold read models.
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryProjection;

/// The pool a record belongs to, from its key `<tenant>|<material>|<color>`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PoolKey {
    tenant: String,
    material: String,
    color: String,
}

fn pool_key(key: Option<&str>) -> Result<PoolKey, String> {
    let key = souk_schemas::key::PoolKey::parse(key.ok_or("record has no key")?).map_err(|e| e.to_string())?;
    Ok(PoolKey { tenant: key.tenant.to_string(), material: key.material.to_string(), color: key.color.to_string() })
}

fn ts(ms: i64, what: &str) -> Result<DateTime<Utc>, String> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| format!("{what} {ms} is not a representable time"))
}

/// Every epoch-ms field the projection stores, so `check` can refuse impossible ones up front.
fn times(event: &InventoryEvent) -> Vec<(i64, &'static str)> {
    let mut t = vec![(event.envelope().occurred_at, "occurred_at")];
    match event {
        InventoryEvent::Reserved(e) => t.push((e.expires_at, "expires_at")),
        InventoryEvent::StockLevelChanged(e) => t.extend(e.batches.iter().map(|b| (b.received_at, "received_at"))),
        _ => {}
    }
    t
}

impl Projection for InventoryProjection {
    type Event = InventoryEvent;

    fn check(&self, record: &SinkRecord<InventoryEvent>) -> Result<(), String> {
        if matches!(record.event, InventoryEvent::HoldCommandRejected(_)) {
            return Ok(());
        }
        let key = pool_key(record.key.as_deref())?;
        let tenant = &record.event.envelope().tenant_id;
        if &key.tenant != tenant {
            return Err(format!("key tenant {} differs from the event's tenant {tenant}", key.tenant));
        }
        for (ms, what) in times(&record.event) {
            ts(ms, what)?;
        }
        Ok(())
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<InventoryEvent>) -> anyhow::Result<()> {
        let env = record.event.envelope();
        let at = ts(env.occurred_at, "occurred_at").map_err(anyhow::Error::msg)?;
        let event_id = env.event_id.as_str();
        let hold = |key: PoolKey, hold_id: &str, order_id: &str, line_id: &str, status: &'static str| HoldUpsert {
            tenant: key.tenant,
            hold_id: hold_id.to_string(),
            material: key.material,
            color: key.color,
            order_id: order_id.to_string(),
            line_id: line_id.to_string(),
            status,
            meters: None,
            allocations: None,
            expires_at: None,
            reason: None,
            event_id: event_id.to_string(),
            at,
        };
        let key = || pool_key(record.key.as_deref()).map_err(anyhow::Error::msg);
        match &record.event {
            InventoryEvent::StockLevelChanged(e) => stock_levels(tx, e, event_id, at).await,
            InventoryEvent::Reserved(e) => {
                let mut h = hold(key()?, &e.hold_id, &e.order_id, &e.line_id, "HELD");
                h.meters = Some(e.meters);
                h.allocations = Some(allocations_json(&e.allocations)?);
                h.expires_at = Some(ts(e.expires_at, "expires_at").map_err(anyhow::Error::msg)?);
                reserved(tx, &h).await
            }
            InventoryEvent::ReserveRejected(e) => {
                let mut h = hold(key()?, &e.hold_id, &e.order_id, &e.line_id, "REJECTED");
                h.meters = Some(e.requested_meters);
                h.allocations = Some(serde_json::json!([]));
                h.reason = Some(format!("insufficient stock: requested {} m, available {} m", e.requested_meters, e.available_meters));
                upsert_hold(tx, &h).await
            }
            InventoryEvent::Committed(e) => {
                let mut h = hold(key()?, &e.hold_id, &e.order_id, &e.line_id, "COMMITTED");
                h.meters = Some(e.allocations.iter().map(|a| a.meters).sum());
                h.allocations = Some(allocations_json(&e.allocations)?);
                upsert_hold(tx, &h).await
            }
            InventoryEvent::Released(e) => {
                let mut h = hold(key()?, &e.hold_id, &e.order_id, &e.line_id, "RELEASED");
                h.reason = Some(e.reason.clone());
                upsert_hold(tx, &h).await
            }
            InventoryEvent::HoldExpired(e) => upsert_hold(tx, &hold(key()?, &e.hold_id, &e.order_id, &e.line_id, "EXPIRED")).await,
            InventoryEvent::HoldCommandRejected(e) => {
                tracing::debug!(hold_id = %e.hold_id, command = %e.command, reason = %e.reason, "hold command rejected (nothing to project)");
                Ok(())
            }
        }
    }
}

fn allocations_json(allocations: &[BatchAllocation]) -> anyhow::Result<serde_json::Value> {
    serde_json::to_value(allocations).context("serializing allocations")
}

/// The pool's totals, catalog price and aliases, and every listed batch; batches the pool no
/// longer lists are removed, since a `StockLevelChanged` carries the whole pool.
async fn stock_levels(tx: &mut PgConnection, e: &StockLevelChanged, event_id: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
    let tenant = &e.envelope.tenant_id;
    sqlx::query(
        "INSERT INTO stock_pools (tenant_id, material, color, on_hand_meters, held_meters, available_meters, last_event_id, updated_at, \
         price_per_meter, aliases) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (tenant_id, material, color) DO UPDATE SET on_hand_meters = EXCLUDED.on_hand_meters, \
         held_meters = EXCLUDED.held_meters, available_meters = EXCLUDED.available_meters, \
         last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at, \
         price_per_meter = EXCLUDED.price_per_meter, aliases = EXCLUDED.aliases",
    )
    .bind(tenant)
    .bind(&e.material)
    .bind(&e.color)
    .bind(e.on_hand_meters)
    .bind(e.held_meters)
    .bind(e.available_meters)
    .bind(event_id)
    .bind(at)
    .bind(e.price_per_meter)
    .bind(&e.aliases)
    .execute(&mut *tx)
    .await
    .context("upserting stock_pools")?;
    for b in &e.batches {
        let received_at = ts(b.received_at, "received_at").map_err(anyhow::Error::msg)?;
        sqlx::query(
            "INSERT INTO stock_batches (tenant_id, material, color, batch_id, dye_lot, rolls, meters_per_roll, loose_meters, \
             held_meters, available_meters, price_per_meter, received_at, last_event_id, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
             ON CONFLICT (tenant_id, material, color, batch_id) DO UPDATE SET dye_lot = EXCLUDED.dye_lot, rolls = EXCLUDED.rolls, \
             meters_per_roll = EXCLUDED.meters_per_roll, loose_meters = EXCLUDED.loose_meters, held_meters = EXCLUDED.held_meters, \
             available_meters = EXCLUDED.available_meters, price_per_meter = EXCLUDED.price_per_meter, \
             received_at = EXCLUDED.received_at, last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at",
        )
        .bind(tenant)
        .bind(&e.material)
        .bind(&e.color)
        .bind(&b.batch_id)
        .bind(&b.dye_lot)
        .bind(b.rolls)
        .bind(b.meters_per_roll)
        .bind(b.loose_meters)
        .bind(b.held_meters)
        .bind(b.available_meters)
        .bind(b.price_per_meter)
        .bind(received_at)
        .bind(event_id)
        .bind(at)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting stock_batches {}", b.batch_id))?;
    }
    let listed: Vec<String> = e.batches.iter().map(|b| b.batch_id.clone()).collect();
    sqlx::query("DELETE FROM stock_batches WHERE tenant_id = $1 AND material = $2 AND color = $3 AND NOT (batch_id = ANY($4))")
        .bind(tenant)
        .bind(&e.material)
        .bind(&e.color)
        .bind(&listed)
        .execute(&mut *tx)
        .await
        .context("removing batches the pool no longer lists")?;
    Ok(())
}

/// A hold row to write; `None` fields keep the stored value (or a neutral default for a new row,
/// e.g. a hold whose `Reserved` fell out of retention).
struct HoldUpsert {
    tenant: String,
    hold_id: String,
    material: String,
    color: String,
    order_id: String,
    line_id: String,
    status: &'static str,
    meters: Option<Decimal>,
    allocations: Option<serde_json::Value>,
    expires_at: Option<DateTime<Utc>>,
    reason: Option<String>,
    event_id: String,
    at: DateTime<Utc>,
}

const INSERT_HOLD: &str = "INSERT INTO holds (tenant_id, hold_id, material, color, order_id, line_id, meters, status, allocations, \
     expires_at, reason, last_event_id, updated_at) \
     VALUES ($1, $2, $3, $4, $5, $6, COALESCE($7, 0), $8, COALESCE($9, '[]'::jsonb), $10, $11, $12, $13) \
     ON CONFLICT (tenant_id, hold_id) DO UPDATE SET material = EXCLUDED.material, color = EXCLUDED.color, \
     order_id = EXCLUDED.order_id, line_id = EXCLUDED.line_id, meters = COALESCE($7, holds.meters), status = EXCLUDED.status, \
     allocations = COALESCE($9, holds.allocations), expires_at = COALESCE($10, holds.expires_at), reason = EXCLUDED.reason, \
     last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at";

async fn upsert_hold(tx: &mut PgConnection, h: &HoldUpsert) -> anyhow::Result<()> {
    execute_hold(tx, h, INSERT_HOLD).await
}

/// `Reserved` opens a hold, unless it is the pool's repeated answer for a hold that is already
/// closed (same expiry): then the row keeps its COMMITTED/RELEASED/EXPIRED status. A different
/// expiry means the pool treated the id as a new hold (it forgot the old one), which reopens it.
async fn reserved(tx: &mut PgConnection, h: &HoldUpsert) -> anyhow::Result<()> {
    let sql = format!("{INSERT_HOLD} WHERE holds.status = 'HELD' OR holds.expires_at IS DISTINCT FROM EXCLUDED.expires_at");
    execute_hold(tx, h, &sql).await
}

async fn execute_hold(tx: &mut PgConnection, h: &HoldUpsert, sql: &str) -> anyhow::Result<()> {
    sqlx::query(sql)
        .bind(&h.tenant)
        .bind(&h.hold_id)
        .bind(&h.material)
        .bind(&h.color)
        .bind(&h.order_id)
        .bind(&h.line_id)
        .bind(h.meters)
        .bind(h.status)
        .bind(&h.allocations)
        .bind(h.expires_at)
        .bind(&h.reason)
        .bind(&h.event_id)
        .bind(h.at)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting hold {} as {}", h.hold_id, h.status))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_tenant_material_and_color() {
        assert_eq!(pool_key(Some("acme|cotton|blue")).unwrap(), PoolKey { tenant: "acme".into(), material: "cotton".into(), color: "blue".into() });
        // The same rule as the inventory pool's: exactly three parts.
        assert!(pool_key(Some("acme|cotton|navy|blue")).is_err());
        assert!(pool_key(Some("acme|cotton")).is_err());
        assert!(pool_key(Some("acme||blue")).is_err());
        assert!(pool_key(None).is_err());
    }

    #[test]
    fn impossible_times_are_refused() {
        assert!(ts(i64::MAX, "expires_at").is_err());
        assert_eq!(ts(1_700_000_000_123, "x").unwrap().timestamp_millis(), 1_700_000_000_123);
    }
}
