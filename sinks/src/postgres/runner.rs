//! The generic Postgres sink loop, exactly-once in effect without Kafka transactions
//! (ARCHITECTURE.md, "Sinks"). Per batch:
//! 1. decode every record outside the transaction (a registry outage fails the batch, nothing moves);
//! 2. open one SQL transaction and lock the sink's offset rows of the batch's partitions;
//! 3. drop records below the stored offsets (already applied by an earlier run or another instance);
//! 4. produce the poison records to the sink's DLQ with provenance headers and wait for the acks;
//! 5. apply the rest with the projection's upserts, store offset+1 per partition, commit;
//! 6. commit the same offsets to Kafka (informational only; the DB decides where a sink resumes).
//!
//! A record the database refuses for what it contains — a *permanent data error*: SQLSTATE class 22
//! (data exception: NUL in text, invalid encoding, value too long, numeric overflow), 23 (integrity
//! constraint) or 54 (program limit, e.g. an index row too large), a bind that cannot be encoded,
//! or a [`PermanentError`] from the projection — rolls the attempt back; the batch is applied
//! again with that record dead-lettered (provenance headers, the database's reason), so one bad
//! record never blocks the sink. Any other failure (connection, timeout, serialization, deadlock,
//! a missing table) is an outage: the transaction rolls back, the consumer is dropped and, after a
//! backoff, a new one joins the group and is positioned at the stored offsets by [`SinkContext`]
//! (retry without advancing).
//!
//! A projection may also answer [`Deferred`] for a record that cannot be applied *yet* (the
//! WhatsApp dispatcher during a Cloud API outage): the batch still commits, with that partition's
//! offset stored *at* the record, so nothing after it in the partition is applied before it; the
//! partition is paused and sought back to it, and resumed after the requested delay. The
//! liveness probe is told that the partition waits on purpose.

use super::offsets::{self, SinkContext, Tp};
use anyhow::{anyhow, Context};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use souk_runtime::batch_loop::{self, Batch, BatchCommit, LoopSettings};
use souk_runtime::codec::Codec;
use souk_runtime::kafka::{producer, send_all, OutRecord};
use souk_runtime::metrics::Metrics;
use souk_runtime::topology::ComponentSpec;
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Returned (inside an `anyhow::Error`) by a projection for a record that can never be applied,
/// so the runner dead-letters it instead of retrying the batch forever.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PermanentError(pub String);

/// The reason, when `error` is a property of the record rather than an outage: SQLSTATE classes
/// 22, 23 and 54, a bind that cannot be encoded, or a [`PermanentError`]. Everything else —
/// connections, pool timeouts, serialization failures (40001), deadlocks (40P01), shutdowns
/// (57P01), missing relations (42P01) — is retried without advancing.
pub fn permanent_data_error(error: &anyhow::Error) -> Option<String> {
    for cause in error.chain() {
        if let Some(p) = cause.downcast_ref::<PermanentError>() {
            return Some(p.0.clone());
        }
        match cause.downcast_ref::<sqlx::Error>() {
            Some(sqlx::Error::Database(db)) => {
                let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
                return ["22", "23", "54"].iter().any(|class| code.starts_with(class)).then(|| format!("SQLSTATE {code}: {}", db.message()));
            }
            Some(sqlx::Error::Encode(e)) => return Some(format!("cannot encode a value: {e}")),
            Some(_) => return None,
            None => {}
        }
    }
    None
}

/// One decoded input record handed to a projection.
#[derive(Debug, Clone)]
pub struct SinkRecord<E> {
    /// Source topic (prefixed).
    pub topic: String,
    /// Source partition.
    pub partition: i32,
    /// Source offset.
    pub offset: i64,
    /// Record key (`<tenant>|<entity>`), if any.
    pub key: Option<String>,
    /// The decoded event.
    pub event: E,
}

