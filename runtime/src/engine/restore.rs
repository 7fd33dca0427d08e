//! Rebuilding one partition's store from its changelog (read to the high watermark taken at
//! assignment) before any input of that partition is processed.

use crate::admin::client_config;
use crate::codec::Codec;
use crate::metrics::Metrics;
use crate::store::{KeyEntry, PartitionStore, STREAM_TIME_KEY};
use anyhow::{bail, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde_json::{json, Map, Value as Json};
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// The changelog value of one key (`souk.runtime.StoreRecord`) as JSON.
pub fn store_record_json<S: serde::Serialize>(key: &str, entry: &KeyEntry<S>, stream_time: i64) -> anyhow::Result<Json> {
    Ok(json!({
        "key": key,
        "state_json": serde_json::to_string(&entry.state)?,
        "timers": entry.timers.iter().map(|(id, at)| json!({"id": id, "fire_at": at})).collect::<Vec<_>>(),
        "applied_offsets": Json::Object(entry.applied_offsets.iter().map(|(t, o)| (t.clone(), json!(o))).collect::<Map<_, _>>()),
        "recent_event_ids": entry.recent_event_ids,
        "stream_time": stream_time.max(0),
    }))
}

/// The changelog value of a partition's stream-time marker.
pub fn stream_time_json(stream_time: i64) -> Json {
    json!({"key": STREAM_TIME_KEY, "state_json": "null", "timers": [], "applied_offsets": {}, "recent_event_ids": [], "stream_time": stream_time.max(0)})
}

/// Parses a changelog value back into a key entry and its stream time.
pub fn parse_store_record<S: DeserializeOwned>(json: &Json) -> anyhow::Result<(String, KeyEntry<S>, i64)> {
    let key = json["key"].as_str().context("store record without key")?.to_string();
    let state: S = serde_json::from_str(json["state_json"].as_str().context("store record without state_json")?)
        .with_context(|| format!("state of {key} does not fit this processor's state type"))?;
    let timers: BTreeMap<String, i64> = json["timers"].as_array().into_iter().flatten().filter_map(|t| Some((t["id"].as_str()?.to_string(), t["fire_at"].as_i64()?))).collect();
    let applied_offsets: BTreeMap<String, i64> = json["applied_offsets"].as_object().into_iter().flatten().filter_map(|(k, v)| Some((k.clone(), v.as_i64()?))).collect();
    let recent_event_ids: VecDeque<String> = json["recent_event_ids"].as_array().into_iter().flatten().filter_map(|v| v.as_str().map(str::to_string)).collect();
    let stream_time = json["stream_time"].as_i64().unwrap_or(i64::MIN);
    Ok((key, KeyEntry { state, timers, applied_offsets, recent_event_ids }, stream_time))
}

/// Reads changelog partition `partition` up to its current high watermark into a fresh store.
pub async fn restore_partition<S: DeserializeOwned + Clone + Default>(
    bootstrap: &str,
    changelog: &str,
    partition: i32,
    codec: &Codec,
    processor: &str,
    deadline: Duration,
) -> anyhow::Result<PartitionStore<S>> {
    let started = Instant::now();
    let consumer: StreamConsumer = client_config(bootstrap)
        .set("group.id", format!("{changelog}.restore"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("restore consumer")?;
    let (low, high) = tokio::task::block_in_place(|| consumer.fetch_watermarks(changelog, partition, Duration::from_secs(10)))
        .with_context(|| format!("watermarks of {changelog}[{partition}]"))?;
    let mut store = PartitionStore::default();
    let mut records = 0u64;
    if high > low {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(changelog, partition, Offset::Offset(low))?;
        consumer.assign(&tpl)?;
        let mut next = low;
        while next < high {
            if started.elapsed() > deadline {
                bail!("restore of {changelog}[{partition}] did not reach offset {high} within {deadline:?} (at {next})");
            }
            let msg = match tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await {
                Ok(m) => m.with_context(|| format!("reading {changelog}[{partition}]"))?,
                Err(_) => continue,
            };
            next = msg.offset() + 1;
            records += 1;
            match msg.payload() {
                None => {
                    if let Some(key) = msg.key().map(|k| String::from_utf8_lossy(k).into_owned()) {
                        store.restore(key, KeyEntry::default(), i64::MIN);
                    }
                }
                Some(bytes) => {
                    let json = codec.decode_json(bytes).await.with_context(|| format!("changelog record {changelog}[{partition}]@{}", msg.offset()))?;
                    if json["key"].as_str() == Some(STREAM_TIME_KEY) {
                        store.restore_stream_time(json["stream_time"].as_i64().unwrap_or(i64::MIN));
                        continue;
                    }
                    let (key, entry, stream_time) = parse_store_record::<S>(&json)?;
                    store.restore(key, entry, stream_time);
                }
            }
        }
    }
    let keys = store.entries().len();
    let took = started.elapsed();
    let m = Metrics::global();
    m.restored_keys.with_label_values(&[processor]).inc_by(keys as u64);
    m.restore_seconds.with_label_values(&[processor]).observe(took.as_secs_f64());
    tracing::info!(processor, changelog, partition, records, keys, took_ms = took.as_millis() as u64, "store restored from changelog");
    Ok(store)
}
