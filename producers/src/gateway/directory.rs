//! Which customer an order belongs to. Owner commands name an order, but the order-session
//! processor is keyed by customer, so the gateway finds the customer before publishing an
//! `OwnerDecision` to the right key — from the log: the order sessions write every order's latest
//! snapshot under `<tenant>|<order id>` to the compacted `orders.directory` topic, which the
//! gateway keeps as a global table (never the orders read model, whose lag would decide).

use futures::future::BoxFuture;
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::topology::SourceTopic;
use souk_schemas::key::OrderKey;
use souk_schemas::orders::OrderEvent;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Looks up an order's customer (wa_id) within a tenant; `Ok(None)` when the order is unknown.
/// Boxed future so the gateway can hold any implementation as `Arc<dyn OrderDirectory>`.
pub trait OrderDirectory: Send + Sync {
    /// The customer of `order_id` in `tenant`, if the order exists.
    fn customer_of<'a>(&'a self, tenant: &'a str, order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
}

/// Longest wait for the directory to catch up with its topic (then the command answers 503).
const CATCH_UP: Duration = Duration::from_secs(10);

/// The directory as a global table of `orders.directory` (key `<tenant>|<order id>`).
pub struct LogOrderDirectory {
    table: GlobalTable<OrderEvent, String>,
}

impl LogOrderDirectory {
    /// Loads the table of `topic` (the gateway's `tables` entry) from the beginning.
    pub async fn load(bootstrap: &str, codec: Arc<Codec>, topic: &SourceTopic) -> anyhow::Result<LogOrderDirectory> {
        let fold = Box::new(|rows: &mut HashMap<String, String>, key: &str, event: OrderEvent| {
            if let (OrderEvent::OrderUpdated(order), Ok(_)) = (event, OrderKey::parse(key)) {
                rows.insert(key.to_string(), order.customer);
            }
        });
        Ok(LogOrderDirectory { table: GlobalTable::of(bootstrap, codec, topic, fold, Duration::from_secs(60)).await? })
    }
}

impl OrderDirectory for LogOrderDirectory {
    /// Catches the table up first: an order whose snapshot was committed before the command is found.
    fn customer_of<'a>(&'a self, tenant: &'a str, order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async move {
            self.table.catch_up(CATCH_UP).await?;
            Ok(self.table.read(|rows| rows.get(&OrderKey::of(tenant, order_id)).cloned()))
        })
    }
}

/// No directory: every lookup fails (the command answers 503). For a gateway that serves only the
/// webhook, and for harnesses whose requests are refused before any lookup.
pub struct NoOrderDirectory;

impl OrderDirectory for NoOrderDirectory {
    fn customer_of<'a>(&'a self, _tenant: &'a str, _order_id: &'a str) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        Box::pin(async { anyhow::bail!("this gateway has no order directory") })
    }
}
