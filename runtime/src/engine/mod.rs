//! The Kafka engine of a keyed processor (ARCHITECTURE, "Exactly-once effects"): collect a batch,
//! make sure every partition in it has its store (restored, or a kept store caught up, while the
//! consumer keeps polling), apply every record with the deterministic step, then make the batch's
//! outputs, dead letters, changelog records and consumer offsets durable exactly once in the
//! run's [`Mode`]. On a failure the stores the batch touched are discarded and rebuilt from the
//! changelog, and consumption resumes from the committed offsets.

pub mod liveness;
pub mod restore;

use crate::batch_loop::{self, Batch, BatchCommit, LoopSettings};
use crate::codec::Codec;
use crate::exactly_once::{self, BatchWriter, Mode};
use crate::failpoint;
use crate::kafka::{group_consumer, make_headers, OutRecord, RebalanceTracker};
use crate::metrics::Metrics;
use crate::processor::{Emitted, Processor};
use crate::store::{InputRecord, PartitionStore, StepOutcome};
use crate::topology::ComponentSpec;
use anyhow::{anyhow, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Records per batch of a processor that does not set `batch_size`.
pub const DEFAULT_BATCH_SIZE: usize = 500;

/// Tunables of the engine loop.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// How effects become durable (see [`crate::exactly_once`]).
    pub mode: Mode,
    /// This instance's name among the group's members: part of its transactional id, so it must
    /// be unique per running instance; stable across restarts it lets a restart abort the crashed
    /// instance's open transaction at once. Default: a random id per start.
    pub instance: String,
    /// Whether `instance` was chosen by the operator (stable across restarts): the consumer then
    /// joins as a static member (`group.instance.id`), so a restarted instance takes its
    /// partitions back at once instead of waiting for the dead one's session to time out.
    pub static_membership: bool,
    /// How long to wait for more records once a batch has begun.
    pub batch_wait: Duration,
    /// A partition with lag and no progress for this long is reported and its consumer recreated.
    pub liveness_after: Duration,
    /// Upper bound for rebuilding one partition's store.
    pub restore_deadline: Duration,
}

impl EngineSettings {
    /// Defaults for `bootstrap` in `mode`.
    pub fn new(bootstrap: &str, mode: Mode) -> EngineSettings {
        EngineSettings {
            bootstrap: bootstrap.to_string(),
            mode,
            instance: uuid::Uuid::new_v4().to_string(),
            static_membership: false,
            batch_wait: Duration::from_millis(20),
            liveness_after: Duration::from_secs(20),
            restore_deadline: Duration::from_secs(300),
        }
    }

    /// The same settings for the named, stable instance (static group membership).
    pub fn with_instance(mut self, instance: &str) -> EngineSettings {
        self.instance = instance.to_string();
        self.static_membership = true;
        self
    }
}

struct PartitionRuntime<S> {
    store: PartitionStore<S>,
    /// Per input topic, the highest offset any restored key had applied: records at or below it
    /// that still produce outputs are re-emissions (identical ids) after a crash.
    replay_until: BTreeMap<String, i64>,
    /// Stream time as of the last changelog write of this partition.
    persisted_stream_time: i64,
    /// The changelog offset after everything this store reflects (a catch-up reads from here).
    changelog_next: i64,
}

impl<S: Clone + Default> PartitionRuntime<S> {
    fn new(store: PartitionStore<S>, changelog_next: i64) -> Self {
        let mut replay_until = BTreeMap::new();
        for entry in store.entries().values() {
            for (topic, offset) in &entry.applied_offsets {
                let e = replay_until.entry(topic.clone()).or_insert(*offset);
                *e = (*e).max(*offset);
            }
        }
        let persisted_stream_time = store.stream_time();
        PartitionRuntime { store, replay_until, persisted_stream_time, changelog_next }
    }
}

type Consumer_ = StreamConsumer<RebalanceTracker>;

/// Runs one processor on Kafka until `shutdown` turns true.
pub struct ProcessorEngine<P: Processor> {
    processor: Arc<P>,
    spec: ComponentSpec,
    codec: Arc<Codec>,
    settings: EngineSettings,
    writer: BatchWriter,
    /// Stores of the partitions assigned here, ready for their next record.
    partitions: HashMap<i32, PartitionRuntime<P::State>>,
    /// Stores of partitions revoked (or of a consumer that was recreated) whose state was durable:
    /// if the partition comes back, the store is caught up with the changelog's tail instead of
    /// being rebuilt from scratch.
    kept: HashMap<i32, PartitionRuntime<P::State>>,
    /// Records received while stores were being restored; the next batch starts with them.
    pending: Vec<OwnedMessage>,
    /// Partitions of the batch in progress: a failed batch mutated their stores.
    in_flight: BTreeSet<i32>,
}

