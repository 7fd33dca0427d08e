//! The Postgres sink (ARCHITECTURE.md, "Sinks"): a generic runner that applies each batch and its offsets
//! in one SQL transaction, and the inventory projection that `souk run` starts as
//! `inventory-postgres`.
//!
//! Assignment: instances share the consumer group `Topology::group_id(sink)` (subscribe, so several
//! instances split the partitions), and the rebalance hook assigns each partition at the offset
//! stored in `sink_offsets` — Kafka's group offsets are only informational. Each transaction also
//! locks the offset rows it advances and skips records below them, so even two instances briefly
//! owning one partition during a rebalance cannot apply a record twice.

pub mod commerce;
pub mod inventory;
pub mod offsets;
pub mod orchestration;
mod outcome;
pub mod products;
pub mod rules;
pub mod runner;
pub mod social;

pub use commerce::{CommerceEvent, CommerceProjection};
pub use inventory::InventoryProjection;
pub use orchestration::{OrchestrationEvent, OrchestrationProjection};
pub use products::ProductProjection;
pub use rules::RuleProjection;
pub use runner::{sink_settings, Deferred, PostgresSink, Projection, SinkRecord};
pub use social::{SocialProjection, SocialReadEvent};

use anyhow::Context;
use souk_runtime::codec::Codec;
use souk_runtime::topology::{Role, Topology};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;

/// Runs the inventory projection as sink `sink_name` (`inventory-postgres` in topology.toml) until
/// `shutdown` turns true, exactly-once in effect; `pool` must be migrated (`souk_projections::connect`).
pub async fn run_inventory_sink(topology: &Topology, sink_name: &str, bootstrap: &str, codec: Arc<Codec>, pool: PgPool, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    run_projection_sink(InventoryProjection, topology, sink_name, bootstrap, codec, pool, shutdown).await
}

/// Runs the commerce projection as sink `sink_name` (`commerce-postgres` in topology.toml) until
/// `shutdown` turns true, exactly-once in effect; `pool` must be migrated (`souk_projections::connect`).
pub async fn run_commerce_sink(topology: &Topology, sink_name: &str, bootstrap: &str, codec: Arc<Codec>, pool: PgPool, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    run_projection_sink(CommerceProjection, topology, sink_name, bootstrap, codec, pool, shutdown).await
}

/// The one way every Postgres sink starts: resolve the sink from the topology, run
/// `projection` with default settings until `shutdown` turns true.
pub async fn run_projection_sink<P: Projection>(
    projection: P,
    topology: &Topology,
    sink_name: &str,
    bootstrap: &str,
    codec: Arc<Codec>,
    pool: PgPool,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let spec = topology.component(Role::Sink, sink_name)?;
    let sink = PostgresSink::new(projection, spec, codec, pool, sink_settings(bootstrap))?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}

/// `INSERT` of `columns` (the table's key columns first, then the rest; `last_event_id`,
/// `updated_at` and `source_offset` among them) that replaces the stored row only when the new one
/// is newer by `(updated_at, source_offset)`.
pub(crate) fn snapshot_upsert(table: &str, keys: &[&str], columns: &[&str]) -> String {
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let set: Vec<String> = columns.iter().filter(|c| !keys.contains(c)).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} \
         WHERE ({table}.updated_at, {table}.source_offset) < (EXCLUDED.updated_at, EXCLUDED.source_offset)",
        columns.join(", "),
        placeholders.join(", "),
        keys.join(", "),
        set.join(", ")
    )
}