/// What a Postgres sink does with each event: idempotent upserts inside the batch's transaction.
/// Implemented once per read model; the runner provides batching, offsets, DLQ and retries.
pub trait Projection: Send + Sync + 'static {
    /// The event type of the input topics (their Avro union).
    type Event: DeserializeOwned + Send + Sync + 'static;

    /// Refuses a record that decodes but can never be applied (malformed key, impossible time);
    /// a refused record is dead-lettered like an undecodable one instead of blocking the sink.
    fn check(&self, _record: &SinkRecord<Self::Event>) -> Result<(), String> {
        Ok(())
    }

    /// Runs before each batch is applied (e.g. a read barrier on a global table the projection
    /// opens records with, so the batch sees everything committed before it was read); an error
    /// retries the batch like an outage.
    fn before_batch(&self) -> impl Future<Output = anyhow::Result<()>> + Send {
        async { Ok(()) }
    }

    /// Applies one record on the batch's transaction. Errors roll the whole batch back and it is
    /// retried, so they must be transient (connection, serialization) — not properties of the record.
    /// A [`Deferred`] error instead says "not yet": the record and everything after it in its
    /// partition wait for `retry_in` while the rest of the batch commits; an apply that defers
    /// must not have written anything on `tx`.
    fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<Self::Event>) -> impl Future<Output = anyhow::Result<()>> + Send;
}

/// The answer of [`Projection::apply`] (as its error) for a record that cannot be applied yet but
/// will be later — an outage of the service it calls, a wait for another event. Its partition
/// does not advance past it, so per-partition order holds, and the rest of the batch commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// When to try the record again.
    pub retry_in: Duration,
    /// Why it waits (logged).
    pub reason: String,
}

impl Deferred {
    /// Try again in `retry_in`, because `reason`.
    pub fn new(retry_in: Duration, reason: impl Into<String>) -> Deferred {
        Deferred { retry_in, reason: reason.into() }
    }
}

impl std::fmt::Display for Deferred {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "deferred for {:?}: {}", self.retry_in, self.reason)
    }
}

impl std::error::Error for Deferred {}

/// A partition held at a deferred record.
struct Hold {
    tp: Tp,
    offset: i64,
    retry_in: Duration,
}

/// Records per SQL transaction of a Postgres sink that does not set `batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// The consume-loop settings of a Postgres sink: [`DEFAULT_BATCH_SIZE`] records per transaction,
/// 50 ms to fill a batch, the shared backoff and liveness.
pub fn sink_settings(bootstrap: &str) -> LoopSettings {
    let mut settings = LoopSettings::new(bootstrap);
    settings.batch_size = DEFAULT_BATCH_SIZE;
    settings.batch_wait = Duration::from_millis(50);
    settings
}

type SinkConsumer = StreamConsumer<SinkContext>;

/// Runs one Postgres sink until `shutdown` turns true.
pub struct PostgresSink<P: Projection> {
    projection: P,
    spec: ComponentSpec,
    codec: Arc<Codec>,
    pool: PgPool,
    settings: LoopSettings,
    producer: FutureProducer,
    /// Partitions paused at a deferred record, and when to resume them.
    paused: BTreeMap<Tp, Instant>,
    /// Records this process already dead-lettered (acked) whose offsets are not stored yet, so a
    /// retried batch does not produce them again. Across restarts, dead letters are at-least-once.
    dead_lettered: Mutex<BTreeSet<(Tp, i64)>>,
    /// Partitions held at a deferred record (its offset, also the stored one): the first record
    /// fetched after resuming must be that one, else the seek was lost and the batch fails (the
    /// recreated consumer starts at the stored offset).
    deferred: Mutex<BTreeMap<Tp, i64>>,
}

/// A record after decoding: applicable (with its original bytes, for a dead letter should the
/// database refuse it), or dead-lettered with a reason.
enum Decoded<E> {
    Apply(SinkRecord<E>, OwnedMessage),
    Dead(OwnedMessage, String),
}

impl<E> Decoded<E> {
    fn message(&self) -> &OwnedMessage {
        match self {
            Decoded::Apply(_, m) | Decoded::Dead(m, _) => m,
        }
    }
    fn position(&self) -> Tp {
        (self.message().topic().to_string(), self.message().partition())
    }
    fn offset(&self) -> i64 {
        self.message().offset()
    }
}

/// Why one attempt at a batch did not commit.
enum AttemptError {
    /// The record at this position can never be applied: dead-letter it and try again.
    Permanent(Tp, i64, String),
    /// An outage: retry the whole batch later without advancing.
    Outage(anyhow::Error),
}

impl From<anyhow::Error> for AttemptError {
    fn from(e: anyhow::Error) -> Self {
        AttemptError::Outage(e)
    }
}