impl<P: Processor> ProcessorEngine<P> {
    /// An engine for `processor` as declared by `spec`.
    pub fn new(processor: Arc<P>, spec: ComponentSpec, codec: Arc<Codec>, settings: EngineSettings) -> anyhow::Result<Self> {
        let writer = BatchWriter::new(settings.mode, &settings.bootstrap, &exactly_once::transactional_id(&spec.group_id, &settings.instance))?;
        Ok(ProcessorEngine { processor, spec, codec, settings, writer, partitions: HashMap::new(), kept: HashMap::new(), pending: Vec::new(), in_flight: BTreeSet::new() })
    }

    fn new_consumer(&mut self) -> anyhow::Result<Consumer_> {
        // Stores stay (their state is durable); buffered records go (a new consumer starts again
        // at the committed offsets).
        self.keep_all();
        let tracker = RebalanceTracker { component: self.spec.name.clone(), ..Default::default() };
        let mut config = group_consumer(&self.settings.bootstrap, &self.spec.group_id);
        // Range keeps partition p of every co-partitioned input on the same instance.
        config.set("partition.assignment.strategy", "range");
        if self.settings.static_membership {
            config.set("group.instance.id", exactly_once::transactional_id(&self.spec.group_id, &self.settings.instance));
        }
        let consumer: Consumer_ = config.create_with_context(tracker).context("consumer")?;
        let topics: Vec<&str> = self.spec.inputs.iter().map(|i| i.topic.as_str()).collect();
        consumer.subscribe(&topics).context("subscribe")?;
        Ok(consumer)
    }

