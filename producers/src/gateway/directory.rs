//! Which customer an order belongs to. Owner commands name an order, but the order-session
//! processor is keyed by customer, so the gateway looks the customer up in the read side before
//! publishing an `OwnerDecision` to the right key.

use futures::future::BoxFuture;
use sqlx::PgPool;

/// Looks up an order's customer (wa_id) within a tenant; `Ok(None)` when the order is unknown.
/// Boxed future so the gateway can hold any implementation as `Arc<dyn OrderDirectory>`.
pub trait OrderDirectory: Send + Sync {
    /// The customer of `order_id` in `tenant`, if the order exists.
    fn customer_of<'a>(&'a self, tenant: &'a str, order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
}

/// The Postgres directory: the `orders` projection (`projections/migrations/0003_commerce.sql`).
#[derive(Debug, Clone)]
pub struct PgOrderDirectory {
    pool: PgPool,
}

impl PgOrderDirectory {
    /// A directory on an existing pool (shared with the read API).
    pub fn new(pool: PgPool) -> PgOrderDirectory {
        PgOrderDirectory { pool }
    }

    /// A directory with its own small pool; connections are opened on first use.
    pub fn connect_lazy(url: &str) -> anyhow::Result<PgOrderDirectory> {
        let pool = sqlx::postgres::PgPoolOptions::new().max_connections(4).connect_lazy(url)?;
        Ok(PgOrderDirectory { pool })
    }
}

impl OrderDirectory for PgOrderDirectory {
    fn customer_of<'a>(&'a self, tenant: &'a str, order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            let customer = sqlx::query_scalar::<_, String>("SELECT customer FROM orders WHERE tenant_id = $1 AND order_id = $2").bind(tenant).bind(order_id).fetch_optional(&self.pool).await?;
            Ok(customer)
        })
    }
}
