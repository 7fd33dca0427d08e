//! Kafka client wiring shared by processors, sinks, the ticker and the CLI: producer and consumer
//! settings that the exactly-once-effects protocol relies on, provenance headers, and a simple
//! consumer context that records rebalances.

use crate::admin::client_config;
use rdkafka::consumer::{BaseConsumer, ConsumerContext, Rebalance};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::FutureProducer;
use rdkafka::ClientContext;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Header names carried by every record souk produces.
pub mod headers {
    /// The event's id (consumers outside souk dedup by it).
    pub const EVENT_ID: &str = "souk-event-id";
    /// Its correlation id (trace).
    pub const CORRELATION_ID: &str = "souk-correlation-id";
    /// Its cause.
    pub const CAUSATION_ID: &str = "souk-causation-id";
    /// DLQ provenance: source topic.
    pub const SOURCE_TOPIC: &str = "souk-source-topic";
    /// DLQ provenance: source partition.
    pub const SOURCE_PARTITION: &str = "souk-source-partition";
    /// DLQ provenance: source offset.
    pub const SOURCE_OFFSET: &str = "souk-source-offset";
    /// DLQ provenance: why it was dead-lettered.
    pub const ERROR: &str = "souk-error";
    /// DLQ provenance: which component refused it.
    pub const COMPONENT: &str = "souk-component";
}

/// An idempotent, acks=all producer using Kafka's Java-compatible murmur2 partitioner (the test
/// driver uses the same function, see `partitioner`).
pub fn producer(bootstrap: &str) -> anyhow::Result<FutureProducer> {
    Ok(client_config(bootstrap).set("enable.idempotence", "true").set("acks", "all").set("partitioner", "murmur2_random").set("linger.ms", "5").set("message.timeout.ms", "30000").create()?)
}

/// Settings of a consumer that reads only committed data (`read_committed`: records of open or
/// aborted transactions are never delivered), commits nothing on its own and reports the end of
/// a partition (`PartitionEOF`), for readers that must know when they reached the end: restore,
/// tests, `souk consume`. With transactions the last offsets of a partition can be commit markers
/// that are never delivered, so "offset + 1 = high watermark" cannot tell the end.
pub fn committed_reader(bootstrap: &str, group: &str) -> rdkafka::ClientConfig {
    let mut c = client_config(bootstrap);
    c.set("group.id", group).set("isolation.level", "read_committed").set("enable.auto.commit", "false").set("enable.partition.eof", "true");
    c
}

/// Whether a `read_committed` reader of `topic[partition]` starting at `offset` would get a
/// record now: `false` when it reaches the end (the last stable offset) first, or nothing arrives
/// within `timeout`. With transactions, offsets past a consumer's position can be commit or abort
/// markers and aborted records, so "committed offset < high watermark" does not mean work is left.
pub fn has_records_from(bootstrap: &str, topic: &str, partition: i32, offset: i64, timeout: std::time::Duration) -> anyhow::Result<bool> {
    use rdkafka::consumer::Consumer;
    let reader: BaseConsumer = committed_reader(bootstrap, "souk-end-probe").create()?;
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition_offset(topic, partition, rdkafka::Offset::Offset(offset))?;
    reader.assign(&tpl)?;
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        match reader.poll(std::time::Duration::from_millis(200)) {
            None => continue,
            Some(Ok(_)) => return Ok(true),
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => return Ok(false),
            Some(Err(e)) => return Err(e.into()),
        }
    }
    Ok(false)
}

/// Settings of a group member of a souk component: `read_committed`, offsets committed only by
/// the component (after its effects are durable), from the beginning when the group is new.
pub fn group_consumer(bootstrap: &str, group: &str) -> rdkafka::ClientConfig {
    let mut c = client_config(bootstrap);
    c.set("group.id", group)
        .set("isolation.level", "read_committed")
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000")
        .set("max.poll.interval.ms", "120000");
    c
}

/// Builds headers from name/value pairs.
pub fn make_headers(pairs: &[(&str, &str)]) -> OwnedHeaders {
    pairs.iter().fold(OwnedHeaders::new(), |h, (k, v)| h.insert(Header { key: k, value: Some(v.as_bytes()) }))
}

/// Reads a string header.
pub fn header_value<H: Headers>(headers: Option<&H>, name: &str) -> Option<String> {
    headers?.iter().find(|h| h.key == name).and_then(|h| h.value).map(|v| String::from_utf8_lossy(v).into_owned())
}

/// Records revoked and assigned partitions; callbacks run only while the consumer is polled, i.e.
/// between batches, so a batch in progress always finishes (outputs, changelog, commit) first.
#[derive(Default)]
pub struct RebalanceTracker {
    /// Partitions revoked since the last drain.
    pub revoked: Mutex<BTreeSet<(String, i32)>>,
    /// Partitions assigned since the last drain.
    pub assigned: Mutex<BTreeSet<(String, i32)>>,
    /// Name for logs.
    pub component: String,
    /// Rebalance callbacks seen so far (a change tells a caller that polled meanwhile that its
    /// assignment may have moved).
    pub rebalances: AtomicU64,
}

impl ClientContext for RebalanceTracker {}