    /// The loop ([`crate::batch_loop`]): collect a batch, process it exactly once, repeat.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut settings = LoopSettings::new(&self.settings.bootstrap);
        settings.batch_size = self.spec.batch_size.unwrap_or(DEFAULT_BATCH_SIZE);
        settings.batch_wait = self.settings.batch_wait;
        settings.liveness_after = self.settings.liveness_after;
        tracing::info!(processor = %self.spec.name, inputs = ?self.spec.input_topics(), group = %self.spec.group_id, mode = %self.settings.mode, instance = %self.settings.instance, "processor started");
        batch_loop::run(self, settings, shutdown).await
    }

    /// One batch: make sure its partitions have stores, apply it, make it durable.
    async fn handle(&mut self, consumer: &Consumer_, batch: Vec<OwnedMessage>) -> anyhow::Result<()> {
        self.forget_revoked(consumer);
        let assigned = assigned_set(consumer);
        let batch: Vec<OwnedMessage> = batch.into_iter().filter(|m| assigned.contains(&(m.topic().to_string(), m.partition()))).collect();
        if batch.is_empty() {
            return Ok(());
        }
        self.in_flight = batch.iter().map(|m| m.partition()).collect();
        // false: the group rebalanced while stores were restored; the consumer was repositioned
        // at the committed offsets, so the batch is dropped and work starts over from there.
        if self.prepare_stores(consumer, &batch).await? {
            self.process_batch(consumer, batch).await?;
        }
        self.in_flight.clear();
        Ok(())
    }

    /// Moves every ready store to the kept ones (their state is durable) and forgets buffered
    /// records (a recreated consumer starts again at the committed offsets).
    fn keep_all(&mut self) {
        self.kept.extend(self.partitions.drain());
        self.pending.clear();
    }

    fn forget_revoked(&mut self, consumer: &Consumer_) {
        let revoked: BTreeSet<(String, i32)> = consumer.context().revoked.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        for (_, p) in revoked {
            if let Some(rt) = self.partitions.remove(&p) {
                tracing::info!(processor = %self.spec.name, partition = p, "store kept after revocation (caught up if the partition comes back)");
                self.kept.insert(p, rt);
            }
            self.pending.retain(|m| m.partition() != p);
        }
    }

    /// Gives every partition of `batch` a ready store: a kept store caught up with the
    /// changelog's tail, or one restored from the whole changelog. The consumer is paused and
    /// keeps being polled meanwhile, so a long restore never drops this instance out of the group.
    /// Returns false when the group rebalanced meanwhile (the batch must be dropped).
    async fn prepare_stores(&mut self, consumer: &Consumer_, batch: &[OwnedMessage]) -> anyhow::Result<bool> {
        if batch.iter().all(|m| self.partitions.contains_key(&m.partition())) {
            return Ok(true);
        }
        // Every assigned partition without a store is prepared now, concurrently: the others
        // would need it a batch later anyway.
        let assignment = consumer.assignment()?;
        let missing: BTreeSet<i32> = assignment.elements().iter().map(|e| e.partition()).chain(batch.iter().map(|m| m.partition())).filter(|p| !self.partitions.contains_key(p)).collect();
        let rebalances = consumer.context().rebalances.load(Ordering::Relaxed);
        consumer.pause(&assignment)?;
        let mut received = Vec::new();
        let jobs: Vec<_> = missing.iter().map(|p| (*p, self.kept.remove(p))).collect();
        let prepared = {
            let (settings, spec, codec) = (&self.settings, &self.spec, &self.codec);
            let restore = futures::future::join_all(jobs.into_iter().map(|(p, kept)| async move { (p, prepare_partition(settings, spec, codec, p, kept).await) }));
            tokio::pin!(restore);
            loop {
                tokio::select! {
                    r = &mut restore => break r,
                    m = tokio::time::timeout(Duration::from_millis(500), consumer.recv()) => match m {
                        Ok(Ok(m)) => received.push(m.detach()),
                        Ok(Err(e)) => tracing::warn!(processor = %spec.name, error = %e, "consumer error while restoring"),
                        Err(_) => {}
                    },
                }
            }
        };
        let mut outcome = Ok(());
        for (p, rt) in prepared {
            match rt {
                Ok(rt) => {
                    self.partitions.insert(p, rt);
                }
                Err(e) => outcome = Err(e),
            }
        }
        if let Ok(current) = consumer.assignment() {
            consumer.resume(&current)?;
        }
        outcome?;
        if consumer.context().rebalances.load(Ordering::Relaxed) != rebalances {
            tracing::info!(processor = %self.spec.name, "the group rebalanced while stores were restored; resuming from the committed offsets");
            self.forget_revoked(consumer);
            self.pending.clear();
            return Ok(false);
        }
        self.pending.extend(received);
        Ok(true)
    }

    async fn process_batch(&mut self, consumer: &Consumer_, batch: Vec<OwnedMessage>) -> anyhow::Result<()> {
        let metrics = Metrics::global();
        let name = self.spec.name.clone();
        let mut outputs: Vec<Emitted<P::Output>> = Vec::new();
        let mut dead: Vec<(OwnedMessage, String)> = Vec::new();
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut touched_partitions = BTreeSet::new();
        let mut reemitted = 0u64;
        let (batch_len, t_start) = (batch.len(), Instant::now());
        for msg in batch {
            let (topic, partition, offset) = (msg.topic().to_string(), msg.partition(), msg.offset());
            offsets.insert((topic.clone(), partition), offset + 1);
            touched_partitions.insert(partition);
            let Some(payload) = msg.payload() else {
                dead.push((msg, "null value".into()));
                continue;
            };
            let event: P::Input = match self.codec.decode(payload).await {
                Ok(e) => e,
                Err(e) if e.is_retriable() => return Err(e).context("decoding input"),
                Err(e) => {
                    dead.push((msg, e.to_string()));
                    continue;
                }
            };
            let key = msg.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            if key.is_empty() && !event.is_tick() {
                dead.push((msg, "record has no key".into()));
                continue;
            }
            let rt = self.partitions.get_mut(&partition).ok_or_else(|| anyhow!("partition {partition} has no store"))?;
            let outcome = rt.store.apply(self.processor.as_ref(), InputRecord { topic: &topic, offset, key: &key, event: &event });
            let is_replay = rt.replay_until.get(&topic).is_some_and(|o| offset <= *o);
            match outcome {
                StepOutcome::Applied(out) => {
                    if is_replay {
                        reemitted += out.len() as u64;
                    }
                    outputs.extend(out);
                }
                StepOutcome::Skipped { reason, timer_outputs } => {
                    metrics.records_skipped.with_label_values(&[&name, &format!("{reason:?}")]).inc();
                    outputs.extend(timer_outputs);
                }
                StepOutcome::Rejected { rejection, timer_outputs } => {
                    outputs.extend(timer_outputs);
                    dead.push((msg, format!("rejected: {rejection}")));
                }
            }
        }
        let t_processed = Instant::now();
        let mut records = Vec::with_capacity(outputs.len() + dead.len());
        for out in &outputs {
            let logical = out.output.unwrap_or_else(|| self.processor.output_name(&out.event));
            let topic = self.spec.outputs.get(logical).ok_or_else(|| anyhow!("processor {name} emitted to undeclared output {logical}"))?;
            let payload = self.codec.encode(topic, &out.event).await.with_context(|| format!("encoding output for {topic}"))?;
            metrics.records_out.with_label_values(&[&name, topic]).inc();
            records.push(OutRecord::event(topic, &out.key, payload, out.event.envelope()));
        }
        for (msg, error) in &dead {
            metrics.dlq_records.with_label_values(&[&name]).inc();
            records.push(crate::dead_letter::dead_letter_of(&self.spec.dlq, msg, error, &name));
        }
        let (key_records, markers) = self.changelog_records(&touched_partitions).await?;
        let output_count = records.len();
        let t_encoded = Instant::now();
        // 1. outputs and dead letters (acked), before anything says the inputs were applied
        self.writer.begin()?;
        self.writer.send(records).await.context("producing outputs")?;
        let t_outputs = Instant::now();
        if reemitted > 0 {
            metrics.reemitted_outputs.with_label_values(&[&name]).inc_by(reemitted);
            tracing::info!(processor = %name, reemitted, "re-emitted outputs while catching up after restore (identical ids)");
        }
        failpoint::maybe_stop_before_changelog();
        // 2. changelog: every touched key's record, then (once they are all acked) the stream-time
        // markers, so a restored clock is never ahead of a key whose record was lost
        let (changelog_count, changelog_bytes) = (key_records.len() + markers.len(), key_records.iter().chain(&markers).map(|r| r.payload.as_ref().map_or(0, Vec::len)).sum::<usize>());
        let mut crash_after = failpoint::changelog_crash(changelog_count);
        if let Some(k) = crash_after {
            eprintln!("souk failpoint: this batch writes {changelog_count} changelog records ({} outputs); dying after {k}", output_count);
        }
        if self.writer.mode() == Mode::Transactions {
            let mut changelog = key_records;
            changelog.extend(markers);
            self.send_changelog(changelog, &mut crash_after).await?;
        } else {
            self.send_changelog(key_records, &mut crash_after).await?;
            self.send_changelog(markers, &mut crash_after).await?;
        }
        failpoint::changelog_written();
        let t_changelog = Instant::now();
        // 3. consumer offsets (in the transaction, or a group commit)
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        self.writer.commit(consumer, &tpl)?;
        for p in &touched_partitions {
            if let Some(rt) = self.partitions.get_mut(p) {
                rt.persisted_stream_time = rt.store.stream_time();
            }
        }
        metrics.batch_commits.with_label_values(&[&name]).inc();
        let ms = |a: Instant, b: Instant| b.duration_since(a).as_millis() as u64;
        tracing::debug!(
            processor = %name, records = batch_len, outputs = output_count, changelog = changelog_count, changelog_bytes,
            process_ms = ms(t_start, t_processed), encode_ms = ms(t_processed, t_encoded), produce_ms = ms(t_encoded, t_outputs),
            changelog_ms = ms(t_outputs, t_changelog), commit_ms = ms(t_changelog, Instant::now()),
            "batch committed"
        );
        Ok(())
    }

    /// The changelog records of a batch: one per touched key, and one stream-time marker per
    /// partition whose clock advanced, all written at the partition's position after the batch.
    async fn changelog_records(&mut self, partitions: &BTreeSet<i32>) -> anyhow::Result<(Vec<OutRecord>, Vec<OutRecord>)> {
        let (mut keys, mut markers) = (Vec::new(), Vec::new());
        for p in partitions {
            let rt = self.partitions.get_mut(p).ok_or_else(|| anyhow!("partition {p} has no store"))?;
            let (stream_time, position) = (rt.store.stream_time(), rt.store.position().clone());
            for key in rt.store.take_touched() {
                let entry = rt.store.get(&key).ok_or_else(|| anyhow!("touched key {key} has no entry"))?;
                let json = restore::store_record_json(&key, entry, stream_time, &position)?;
                let payload = self.codec.encode_json(&self.spec.changelog, &json).await.context("encoding changelog record")?;
                keys.push(OutRecord { topic: self.spec.changelog.clone(), partition: Some(*p), key: Some(key), payload: Some(payload), headers: make_headers(&[]) });
            }
            if stream_time > rt.persisted_stream_time {
                let payload = self.codec.encode_json(&self.spec.changelog, &restore::stream_time_json(stream_time, &position)).await.context("encoding stream time")?;
                markers.push(OutRecord {
                    topic: self.spec.changelog.clone(),
                    partition: Some(*p),
                    key: Some(crate::store::STREAM_TIME_KEY.to_string()),
                    payload: Some(payload),
                    headers: make_headers(&[]),
                });
            }
        }
        Ok((keys, markers))
    }

    /// Produces changelog records (acked) and remembers how far each partition's changelog goes.
    /// `crash_after` is the crash-test failpoint's budget: the process dies once that many
    /// changelog records of the batch were acked.
    async fn send_changelog(&mut self, mut records: Vec<OutRecord>, crash_after: &mut Option<usize>) -> anyhow::Result<()> {
        if let Some(k) = crash_after {
            if *k < records.len() {
                records.truncate(*k);
                self.writer.send(records).await.context("producing changelog")?;
                failpoint::crash("after the planned share of the batch's changelog records was acked");
            }
            *k -= records.len();
        }
        if records.is_empty() {
            return Ok(());
        }
        for (partition, offset) in self.writer.send(records).await.context("producing changelog")? {
            if let Some(rt) = self.partitions.get_mut(&partition) {
                rt.changelog_next = rt.changelog_next.max(offset + 1);
            }
        }
        Ok(())
    }
}

