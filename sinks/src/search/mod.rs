//! The `search-index` sink (kind `search-index`): keeps a tantivy index of each tenant's catalog (one
//! document per material+color from `StockLevelChanged`: dye lots, aliases, price, available
//! meters), of every message in and out (WhatsApp, bundle chats, partners' negotiation replies,
//! notes to the user), and of the orchestration marketplace (partners with their trust, products,
//! ranking weights and promotions) for the owner's search and discovery (`souk_projections::search`,
//! which also defines the schema and ranks).
//!
//! Exactly-once in effect: each record is an upsert keyed by `doc_id`, and the next offset of every
//! input partition is the payload of the tantivy commit that contains its documents; on start the
//! sink assigns every partition at the payload's offsets (Kafka group offsets are informational).
//! **One instance per index directory**: tantivy's writer lock refuses a second writer, and the
//! sink reads all partitions itself instead of sharing a consumer group.

pub mod documents;
pub mod positions;
pub mod sink;
pub mod social;

pub use positions::stored_positions;
pub use sink::{search_settings, SearchSink};

use anyhow::Context;
use souk_runtime::codec::Codec;
use souk_runtime::privacy::KeyRing;
use souk_runtime::topology::{Role, Topology};
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

/// Runs sink `sink_name` (`search-index` in topology.toml) into `index_dir` until `shutdown` turns
/// true.
/// `ring` opens the inbox's sealed texts; required when the sink reads `social.events`.
pub async fn run_search_sink(
    topology: &Topology,
    sink_name: &str,
    bootstrap: &str,
    codec: Arc<Codec>,
    ring: Option<Arc<KeyRing>>,
    index_dir: PathBuf,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let spec = topology.component(Role::Sink, sink_name)?;
    let sink = SearchSink::open(spec, codec, ring, index_dir, search_settings(bootstrap))?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}
