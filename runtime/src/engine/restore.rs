//! Rebuilding one partition's store from its changelog before any input of that partition is
//! processed, and catching a kept store up with what other owners wrote meanwhile.
//!
//! The changelog is read `read_committed` up to its end (the last stable offset: records of an
//! open or aborted transaction are never taken). Per key the record written at the highest input
//! position wins, not the last one: a zombie's late write of an older state cannot roll a key
//! back. The clock is the stream-time marker at the highest position; markers are written only
//! once every key record of their batch is durable, so the restored clock is never ahead of a key.

use crate::codec::Codec;
use crate::kafka::committed_reader;
use crate::metrics::Metrics;
use crate::store::{KeyEntry, PartitionStore, Position, STREAM_TIME_KEY};
use anyhow::{bail, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

fn position_json(position: &Position) -> Json {
    Json::Object(position.iter().map(|(t, o)| (t.clone(), json!(o))).collect::<Map<_, _>>())
}

fn parse_offsets(v: &Json) -> BTreeMap<String, i64> {
    v.as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_i64()?))).collect()
}

/// The changelog value of one key (`souk.runtime.StoreRecord`) as JSON, written at `position`.
pub fn store_record_json<S: serde::Serialize>(key: &str, entry: &KeyEntry<S>, stream_time: i64, position: &Position) -> anyhow::Result<Json> {
    Ok(json!({
        "key": key,
        "state_json": serde_json::to_string(&entry.state)?,
        "timers": entry.timers.iter().map(|(id, at)| json!({"id": id, "fire_at": at})).collect::<Vec<_>>(),
        "applied_offsets": position_json(&entry.applied_offsets),
        "recent_event_ids": entry.recent_event_ids,
        "stream_time": stream_time.max(0),
        "input_position": position_json(position),
    }))
}

/// The changelog value of a partition's stream-time marker, written at `position`.
pub fn stream_time_json(stream_time: i64, position: &Position) -> Json {
    json!({"key": STREAM_TIME_KEY, "state_json": "null", "timers": [], "applied_offsets": {}, "recent_event_ids": [], "stream_time": stream_time.max(0), "input_position": position_json(position)})
}

/// Parses a changelog value back into a key entry and the position it was written at.
pub fn parse_store_record<S: DeserializeOwned>(json: &Json) -> anyhow::Result<(String, KeyEntry<S>, Position)> {
    let key = json["key"].as_str().context("store record without key")?.to_string();
    let state: S = serde_json::from_str(json["state_json"].as_str().context("store record without state_json")?).with_context(|| format!("state of {key} does not fit this processor's state type"))?;
    let timers: BTreeMap<String, i64> = json["timers"].as_array().into_iter().flatten().filter_map(|t| Some((t["id"].as_str()?.to_string(), t["fire_at"].as_i64()?))).collect();
    let applied_offsets = parse_offsets(&json["applied_offsets"]);
    let recent_event_ids: VecDeque<String> = json["recent_event_ids"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
    let position = parse_offsets(&json["input_position"]);
    Ok((key, KeyEntry { state, timers, applied_offsets, recent_event_ids }, position))
}

/// Where a changelog partition was read to, and how much was read.
#[derive(Debug, Clone, Copy)]
pub struct RestoreReport {
    /// The next changelog offset after what was read (a later catch-up starts here).
    pub next_offset: i64,
    /// Records read.
    pub records: u64,
    /// Records ignored because a record written at a higher position was already loaded.
    pub stale: u64,
}

/// Reads changelog partition `partition` from `from` (the beginning for a fresh store) to its
/// current end into `store`, then ends the restore.
pub async fn restore_into<S: DeserializeOwned + Clone + Default>(
    bootstrap: &str,
    changelog: &str,
    partition: i32,
    from: Option<i64>,
    store: &mut PartitionStore<S>,
    codec: &Codec,
    deadline: Duration,
) -> anyhow::Result<RestoreReport> {
    let started = Instant::now();
    let consumer: StreamConsumer = committed_reader(bootstrap, &format!("{changelog}.restore")).create().context("restore consumer")?;
    let (low, high) = tokio::task::block_in_place(|| consumer.fetch_watermarks(changelog, partition, Duration::from_secs(10))).with_context(|| format!("watermarks of {changelog}[{partition}]"))?;
    let start = from.unwrap_or(low).max(low);
    let mut report = RestoreReport { next_offset: start, records: 0, stale: 0 };
    if high > start {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(changelog, partition, Offset::Offset(start))?;
        consumer.assign(&tpl)?;
        loop {
            if started.elapsed() > deadline {
                bail!("restore of {changelog}[{partition}] did not reach its end within {deadline:?} (at {})", report.next_offset);
            }
            let msg = match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
                Err(_) => continue,
                Ok(Err(KafkaError::PartitionEOF(_))) => break,
                Ok(m) => m.with_context(|| format!("reading {changelog}[{partition}]"))?,
            };
            report.next_offset = msg.offset() + 1;
            report.records += 1;
            let Some(bytes) = msg.payload() else {
                if let Some(key) = msg.key() {
                    store.restore_tombstone(&String::from_utf8_lossy(key));
                }
                continue;
            };
            let json = codec.decode_json(bytes).await.with_context(|| format!("changelog record {changelog}[{partition}]@{}", msg.offset()))?;
            if json["key"].as_str() == Some(STREAM_TIME_KEY) {
                store.restore_stream_time(json["stream_time"].as_i64().unwrap_or(i64::MIN), parse_offsets(&json["input_position"]));
                continue;
            }
            let (key, entry, position) = parse_store_record::<S>(&json)?;
            if !store.restore(key, entry, position) {
                report.stale += 1;
            }
        }
        // Transaction markers occupy offsets without being delivered: continue after the end.
        let position = tokio::task::block_in_place(|| consumer.position()).ok().and_then(|tpl| tpl.find_partition(changelog, partition).and_then(|e| e.offset().to_raw()));
        report.next_offset = report.next_offset.max(position.unwrap_or(report.next_offset));
    }
    store.finish_restore();
    Ok(report)
}

/// Rebuilds a fresh store for `partition` from its whole changelog (logged, with metrics).
pub async fn restore_partition<S: DeserializeOwned + Clone + Default>(
    bootstrap: &str,
    changelog: &str,
    partition: i32,
    codec: &Codec,
    processor: &str,
    deadline: Duration,
) -> anyhow::Result<(PartitionStore<S>, RestoreReport)> {
    let started = Instant::now();
    let mut store = PartitionStore::default();
    let report = restore_into(bootstrap, changelog, partition, None, &mut store, codec, deadline).await?;
    let keys = store.entries().len();
    let took = started.elapsed();
    let m = Metrics::global();
    m.restored_keys.with_label_values(&[processor]).inc_by(keys as u64);
    m.restore_seconds.with_label_values(&[processor]).observe(took.as_secs_f64());
    tracing::info!(processor, changelog, partition, records = report.records, stale = report.stale, keys, took_ms = took.as_millis() as u64, "store restored from changelog");
    Ok((store, report))
}
