//! The `whatsapp-dispatcher` sink (kind `whatsapp-dispatcher`): sends every `OutboundMessageRequested` of
//! `whatsapp.outbound` through the WhatsApp Cloud API once, with the tenant's access token, in
//! order per customer, and writes what happened back to the log — `OutboundDispatched` /
//! `OutboundFailed` on `whatsapp.status`, an `EscalationRaised` (OUTSIDE_WINDOW for Meta 131047,
//! DELIVERY_UNCONFIRMED when it may have been delivered, else DELIVERY_FAILED) on `escalations` —
//! so the conversation and the owner learn about it (rules C3, B7). It also reads Meta's
//! statuses from `whatsapp.status`: their callback data settles a send whose answer was lost.
//! Outages are waited out (backoff, in order) for the request's delivery window. Nothing is sent
//! to a person without their consent (`consent.rs`): the request fails `NO_OPT_IN` with the reason.
//! `recording` is a local Cloud API stand-in for tests and the demo.

pub mod cloud_api;
pub mod consent;
pub mod dispatcher;
pub mod ledger;
pub mod plan;
pub mod recording;

pub use cloud_api::{DispatcherOptions, DispatcherSettings};
pub use dispatcher::{DispatcherInput, DispatcherTopics, WhatsAppDispatcher};
pub use recording::{RecordedRequest, RecordingWhatsApp, ScriptedFailure};

use crate::postgres::{sink_settings, PostgresSink};
use anyhow::Context;
use souk_runtime::codec::Codec;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::{Role, Topology};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;

/// Records per batch transaction: the transaction holds the partitions' offset row locks while
/// it sends, so batches stay small.
pub const BATCH_SIZE: usize = 20;

/// Runs sink `sink_name` (`whatsapp-dispatcher` in topology.toml) until `shutdown` turns true:
/// dispatches with the Postgres sink runner (several instances
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
    let spec = topology.component(Role::Sink, sink_name)?;
    let topics = DispatcherTopics { sink: sink_name.to_string(), status: spec.output("status")?, escalations: spec.output("escalations")?, dlq: spec.dlq.clone() };
    let producer = souk_runtime::kafka::producer(bootstrap).context("dispatcher producer")?;
    let mut loop_settings = sink_settings(bootstrap);
    loop_settings.batch_size = BATCH_SIZE;
    loop_settings.liveness_after = settings.liveness_after;
    let consents = consent::Consents::load(bootstrap, codec.clone(), spec.table("whatsapp.consent")?).await.context("loading whatsapp.consent")?;
    let dispatcher = WhatsAppDispatcher::new(topics, codec.clone(), pool.clone(), tenants, settings, producer, consents, shutdown.clone())?;
    let sink = PostgresSink::new(dispatcher, spec, codec, pool, loop_settings)?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}
