//! The `whatsapp-dispatcher` sink (kind `http`): sends every `OutboundMessageRequested` of
//! `whatsapp.outbound` through the WhatsApp Cloud API once, with the tenant's access token, in
//! order per customer, and writes what happened back to the log — `OutboundDispatched` /
//! `OutboundFailed` on `whatsapp.status`, an `EscalationRaised` (OUTSIDE_WINDOW for Meta 131047,
//! DELIVERY_UNCONFIRMED when it may have been delivered, else DELIVERY_FAILED) on `escalations` —
//! so the conversation and the owner learn about it (DECISIONS C3, B7). It also reads Meta's
//! statuses from `whatsapp.status`: their callback data settles a send whose answer was lost.
//! Outages are waited out (backoff, in order) for the request's delivery window.
//! `recording` is a local Cloud API stand-in for tests and the demo.

pub mod cloud_api;
pub mod dispatcher;
pub mod ledger;
pub mod plan;
pub mod recording;

pub use cloud_api::DispatcherSettings;
pub use dispatcher::{DispatcherInput, DispatcherTopics, WhatsAppDispatcher};
pub use recording::{RecordedRequest, RecordingWhatsApp, ScriptedFailure};

use crate::postgres::{PostgresSink, SinkSettings, SinkSpec};
use anyhow::{anyhow, Context};
use souk_runtime::codec::Codec;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::Topology;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;

/// Records per batch transaction: the transaction holds the partitions' offset row locks while
/// it sends, so batches stay small.
pub const BATCH_SIZE: usize = 20;

/// Runs sink `sink_name` (`whatsapp-dispatcher` in topology.toml) until `shutdown` turns true:
/// migrates the ledger tables, then dispatches with the Postgres sink runner (several instances
/// may share the group; the offset row locks fence them).
#[allow(clippy::too_many_arguments)]
pub async fn run_whatsapp_dispatcher(
    topology: &Topology,
    sink_name: &str,
    bootstrap: &str,
    codec: Arc<Codec>,
    pool: PgPool,
    tenants: Arc<Tenants>,
    settings: DispatcherSettings,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    souk_projections::migrate(&pool).await.context("migrating the projection schema")?;
    let decl = topology.sinks.get(sink_name).ok_or_else(|| anyhow!("sink {sink_name} is not declared in topology.toml"))?;
    anyhow::ensure!(decl.kind == "http", "sink {sink_name} is of kind {}, not http", decl.kind);
    let output = |name: &str| decl.outputs.get(name).map(|t| topology.topic(t.get_ref())).ok_or_else(|| anyhow!("sink {sink_name} declares no `{name}` output"));
    let topics = DispatcherTopics { sink: sink_name.to_string(), status: output("status")?, escalations: output("escalations")?, dlq: topology.dlq_topic(sink_name) };
    let spec = SinkSpec { name: sink_name.to_string(), inputs: decl.inputs.iter().map(|i| topology.topic(i.get_ref())).collect(), dlq: topics.dlq.clone(), group_id: topology.group_id(sink_name) };
    let producer = souk_runtime::kafka::producer(bootstrap).context("dispatcher producer")?;
    let mut sink_settings = SinkSettings::new(bootstrap);
    sink_settings.batch_size = BATCH_SIZE;
    sink_settings.liveness_after = settings.liveness_after;
    let dispatcher = WhatsAppDispatcher::new(topics, codec.clone(), pool.clone(), tenants, settings, producer, shutdown.clone())?;
    let sink = PostgresSink::new(dispatcher, spec, codec, pool, sink_settings)?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}
