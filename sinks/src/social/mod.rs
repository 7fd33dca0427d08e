//! The `social-dispatcher` sink (rules IB6, docs/rules/inbox.md): sends every
//! `SocialSendRequested` of `social.outbound` once — Instagram's `POST /{version}/me/messages`
//! with the page's token, WhatsApp's `/{phone_number_id}/messages` with the tenant's — opening the
//! recipient and the text with the key ring, in order per conversation, and reports what happened
//! as a `SocialSendResult` on `social.inputs`. A connection's rolling-hour budget (Instagram: the
//! connection's `calls_per_hour`, 200 by default) is never exceeded: a reply over it is
//! reported `throttled` (with when it will go) and held back — its partition waits at it, later
//! replies of the conversation behind it — until the budget has room; nothing is dropped. Outages
//! and the platform's own rate limits are retried with backoff; permanent refusals fail the reply.

pub mod dispatcher;
pub mod ledger;

pub use dispatcher::{SocialDispatcher, SocialDispatcherOptions, SocialDispatcherSettings};

use crate::postgres::{sink_settings, PostgresSink};
use anyhow::Context;
use souk_runtime::codec::Codec;
use souk_runtime::privacy::KeyRing;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::{Role, Topology};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;

/// Runs sink `sink_name` (`social-dispatcher` in topology.toml) until `shutdown` turns true.
#[allow(clippy::too_many_arguments)]
pub async fn run_social_dispatcher(
    topology: &Topology,
    sink_name: &str,
    bootstrap: &str,
    codec: Arc<Codec>,
    pool: PgPool,
    tenants: Arc<Tenants>,
    ring: Arc<KeyRing>,
    settings: SocialDispatcherSettings,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let spec = topology.component(Role::Sink, sink_name)?;
    let results = spec.output("results")?;
    let producer = souk_runtime::kafka::producer(bootstrap).context("social dispatcher producer")?;
    let mut loop_settings = sink_settings(bootstrap);
    loop_settings.batch_size = crate::whatsapp::BATCH_SIZE;
    let dispatcher = SocialDispatcher::new(sink_name, results, codec.clone(), pool.clone(), tenants, ring, settings, producer)?;
    let sink = PostgresSink::new(dispatcher, spec, codec, pool, loop_settings)?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}
