//! Prometheus metrics of the runtime and the `/metrics` + `/healthz` endpoint.

use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// Every metric souk exports; one process-wide instance.
pub struct Metrics {
    /// The registry they are in.
    pub registry: Registry,
    /// Input records handled, by component, topic and partition (counted by the consume loop).
    pub records_in: IntCounterVec,
    /// Output records produced, by processor and topic.
    pub records_out: IntCounterVec,
    /// Records skipped as already applied (replay after crash) or duplicate event ids.
    pub records_skipped: IntCounterVec,
    /// Outputs produced again while catching up to durable state after a restart.
    pub reemitted_outputs: IntCounterVec,
    /// Batches fully committed (outputs, changelog, offsets).
    pub batch_commits: IntCounterVec,
    /// Records sent to a dead-letter topic.
    pub dlq_records: IntCounterVec,
    /// Consumer lag by component, topic and partition (the liveness probe measures it).
    pub consumer_lag: IntGaugeVec,
    /// Restored keys and restore duration.
    pub restored_keys: IntCounterVec,
    /// Restore time in seconds.
    pub restore_seconds: HistogramVec,
    /// Partitions found with lag but no progress (consumer recreated).
    pub stalls: IntCounterVec,
    /// Batch failures (the batch was retried from durable state).
    pub batch_failures: IntCounterVec,
    /// Negotiations that reached a final status, by status (counted when projected).
    pub negotiation_outcomes: IntCounterVec,
    /// Escalations raised, by kind and priority (counted when projected).
    pub escalations_raised: IntCounterVec,
    /// Re-sourcing outcomes: `recovered` (the leg replaced) or `escalated` (counted when projected).
    pub recoveries: IntCounterVec,
    /// Seconds from a negotiation's opening to its leg replaced, by outcome.
    pub recovery_seconds: HistogramVec,
    healthy: AtomicBool,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition");
    registry.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    fn new() -> Metrics {
        let registry = Registry::new();
        let consumer_lag = IntGaugeVec::new(Opts::new("souk_consumer_lag", "records behind the high watermark"), &["component", "topic", "partition"]).expect("metric");
        registry.register(Box::new(consumer_lag.clone())).expect("unique metric");
        let restore_seconds = HistogramVec::new(HistogramOpts::new("souk_restore_seconds", "time to rebuild a partition's store from its changelog"), &["processor"]).expect("metric");
        registry.register(Box::new(restore_seconds.clone())).expect("unique metric");
        let recovery_seconds = HistogramVec::new(
            HistogramOpts::new("souk_recovery_seconds", "seconds from a negotiation's opening to its leg replaced by re-sourcing").buckets(vec![30.0, 60.0, 300.0, 900.0, 3600.0, 14_400.0, 86_400.0]),
            &["outcome"],
        )
        .expect("metric");
        registry.register(Box::new(recovery_seconds.clone())).expect("unique metric");
        Metrics {
            negotiation_outcomes: counter(&registry, "souk_negotiation_outcomes_total", "negotiations that reached a final status", &["status"]),
            escalations_raised: counter(&registry, "souk_escalations_raised_total", "escalations raised", &["kind", "priority"]),
            recoveries: counter(&registry, "souk_recoveries_total", "re-sourcing outcomes (recovered or escalated)", &["outcome"]),
            recovery_seconds,
            records_in: counter(&registry, "souk_records_in_total", "input records handled", &["component", "topic", "partition"]),
            records_out: counter(&registry, "souk_records_out_total", "output records produced", &["component", "topic"]),
            records_skipped: counter(&registry, "souk_records_skipped_total", "input records skipped as replays or duplicates", &["component", "reason"]),
            reemitted_outputs: counter(&registry, "souk_reemitted_outputs_total", "outputs produced again after a restart (identical ids)", &["component"]),
            batch_commits: counter(&registry, "souk_batch_commits_total", "batches committed", &["component"]),
            dlq_records: counter(&registry, "souk_dlq_records_total", "records sent to the dead-letter topic", &["component"]),
            restored_keys: counter(&registry, "souk_restored_keys_total", "keys restored from changelogs", &["processor"]),
            stalls: counter(&registry, "souk_stalled_partitions_total", "partitions with lag and no progress", &["component"]),
            batch_failures: counter(&registry, "souk_batch_failures_total", "batches that failed and were retried", &["component"]),
            consumer_lag,
            restore_seconds,
            registry,
            healthy: AtomicBool::new(true),
        }
    }

    /// The process-wide metrics.
    pub fn global() -> &'static Metrics {
        static METRICS: OnceLock<Metrics> = OnceLock::new();
        METRICS.get_or_init(Metrics::new)
    }

    /// Marks the process unhealthy (e.g. a component gave up) for `/healthz`.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Serves `/metrics` and `/healthz` on `addr` until the process ends; returns the bound address.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    use axum::{http::StatusCode, routing::get, Router};
    let app = Router::new().route("/metrics", get(|| async { Metrics::global().render() })).route(
        "/healthz",
        get(|| async {
            if Metrics::global().healthy.load(Ordering::Relaxed) {
                (StatusCode::OK, "ok")
            } else {
                (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "metrics server stopped");
        }
    });
    Ok(bound)
}