impl ConsumerContext for RebalanceTracker {
    fn pre_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        if let Rebalance::Revoke(tpl) = rebalance {
            let parts: Vec<_> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
            tracing::info!(component = %self.component, ?parts, "partitions revoked");
            if let Ok(mut r) = self.revoked.lock() {
                r.extend(parts);
            }
        }
    }
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.rebalances.fetch_add(1, Ordering::Relaxed);
        if let Rebalance::Assign(tpl) = rebalance {
            let parts: Vec<_> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
            tracing::info!(component = %self.component, ?parts, "partitions assigned");
            if let Ok(mut a) = self.assigned.lock() {
                a.extend(parts);
            }
        }
    }
}

/// One record to produce.
#[derive(Debug, Clone)]
pub struct OutRecord {
    /// Destination topic.
    pub topic: String,
    /// Explicit partition (changelogs, ticks); `None` lets the murmur2 partitioner choose by key.
    pub partition: Option<i32>,
    /// Record key.
    pub key: Option<String>,
    /// Record value (`None` is a tombstone).
    pub payload: Option<Vec<u8>>,
    /// Headers (trace ids, provenance).
    pub headers: OwnedHeaders,
}

impl OutRecord {
    /// The record of event `envelope` for `topic` under `key` (the partitioner picks the
    /// partition), with the event's trace headers.
    pub fn event(topic: &str, key: &str, payload: Vec<u8>, envelope: &souk_schemas::Envelope) -> OutRecord {
        OutRecord { topic: topic.to_string(), partition: None, key: Some(key.to_string()), payload: Some(payload), headers: trace_headers(envelope) }
    }
}

/// The trace headers every record souk produces for an event carries: its id, correlation id and
/// cause (empty for an event from outside), so consumers outside souk can trace and dedup by them.
pub fn trace_headers(envelope: &souk_schemas::Envelope) -> OwnedHeaders {
    make_headers(&[(headers::EVENT_ID, &envelope.event_id), (headers::CORRELATION_ID, &envelope.correlation_id), (headers::CAUSATION_ID, envelope.causation_id.as_deref().unwrap_or(""))])
}

/// Produces every record, in order, and waits until the broker acknowledged all of them; returns
/// each record's (partition, offset) in order. Any failure fails the whole call (the caller
/// retries the batch from durable state).
pub async fn send_all(producer: &FutureProducer, records: Vec<OutRecord>) -> anyhow::Result<Vec<(i32, i64)>> {
    use rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use rdkafka::producer::FutureRecord;
    let mut pending = Vec::with_capacity(records.len());
    let mut done = Vec::with_capacity(records.len());
    for r in &records {
        loop {
            let mut fr: FutureRecord<'_, String, Vec<u8>> = FutureRecord::to(&r.topic).headers(r.headers.clone());
            if let Some(k) = &r.key {
                fr = fr.key(k);
            }
            if let Some(p) = &r.payload {
                fr = fr.payload(p);
            }
            if let Some(p) = r.partition {
                fr = fr.partition(p);
            }
            match producer.send_result(fr) {
                Ok(f) => {
                    pending.push(f);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    // Let deliveries drain before queueing more.
                    if let Some(f) = pending.first_mut() {
                        let delivered = f.await.map_err(|_| anyhow::anyhow!("delivery cancelled"))?.map_err(|(e, _)| anyhow::anyhow!("produce to {}: {e}", r.topic))?;
                        done.push((delivered.partition, delivered.offset));
                        pending.remove(0);
                    } else {
                        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    }
                }
                Err((e, _)) => anyhow::bail!("produce to {}: {e}", r.topic),
            }
        }
    }
    for f in futures::future::join_all(pending).await {
        let delivered = f.map_err(|_| anyhow::anyhow!("delivery cancelled"))?.map_err(|(e, m)| anyhow::anyhow!("produce: {e} ({:?})", rdkafka::Message::topic(&m)))?;
        done.push((delivered.partition, delivered.offset));
    }
    Ok(done)
}

/// Waits up to a second for a first record, then gathers more for at most `wait` or until `max`
/// records: one batch of the consume → process → produce → commit loop. Consumer errors end the
/// batch early (they are logged; librdkafka recovers on its own or the liveness check steps in).
pub async fn collect_batch<C: ConsumerContext + 'static>(consumer: &rdkafka::consumer::StreamConsumer<C>, max: usize, wait: std::time::Duration) -> Vec<rdkafka::message::OwnedMessage> {
    collect_batch_within(consumer, max, std::time::Duration::from_secs(1), wait).await
}

/// [`collect_batch`] waiting at most `first` for the first record (a loop with something due
/// sooner than a second — a paused partition to resume — comes back in time; cancelling a
/// collect instead would lose the records it already took).
pub async fn collect_batch_within<C: ConsumerContext + 'static>(
    consumer: &rdkafka::consumer::StreamConsumer<C>,
    max: usize,
    first: std::time::Duration,
    wait: std::time::Duration,
) -> Vec<rdkafka::message::OwnedMessage> {
    let mut batch = Vec::new();
    match tokio::time::timeout(first, consumer.recv()).await {
        Err(_) => return batch,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "consumer error");
            return batch;
        }
        Ok(Ok(m)) => batch.push(m.detach()),
    }
    let deadline = tokio::time::Instant::now() + wait;
    while batch.len() < max {
        match tokio::time::timeout_at(deadline, consumer.recv()).await {
            Ok(Ok(m)) => batch.push(m.detach()),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "consumer error");
                break;
            }
            Err(_) => break,
        }
    }
    batch
}
