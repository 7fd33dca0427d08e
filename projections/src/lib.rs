//! souk's read side in Postgres: the SQL migrations of every projection (applied by [`connect`],
//! the one way souk opens its database) and typed, tenant-scoped read functions that UIs, the read API and tests share, so
//! nobody hand-writes SQL against the projection tables.

pub mod api;
pub mod console;
pub mod outbound;
pub mod queries;
pub mod search;

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

/// Opens a pool of at most `max_connections` on `url` and applies the migrations: every souk
/// process (and test) that uses the projection schema opens its database here, so the schema is
/// always current before the first query.
pub async fn connect(url: &str, max_connections: u32) -> anyhow::Result<PgPool> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(max_connections).connect(url).await.context("connecting to Postgres (SOUK_DATABASE_URL)")?;
    migrate(&pool).await?;
    Ok(pool)
}

/// Applies the embedded migrations (`projections/migrations`); idempotent and safe to call from
/// several processes at once (sqlx serializes them with an advisory lock).
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::migrate!("./migrations").run(pool).await.context("running projection migrations")?;
    Ok(())
}

/// One stock batch of a pool as of its latest `StockLevelChanged` (the owner's stock screen).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StockBatchRow {
    /// The tenant.
    pub tenant_id: String,
    /// Material of the pool.
    pub material: String,
    /// Color of the pool.
    pub color: String,
    /// The batch.
    pub batch_id: String,
    /// Dye lot, when known.
    pub dye_lot: Option<String>,
    /// Whole rolls on hand.
    pub rolls: i32,
    /// Meters per whole roll.
    pub meters_per_roll: Decimal,
    /// Loose meters on hand (cut remnants).
    pub loose_meters: Decimal,
    /// Meters held by open holds.
    pub held_meters: Decimal,
    /// Meters still free to hold.
    pub available_meters: Decimal,
    /// Price per meter, when set.
    pub price_per_meter: Option<Decimal>,
    /// When the batch was received (FIFO order).
    pub received_at: DateTime<Utc>,
    /// The event that last changed the row.
    pub last_event_id: String,
    /// Source time of that event.
    pub updated_at: DateTime<Utc>,
}

/// Totals of one (material, color) pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct StockPoolRow {
    /// The tenant.
    pub tenant_id: String,
    /// Material.
    pub material: String,
    /// Color.
    pub color: String,
    /// Meters physically on hand.
    pub on_hand_meters: Decimal,
    /// Meters held by open holds.
    pub held_meters: Decimal,
    /// Meters free to hold.
    pub available_meters: Decimal,
    /// The pool's catalog price per meter (rules A4), once listed.
    pub price_per_meter: Option<Decimal>,
    /// Other names customers use for the material.
    pub aliases: Vec<String>,
    /// The event that last changed the row.
    pub last_event_id: String,
    /// Source time of that event.
    pub updated_at: DateTime<Utc>,
}

/// One hold (or rejected hold request) and where it ended up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HoldRow {
    /// The tenant.
    pub tenant_id: String,
    /// The hold.
    pub hold_id: String,
    /// Material of its pool.
    pub material: String,
    /// Color of its pool.
    pub color: String,
    /// The order it belongs to.
    pub order_id: String,
    /// The order line it belongs to.
    pub line_id: String,
    /// Held meters (requested meters when REJECTED).
    pub meters: Decimal,
    /// HELD, COMMITTED, RELEASED, EXPIRED or REJECTED.
    pub status: String,
    /// Per-batch allocations as JSON (decimals as strings).
    pub allocations: serde_json::Value,
    /// When the hold lapses (HELD holds).
    pub expires_at: Option<DateTime<Utc>>,
    /// Why it was released or rejected.
    pub reason: Option<String>,
    /// The event that last changed the row.
    pub last_event_id: String,
    /// Source time of that event.
    pub updated_at: DateTime<Utc>,
}

/// A sink's stored position in one partition (the source of truth for where the sink resumes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SinkOffsetRow {
    /// Sink name from topology.toml.
    pub sink: String,
    /// Full topic name.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Next offset to apply.
    pub next_offset: i64,
}

/// Every stock batch of `tenant`, ordered by pool then FIFO (received_at, batch_id).
pub async fn stock_batches(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<StockBatchRow>> {
    sqlx::query_as::<_, StockBatchRow>(
        "SELECT tenant_id, material, color, batch_id, dye_lot, rolls, meters_per_roll, loose_meters, held_meters, \
         available_meters, price_per_meter, received_at, last_event_id, updated_at \
         FROM stock_batches WHERE tenant_id = $1 ORDER BY material, color, received_at, batch_id",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading stock_batches of tenant {tenant}"))
}

/// Every pool of `tenant`, ordered by material and color.
pub async fn pools(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<StockPoolRow>> {
    sqlx::query_as::<_, StockPoolRow>(
        "SELECT tenant_id, material, color, on_hand_meters, held_meters, available_meters, price_per_meter, aliases, last_event_id, updated_at \
         FROM stock_pools WHERE tenant_id = $1 ORDER BY material, color",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading stock_pools of tenant {tenant}"))
}

/// Every hold of `tenant`, ordered by hold id.
pub async fn holds(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<HoldRow>> {
    sqlx::query_as::<_, HoldRow>(
        "SELECT tenant_id, hold_id, material, color, order_id, line_id, meters, status, allocations, expires_at, \
         reason, last_event_id, updated_at FROM holds WHERE tenant_id = $1 ORDER BY hold_id",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading holds of tenant {tenant}"))
}

/// The stored offsets of `sink` (for tests and operators).
pub async fn sink_offsets(pool: &PgPool, sink: &str) -> anyhow::Result<Vec<SinkOffsetRow>> {
    sqlx::query_as::<_, SinkOffsetRow>("SELECT sink, topic, partition, next_offset FROM sink_offsets WHERE sink = $1 ORDER BY topic, partition")
        .bind(sink)
        .fetch_all(pool)
        .await
        .with_context(|| format!("reading sink_offsets of sink {sink}"))
}