impl<P: Processor> BatchCommit for ProcessorEngine<P> {
    type Context = RebalanceTracker;

    fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    fn consumer(&mut self) -> anyhow::Result<Consumer_> {
        self.new_consumer()
    }

    async fn commit(&mut self, batch: Batch<'_, RebalanceTracker>) -> anyhow::Result<()> {
        self.handle(batch.consumer, batch.records).await
    }

    /// Aborts the transaction and drops the stores the batch mutated; the others still hold
    /// durable state and are kept (caught up with the changelog when needed again).
    async fn discard(&mut self) {
        if let Err(e) = self.writer.abort() {
            tracing::error!(processor = %self.spec.name, error = format!("{e:#}"), "aborting the batch failed");
        }
        for p in std::mem::take(&mut self.in_flight) {
            self.partitions.remove(&p);
        }
        tracing::info!(processor = %self.spec.name, "rebuilding the failed batch's partitions from the changelog; resuming from the committed offsets");
    }

    fn take_pending(&mut self) -> Vec<OwnedMessage> {
        std::mem::take(&mut self.pending)
    }
}

/// A ready store for partition `p`: `kept` caught up with the changelog's tail, or a fresh
/// restore of the whole changelog.
async fn prepare_partition<S>(settings: &EngineSettings, spec: &ComponentSpec, codec: &Codec, p: i32, kept: Option<PartitionRuntime<S>>) -> anyhow::Result<PartitionRuntime<S>>
where
    S: serde::de::DeserializeOwned + Clone + Default,
{
    match kept {
        Some(mut rt) => {
            let started = Instant::now();
            rt.store.begin_catch_up();
            let report = restore::restore_into(&settings.bootstrap, &spec.changelog, p, Some(rt.changelog_next), &mut rt.store, codec, settings.restore_deadline).await?;
            tracing::info!(processor = %spec.name, partition = p, records = report.records, taken = report.records - report.stale, took_ms = started.elapsed().as_millis() as u64, "kept store caught up with the changelog");
            Ok(PartitionRuntime::new(rt.store, report.next_offset.max(rt.changelog_next)))
        }
        None => {
            let (store, report) = restore::restore_partition(&settings.bootstrap, &spec.changelog, p, codec, &spec.name, settings.restore_deadline).await?;
            Ok(PartitionRuntime::new(store, report.next_offset))
        }
    }
}

fn assigned_set(consumer: &Consumer_) -> BTreeSet<(String, i32)> {
    consumer.assignment().map(|tpl| tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()).unwrap_or_default()
}
