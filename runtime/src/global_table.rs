//! A global table (Kafka Streams' GlobalKTable): every partition of a compacted topic, read from
//! the beginning by each instance that needs it and folded into an in-memory map, then followed.
//! It is how state on the write path comes from the log instead of a read model: the intent stage
//! matches messages against the pools' latest levels, the gateway finds an order's customer —
//! both from topics the processors write, never from what a sink projected.
//!
//! [`GlobalTable::catch_up`] is the read barrier: it returns once the table reflects every record
//! committed to the topic when it was called, i.e. once the reader's position has reached each
//! partition's end offset as of the call. The barrier itself drives the reader (records are folded
//! as they are received, so the position never runs ahead of the rows); the position is
//! librdkafka's application position, which also moves past the transaction markers a
//! `read_committed` reader never receives (a partition written with transactions ends with one).

use crate::codec::Codec;
use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a barrier waits for a just-committed transaction's markers to land (see
/// [`GlobalTable::end_offsets`]).
const MARKER_GRACE: Duration = Duration::from_millis(300);

/// Folds one record of the topic into the table's rows.
pub type Fold<E, V> = Box<dyn Fn(&mut HashMap<String, V>, &str, E) + Send + Sync>;

/// Applies a tombstone (a record key with no value) to the table's rows; tables whose rows are
/// not keyed by record key (or that keep deleted rows) have none, and skip tombstones.
pub type Tombstone<V> = Box<dyn Fn(&mut HashMap<String, V>, &str) + Send + Sync>;

/// The reader and what it folds with; one barrier drives it at a time.
struct Reader<E, V> {
    consumer: StreamConsumer,
    fold: Fold<E, V>,
    tombstone: Option<Tombstone<V>>,
}

/// A table of `V` by record key, kept from a topic whose records decode as `E`.
pub struct GlobalTable<E, V> {
    rows: RwLock<HashMap<String, V>>,
    reader: tokio::sync::Mutex<Reader<E, V>>,
    codec: Arc<Codec>,
    /// For the barrier's end offsets (`read_committed`: the last stable offsets).
    probe: Arc<StreamConsumer>,
    /// The high watermarks (`read_uncommitted`), to see a commit whose markers are still landing.
    probe_written: Arc<StreamConsumer>,
    topic: String,
    partitions: i32,
}

impl<E: DeserializeOwned + Send, V: Send + Sync> GlobalTable<E, V> {
    /// Reads `topic` (`partitions` partitions) from the beginning, decoding each record as `E` and
    /// folding it with `fold`; returns once the table holds everything committed so far (or fails
    /// after `deadline`). A record that does not decode as `E` is skipped with a warning (a table
    /// cannot dead-letter; its writer validated it).
    pub async fn load(bootstrap: &str, codec: Arc<Codec>, topic: &str, partitions: i32, fold: Fold<E, V>, deadline: Duration) -> anyhow::Result<GlobalTable<E, V>> {
        GlobalTable::load_with_tombstones(bootstrap, codec, topic, partitions, fold, None, deadline).await
    }