impl<P: Projection> PostgresSink<P> {
    /// A sink applying `projection` as declared by `spec`.
    pub fn new(projection: P, spec: ComponentSpec, codec: Arc<Codec>, pool: PgPool, mut settings: LoopSettings) -> anyhow::Result<Self> {
        let producer = producer(&settings.bootstrap).context("DLQ producer")?;
        settings.batch_size = spec.batch_size.unwrap_or(settings.batch_size);
        Ok(PostgresSink { projection, spec, codec, pool, settings, producer, paused: BTreeMap::new(), dead_lettered: Mutex::new(BTreeSet::new()), deferred: Mutex::new(BTreeMap::new()) })
    }

    /// The loop ([`souk_runtime::batch_loop`]): collect a batch, apply it in one SQL transaction
    /// with its offsets, repeat.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        tracing::info!(sink = %self.spec.name, inputs = ?self.spec.input_topics(), group = %self.spec.group_id, "postgres sink started");
        let settings = self.settings.clone();
        batch_loop::run(self, settings, shutdown).await
    }

    /// Pauses each held partition and seeks it back to its deferred record, to resume after the
    /// requested delay; tells the liveness probe it waits on purpose.
    fn hold(&mut self, consumer: &SinkConsumer, probe: &souk_runtime::engine::liveness::Probe, holds: Vec<Hold>) {
        for Hold { tp, offset, retry_in } in holds {
            let mut tpl = TopicPartitionList::new();
            tpl.add_partition(&tp.0, tp.1);
            if let Err(e) = consumer.pause(&tpl) {
                tracing::warn!(sink = %self.spec.name, topic = %tp.0, partition = tp.1, error = %e, "pausing a partition held at a deferred record failed");
            }
            if let Err(e) = consumer.seek(&tp.0, tp.1, Offset::Offset(offset), Duration::from_secs(5)) {
                tracing::warn!(sink = %self.spec.name, topic = %tp.0, partition = tp.1, offset, error = %e, "seeking back to a deferred record failed; the consumer is recreated when it resumes past it");
            }
            probe.hold(&tp.0, tp.1, Instant::now() + retry_in + self.settings.liveness_after);
            if let Ok(mut d) = self.deferred.lock() {
                d.insert(tp.clone(), offset);
            }
            self.paused.insert(tp, Instant::now() + retry_in);
        }
    }

    async fn process_batch(&self, consumer: &SinkConsumer, batch: Vec<OwnedMessage>) -> anyhow::Result<Vec<Hold>> {
        if batch.is_empty() {
            return Ok(Vec::new());
        }
        let name = &self.spec.name;
        // 1. decode outside the transaction
        let mut decoded = Vec::with_capacity(batch.len());
        for msg in batch {
            decoded.push(self.decode(msg).await?);
        }
        // Per partition in offset order (a stable sort keeps each partition's order).
        decoded.sort_by(|a, b| a.position().cmp(&b.position()).then(a.offset().cmp(&b.offset())));
        // Each permanent data error found rolls the attempt back and marks its record dead; the
        // next attempt dead-letters it and applies the rest (at most one attempt per record).
        let mut refused: BTreeMap<(Tp, i64), String> = BTreeMap::new();
        loop {
            match self.attempt(consumer, &decoded, &refused).await {
                Ok(holds) => return Ok(holds),
                Err(AttemptError::Outage(e)) => return Err(e),
                Err(AttemptError::Permanent(tp, offset, reason)) => {
                    tracing::warn!(sink = %name, topic = %tp.0, partition = tp.1, offset, reason = %reason, "the database refuses this record for good; dead-lettering it and applying the rest of the batch");
                    anyhow::ensure!(refused.insert((tp, offset), reason).is_none(), "a refused record was applied again");
                }
            }
        }
    }

    /// One transaction over the batch: skip what the stored offsets cover, dead-letter poison and
    /// `refused` records, apply the rest, store the offsets, commit.
    async fn attempt(&self, consumer: &SinkConsumer, decoded: &[Decoded<P::Event>], refused: &BTreeMap<(Tp, i64), String>) -> Result<Vec<Hold>, AttemptError> {
        let metrics = Metrics::global();
        let name = &self.spec.name;
        let parts: BTreeSet<Tp> = decoded.iter().map(Decoded::position).collect();
        // 2. one transaction; lock this sink's offset rows
        let mut tx = self.pool.begin().await.context("beginning the sink transaction")?;
        let stored = offsets::lock(&mut tx, name, &parts).await?;
        // 3. drop what the DB already reflects
        let mut next = stored.clone();
        let mut todo: Vec<&Decoded<P::Event>> = Vec::with_capacity(decoded.len());
        let mut skipped = 0u64;
        for d in decoded {
            let pos = d.position();
            let cursor = next.get_mut(&pos).ok_or_else(|| anyhow!("partition {pos:?} was not locked"))?;
            if d.offset() < *cursor {
                skipped += 1;
                continue;
            }
            if d.offset() > *cursor {
                let held_at = self.deferred.lock().ok().and_then(|mut m| {
                    let at = m.get(&pos).copied();
                    if at == Some(*cursor) {
                        m.remove(&pos);
                    }
                    at
                });
                if held_at == Some(*cursor) {
                    return Err(AttemptError::Outage(anyhow!("{}/{} resumed at offset {} past its deferred record {}; repositioning at the stored offset", pos.0, pos.1, d.offset(), *cursor)));
                }
                tracing::debug!(sink = %name, topic = %pos.0, partition = pos.1, expected = *cursor, got = d.offset(), "offset gap (compaction, retention or control records)");
            }
            *cursor = d.offset() + 1;
            todo.push(d);
        }
        if skipped > 0 {
            metrics.records_skipped.with_label_values(&[name.as_str(), "below_stored_offset"]).inc_by(skipped);
            tracing::info!(sink = %name, skipped, "skipped records the stored offsets already cover");
        }
        // 4. dead letters, acked before the offsets move past them
        let already = self.dead_lettered.lock().map(|s| s.clone()).unwrap_or_default();
        let (mut dead, mut produced) = (Vec::new(), Vec::new());
        for d in &todo {
            let id = (d.position(), d.offset());
            let reason = match d {
                Decoded::Dead(_, error) => Some(error.clone()),
                Decoded::Apply(..) => refused.get(&id).map(|r| format!("refused by the database: {r}")),
            };
            if let Some(reason) = reason {
                if !already.contains(&id) {
                    dead.push(self.dead_letter(d.message(), &reason));
                    produced.push(id);
                }
            }
        }
        if !dead.is_empty() {
            let count = dead.len() as u64;
            send_all(&self.producer, dead).await.context("producing to the sink's dead-letter topic")?;
            metrics.dlq_records.with_label_values(&[name.as_str()]).inc_by(count);
            if let Ok(mut set) = self.dead_lettered.lock() {
                set.extend(produced);
            }
        }
        // 5. apply (a deferred record holds its partition there), store offsets, commit
        let mut holds: BTreeMap<Tp, Hold> = BTreeMap::new();
        for d in &todo {
            let Decoded::Apply(record, _) = d else { continue };
            let pos = d.position();
            if holds.contains_key(&pos) || refused.contains_key(&(pos.clone(), d.offset())) {
                continue;
            }
            match self.projection.apply(&mut tx, record).await {
                Ok(()) => {
                    if let Ok(mut m) = self.deferred.lock() {
                        if m.get(&pos) == Some(&record.offset) {
                            m.remove(&pos);
                        }
                    }
                }
                Err(e) => match e.downcast::<Deferred>() {
                    Ok(deferred) => {
                        tracing::debug!(sink = %name, topic = %pos.0, partition = pos.1, offset = record.offset, retry_in = ?deferred.retry_in, reason = %deferred.reason, "record deferred; its partition waits");
                        metrics.records_skipped.with_label_values(&[name.as_str(), "deferred"]).inc();
                        next.insert(pos.clone(), record.offset);
                        holds.insert(pos.clone(), Hold { tp: pos, offset: record.offset, retry_in: deferred.retry_in });
                    }
                    Err(e) => {
                        let e = e.context(format!("applying {}/{}@{}", record.topic, record.partition, record.offset));
                        return Err(match permanent_data_error(&e) {
                            Some(reason) => AttemptError::Permanent(d.position(), d.offset(), reason),
                            None => AttemptError::Outage(e),
                        });
                    }
                },
            }
        }
        let advanced: BTreeMap<Tp, i64> = next.into_iter().filter(|(tp, n)| stored.get(tp) != Some(n)).collect();
        offsets::store(&mut tx, name, &advanced).await?;
        tx.commit().await.context("committing the sink transaction")?;
        metrics.batch_commits.with_label_values(&[name.as_str()]).inc();
        if let Ok(mut set) = self.dead_lettered.lock() {
            set.retain(|(tp, offset)| advanced.get(tp).is_none_or(|next| offset >= next));
        }
        // 6. informational Kafka commit (monitoring tools read group offsets)
        if !advanced.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), offset) in &advanced {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset)).map_err(anyhow::Error::from)?;
            }
            if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::debug!(sink = %name, error = %e, "informational Kafka offset commit failed");
            }
        }
        Ok(holds.into_values().collect())
    }

    /// Decodes one record; poison goes to the DLQ, a registry outage fails the batch.
    async fn decode(&self, msg: OwnedMessage) -> anyhow::Result<Decoded<P::Event>> {
        let Some(payload) = msg.payload() else {
            return Ok(Decoded::Dead(msg, "null value".into()));
        };
        let event: P::Event = match self.codec.decode(payload).await {
            Ok(e) => e,
            Err(e) if e.is_retriable() => return Err(e).context("decoding input (registry unavailable)"),
            Err(e) => return Ok(Decoded::Dead(msg, e.to_string())),
        };
        let record = SinkRecord { topic: msg.topic().to_string(), partition: msg.partition(), offset: msg.offset(), key: msg.key().map(|k| String::from_utf8_lossy(k).into_owned()), event };
        match self.projection.check(&record) {
            Ok(()) => Ok(Decoded::Apply(record, msg)),
            Err(reason) => Ok(Decoded::Dead(msg, format!("rejected: {reason}"))),
        }
    }

    fn dead_letter(&self, msg: &OwnedMessage, error: &str) -> OutRecord {
        souk_runtime::dead_letter::dead_letter_of(&self.spec.dlq, msg, error, &self.spec.name)
    }
}

