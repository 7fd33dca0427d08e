//! The clock ticker: a producer that writes a `souk.clock.Tick` into every partition of every
//! timer-driven topic at a fixed interval. It is where the wall clock enters the processors (the
//! gateway also stamps what it receives, the dispatcher times its retries): processors see time
//! only through events, so replays fire the same timers.

use crate::codec::Codec;
use crate::kafka::{make_headers, send_all, OutRecord};
use rdkafka::producer::FutureProducer;
use serde_json::json;
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Key of tick records (ticks are addressed by partition, not by key).
pub const TICK_KEY: &str = "*|tick";

/// The JSON of one tick for `topic`/`partition` at `now_ms` (the id is derived from all three).
pub fn tick_json(topic: &str, partition: i32, now_ms: i64) -> serde_json::Value {
    let id = uuid::Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("tick/{topic}/{partition}/{now_ms}").as_bytes()).to_string();
    json!({"Tick": {"envelope": {"event_id": id, "tenant_id": souk_schemas::clock::ANY_TENANT, "occurred_at": now_ms, "causation_id": null, "correlation_id": id}, "partition": partition}})
}

/// Produces one tick into every partition of `topics` at time `now_ms`.
pub async fn tick_once(producer: &FutureProducer, codec: &Codec, topics: &[(String, i32)], now_ms: i64) -> anyhow::Result<()> {
    let mut records = Vec::new();
    for (topic, partitions) in topics {
        for p in 0..*partitions {
            let payload = codec.encode_json(topic, &tick_json(topic, p, now_ms)).await?;
            records.push(OutRecord { topic: topic.clone(), partition: Some(p), key: Some(TICK_KEY.into()), payload: Some(payload), headers: make_headers(&[]) });
        }
    }
    send_all(producer, records).await.map(drop)
}

/// Ticks every `interval` until `shutdown` turns true.
pub async fn run(producer: FutureProducer, codec: Arc<Codec>, topics: Vec<(String, i32)>, interval: Duration, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let mut every = tokio::time::interval(interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = shutdown.changed() => return Ok(()),
        }
        if *shutdown.borrow() {
            return Ok(());
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default();
        if let Err(e) = tick_once(&producer, &codec, &topics, now).await {
            tracing::warn!(error = format!("{e:#}"), "tick failed; will tick again");
        }
    }
}