    /// [`GlobalTable::load`] that also applies tombstones with `tombstone` (a table of keys that
    /// can be deleted, such as the customers' data keys).
    pub async fn load_with_tombstones(
        bootstrap: &str,
        codec: Arc<Codec>,
        topic: &str,
        partitions: i32,
        fold: Fold<E, V>,
        tombstone: Option<Tombstone<V>>,
        deadline: Duration,
    ) -> anyhow::Result<GlobalTable<E, V>> {
        let config = crate::kafka::committed_reader(bootstrap, &format!("souk-table-{topic}"));
        let consumer: StreamConsumer = config.clone().set("fetch.wait.max.ms", "20").create().context("table reader")?;
        let mut tpl = TopicPartitionList::new();
        for p in 0..partitions {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
        consumer.assign(&tpl).with_context(|| format!("assigning {topic}"))?;
        let probe: Arc<StreamConsumer> = Arc::new(config.create().context("table probe")?);
        let probe_written: Arc<StreamConsumer> = Arc::new(config.clone().set("isolation.level", "read_uncommitted").create().context("table probe")?);
        let table =
            GlobalTable { rows: RwLock::new(HashMap::new()), reader: tokio::sync::Mutex::new(Reader { consumer, fold, tombstone }), codec, probe, probe_written, topic: topic.to_string(), partitions };
        table.catch_up(deadline).await.with_context(|| format!("loading the table of {topic}"))?;
        Ok(table)
    }

    /// [`GlobalTable::load`] of a topic as a component's `tables` declare it.
    pub async fn of(bootstrap: &str, codec: Arc<Codec>, source: &crate::topology::SourceTopic, fold: Fold<E, V>, deadline: Duration) -> anyhow::Result<GlobalTable<E, V>> {
        GlobalTable::load(bootstrap, codec, &source.topic, source.partitions, fold, deadline).await
    }

    /// Waits until the table reflects every record committed to the topic before this call.
    pub async fn catch_up(&self, deadline: Duration) -> anyhow::Result<()> {
        let (topic, partitions) = (self.topic.as_str(), self.partitions);
        let started = Instant::now();
        let ends = self.end_offsets(started, deadline).await?;
        let reader = self.reader.lock().await;
        loop {
            let position = reader.consumer.position().with_context(|| format!("position in {topic}"))?;
            let reached = (0..partitions).all(|p| match position.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(at)) => at >= ends[p as usize],
                _ => ends[p as usize] == 0,
            });
            if reached {
                return Ok(());
            }
            let left = deadline.checked_sub(started.elapsed()).ok_or_else(|| anyhow::anyhow!("the table of {topic} did not reach the end offsets {ends:?} within {deadline:?} (at {position:?})"))?;
            // A short wait: markers move the position during a poll without returning a record.
            match tokio::time::timeout(left.min(Duration::from_millis(25)), reader.consumer.recv()).await {
                Ok(Ok(m)) => self.apply(&reader, &m).await,
                Ok(Err(KafkaError::PartitionEOF(_))) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(%topic, error = %e, "table reader");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    /// Every partition's last stable offset now. A transaction its producer has just committed can
    /// still sit above it for a few milliseconds — the commit returns before its markers are
    /// written — so while records are written above the stable offset, the stable offset is asked
    /// again for up to [`MARKER_GRACE`] until it reaches them; a transaction that is really still
    /// open is not waited for longer.
    async fn end_offsets(&self, started: Instant, deadline: Duration) -> anyhow::Result<Vec<i64>> {
        let (stable, written) = tokio::try_join!(self.watermarks(self.probe.clone(), started, deadline), self.watermarks(self.probe_written.clone(), started, deadline))?;
        let mut now = stable;
        let grace = Instant::now();
        while now.iter().zip(&written).any(|(s, w)| s < w) && grace.elapsed() < MARKER_GRACE {
            tokio::time::sleep(Duration::from_millis(10)).await;
            now = self.watermarks(self.probe.clone(), started, deadline).await?;
        }
        Ok(now)
    }

    /// Every partition's high watermark as `probe` sees it (the last stable offset for a
    /// `read_committed` probe); a broker that cannot say yet (a leader being elected right after
    /// the topic was created, a restart) is asked again until `deadline`.
    async fn watermarks(&self, probe: Arc<StreamConsumer>, started: Instant, deadline: Duration) -> anyhow::Result<Vec<i64>> {
        let mut backoff = crate::batch_loop::Backoff::new(Duration::from_millis(50), Duration::from_secs(1));
        loop {
            // One request per partition, all in flight at once (a barrier costs one round trip,
            // not one per partition).
            let asks = (0..self.partitions).map(|p| {
                let (probe, name) = (probe.clone(), self.topic.clone());
                tokio::task::spawn_blocking(move || probe.fetch_watermarks(&name, p, Duration::from_secs(5)).map(|(_, high)| high))
            });
            let ends = futures::future::try_join_all(asks).await?.into_iter().collect::<Result<Vec<_>, _>>();
            match ends {
                Ok(ends) => return Ok(ends),
                Err(e) if started.elapsed() < deadline => {
                    tracing::debug!(topic = %self.topic, error = %e, "end offsets not known yet; asking again");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => return Err(e).with_context(|| format!("end offsets of {}", self.topic)),
            }
        }
    }

    async fn apply(&self, reader: &Reader<E, V>, m: &rdkafka::message::BorrowedMessage<'_>) {
        let Some(key) = m.key().map(|k| String::from_utf8_lossy(k).into_owned()) else { return };
        let Some(value) = m.payload() else {
            if let Some(tombstone) = &reader.tombstone {
                tombstone(&mut self.rows.write().unwrap_or_else(|e| e.into_inner()), &key);
            }
            return;
        };
        let mut backoff = crate::batch_loop::Backoff::default();
        loop {
            match self.codec.decode::<E>(value).await {
                Ok(event) => {
                    let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
                    (reader.fold)(&mut rows, &key, event);
                    return;
                }
                Err(e) if e.is_retriable() => {
                    tracing::warn!(topic = %self.topic, error = %e, "table reader: registry unavailable; retrying");
                    tokio::time::sleep(backoff.next_delay()).await;
                }
                Err(e) => {
                    tracing::warn!(topic = %self.topic, partition = m.partition(), offset = m.offset(), error = %e, "table reader: record skipped");
                    return;
                }
            }
        }
    }

    /// Changes the rows in place: a writer that just made a record durable puts what it wrote into
    /// its own table before the reader gets it back (folding it again must change nothing).
    pub fn write<R>(&self, f: impl FnOnce(&mut HashMap<String, V>) -> R) -> R {
        let mut rows = self.rows.write().unwrap_or_else(|e| e.into_inner());
        f(&mut rows)
    }

    /// Reads the rows as of the last [`GlobalTable::catch_up`].
    pub fn read<R>(&self, f: impl FnOnce(&HashMap<String, V>) -> R) -> R {
        let rows = self.rows.read().unwrap_or_else(|e| e.into_inner());
        f(&rows)
    }
}
