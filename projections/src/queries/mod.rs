//! Typed, tenant-scoped reads of the commerce read models (`migrations/0003_commerce.sql`), of
//! multi-vendor orchestration (`migrations/0008_orchestration.sql`) and of its checkouts
//! (`migrations/0012_checkouts.sql`) and of the social inbox (`migrations/0013_social.sql`), shared
//! by the read API, the demo and the tests so the SQL lives in one place. Every function takes the
//! tenant and filters on it: nothing here can read another tenant's rows.

mod activity;
mod billing;
mod checkouts;
mod intents;
mod orchestration;
mod orders;
pub mod products;
pub mod rules;
mod social;

pub use activity::*;
pub use billing::*;
pub use checkouts::*;
pub use intents::*;
pub use orchestration::*;
pub use orders::*;
pub use social::*;

use serde::Serialize;

/// Page size of list reads when the caller names none.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a caller may ask for.
pub const MAX_LIMIT: i64 = 500;

/// Clamps a requested page size into `1..=MAX_LIMIT` (default `DEFAULT_LIMIT`).
pub fn clamp_limit(limit: Option<i64>) -> i64 {
    limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)
}

/// The owner's stock screen: every pool's totals and every batch (FIFO order within a pool).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stock {
    /// Pool totals, by material and color.
    pub pools: Vec<crate::StockPoolRow>,
    /// Batches, by pool then FIFO.
    pub batches: Vec<crate::StockBatchRow>,
}

/// The stock of `tenant` (the inventory projection's `stock_pools` and `stock_batches`).
pub async fn stock(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Stock> {
    Ok(Stock { pools: crate::pools(&mut *db, tenant).await?, batches: crate::stock_batches(&mut *db, tenant).await? })
}