impl<P: Projection> BatchCommit for PostgresSink<P> {
    type Context = SinkContext;

    fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    /// A group member whose rebalance hook positions every assigned partition at its offset
    /// stored in `sink_offsets`; partitions held at a deferred record start there again too.
    fn consumer(&mut self) -> anyhow::Result<SinkConsumer> {
        self.paused.clear();
        let context = SinkContext::new(&self.spec.name, (*self.pool.connect_options()).clone());
        // read_committed, no auto commit; `auto.offset.reset` only matters when the context could
        // not position a partition (then nothing is applied)
        let consumer: SinkConsumer = souk_runtime::kafka::group_consumer(&self.settings.bootstrap, &self.spec.group_id).create_with_context(context).context("sink consumer")?;
        let topics: Vec<&str> = self.spec.inputs.iter().map(|i| i.topic.as_str()).collect();
        consumer.subscribe(&topics).context("subscribe")?;
        Ok(consumer)
    }

    async fn commit(&mut self, batch: Batch<'_, SinkContext>) -> anyhow::Result<()> {
        if batch.consumer.context().position_failed.load(Ordering::SeqCst) {
            anyhow::bail!("an assignment could not be positioned at the stored offsets");
        }
        let assigned = assigned_set(batch.consumer);
        let records: Vec<OwnedMessage> = batch.records.into_iter().filter(|m| assigned.contains(&(m.topic().to_string(), m.partition()))).collect();
        self.projection.before_batch().await.context("preparing the batch")?;
        let holds = self.process_batch(batch.consumer, records).await?;
        self.hold(batch.consumer, batch.probe, holds);
        Ok(())
    }

