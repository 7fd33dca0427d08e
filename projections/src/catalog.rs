//! The tenant's sellable catalog as the NLU needs it: one row per (material, color) pool with its
//! availability, price, aliases and roll length. souk-projections must not depend on the
//! processors, so this returns plain rows; callers convert them into the extractor's catalog.

use anyhow::Context;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::PgPool;

/// One pool of the catalog snapshot, exactly what `souk intent` and the intent stage match against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CatalogRow {
    /// Material of the pool.
    pub material: String,
    /// Color of the pool.
    pub color: String,
    /// Other names customers use for the material (from `StockLevelChanged.aliases`).
    pub aliases: Vec<String>,
    /// Meters free to hold right now.
    pub available_meters: Decimal,
    /// The pool's catalog price (A4), else the FIFO-first batch's price, when any.
    pub price_per_meter: Option<Decimal>,
    /// Roll length of the FIFO-first batch that still has stock (else of the FIFO-first batch),
    /// which is the batch an order in rolls would be cut from.
    pub meters_per_roll: Option<Decimal>,
}

/// Every pool of `tenant` with its catalog fields, ordered by material and color.
pub async fn load_tenant_catalog(pool: &PgPool, tenant: &str) -> anyhow::Result<Vec<CatalogRow>> {
    sqlx::query_as::<_, CatalogRow>(
        "SELECT p.material, p.color, p.aliases, p.available_meters, \
         COALESCE(p.price_per_meter, fb.price_per_meter) AS price_per_meter, fb.meters_per_roll \
         FROM stock_pools p \
         LEFT JOIN LATERAL (SELECT b.meters_per_roll, b.price_per_meter FROM stock_batches b \
           WHERE b.tenant_id = p.tenant_id AND b.material = p.material AND b.color = p.color \
           ORDER BY (b.available_meters > 0) DESC, b.received_at, b.batch_id LIMIT 1) fb ON true \
         WHERE p.tenant_id = $1 ORDER BY p.material, p.color",
    )
    .bind(tenant)
    .fetch_all(pool)
    .await
    .with_context(|| format!("reading the catalog of tenant {tenant}"))
}
