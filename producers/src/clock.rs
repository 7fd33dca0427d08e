//! The clock: a producer that writes a `souk.clock.Tick` into every partition of every
//! timer-driven topic at a fixed interval. It is where the wall clock enters the processors (the
//! gateway also stamps what it receives, the dispatcher times its retries): processors see time
//! only through events, so replays fire the same timers. Started by `souk run` from
//! `[producers.clock]` (kind `clock`).

use rdkafka::producer::FutureProducer;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{make_headers, send_all, OutRecord};
use souk_schemas::clock::{tick_json, TICK_KEY};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

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
