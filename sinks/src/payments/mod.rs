//! The `payments-dispatcher` sink (kind `payments-dispatcher`): makes the calls the checkout saga
//! asks of the payment provider (a Stripe-compatible API) — authorise, capture, void, refund,
//! transfer, charge, one `PaymentCommand` each on `payments.commands` — once each, with the
//! tenant's secret key and the command id as `Idempotency-Key`, retrying outages in order per
//! bundle and never giving up, and answers each with a `PaymentResult` on `negotiation.inputs`
//! (docs/rules/checkout.md). `stripe` is the API (calls, minor units, answers), `dispatcher` the
//! sink; `recording` is a local Stripe stand-in for tests and the demo.

pub mod dispatcher;
pub mod recording;
pub mod stripe;

pub use dispatcher::{result_of, PaymentsDispatcher, PaymentsTopics};
pub use recording::{RecordingStripe, StripeRequest};
pub use stripe::{Answer, PaymentsOptions, PaymentsSettings};

use crate::postgres::{sink_settings, PostgresSink};
use anyhow::Context;
use souk_runtime::codec::Codec;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::{Role, Topology};
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;

/// Records per batch transaction: the transaction holds the partitions' offset row locks while
/// it calls the provider, so batches stay small.
pub const BATCH_SIZE: usize = 20;

/// Runs sink `sink_name` (`payments-dispatcher` in topology.toml) until `shutdown` turns true,
/// on the Postgres sink runner (several instances may share the group; the offset row locks
/// fence them); `pool` must be migrated (`souk_projections::connect`).
#[allow(clippy::too_many_arguments)]
pub async fn run_payments_dispatcher(
    topology: &Topology,
    sink_name: &str,
    bootstrap: &str,
    codec: Arc<Codec>,
    pool: PgPool,
    tenants: Arc<Tenants>,
    settings: PaymentsSettings,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let spec = topology.component(Role::Sink, sink_name)?;
    let topics = PaymentsTopics { sink: sink_name.to_string(), results: spec.output("results")? };
    let producer = souk_runtime::kafka::producer(bootstrap).context("payments dispatcher producer")?;
    let mut loop_settings = sink_settings(bootstrap);
    loop_settings.batch_size = BATCH_SIZE;
    loop_settings.liveness_after = settings.liveness_after;
    let dispatcher = PaymentsDispatcher::new(topics, codec.clone(), tenants, settings, producer, shutdown.clone())?;
    let sink = PostgresSink::new(dispatcher, spec, codec, pool, loop_settings)?;
    sink.run(shutdown).await.with_context(|| format!("sink {sink_name}"))
}