    fn before_poll(&mut self, consumer: &SinkConsumer) {
        resume_due(consumer, &mut self.paused);
    }

    fn first_wait(&self) -> Duration {
        first_wait(&self.paused)
    }
}

/// How long to wait for a first record: a second, or less when a paused partition is due sooner.
fn first_wait(paused: &BTreeMap<Tp, Instant>) -> Duration {
    let second = Duration::from_secs(1);
    let now = Instant::now();
    paused.values().map(|at| at.saturating_duration_since(now)).min().map_or(second, |d| d.clamp(Duration::from_millis(10), second))
}

/// Resumes the paused partitions whose delay is over.
fn resume_due(consumer: &SinkConsumer, paused: &mut BTreeMap<Tp, Instant>) {
    let now = Instant::now();
    let due: Vec<Tp> = paused.iter().filter(|(_, at)| **at <= now).map(|(tp, _)| tp.clone()).collect();
    for tp in due {
        paused.remove(&tp);
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition(&tp.0, tp.1);
        if let Err(e) = consumer.resume(&tpl) {
            // Not assigned any more (a rebalance): its new owner starts at the stored offset.
            tracing::debug!(topic = %tp.0, partition = tp.1, error = %e, "resuming a held partition failed");
        }
    }
}

fn assigned_set(consumer: &SinkConsumer) -> BTreeSet<Tp> {
    consumer.assignment().map(|tpl| tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()).unwrap_or_default()
}
