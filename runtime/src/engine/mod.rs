//! The Kafka engine of a keyed processor (ARCHITECTURE §3): per batch and input partition,
//! produce the outputs and wait for the acks, then the changelog records of the touched keys, then
//! commit the consumer offsets. No Kafka transactions are needed: ids are deterministic, each key's
//! changelog record carries its applied offsets and recent ids, and replays are skipped per key.
//! On any failure the in-memory stores of the batch are discarded and rebuilt from the changelog,
//! and consumption resumes from the committed offsets.

pub mod liveness;
pub mod restore;

use crate::codec::Codec;
use crate::kafka::{collect_batch, headers, make_headers, producer, send_all, OutRecord, RebalanceTracker};
use crate::metrics::Metrics;
use crate::processor::{Emitted, Processor};
use crate::store::{InputRecord, PartitionStore, StepOutcome};
use crate::topology::Topology;
use anyhow::{anyhow, Context};
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Where a processor reads and writes, resolved from topology.toml (with the topic prefix).
#[derive(Debug, Clone)]
pub struct ProcessorSpec {
    /// Processor name.
    pub name: String,
    /// Input topics (co-partitioned).
    pub inputs: Vec<String>,
    /// Logical output name → topic.
    pub outputs: BTreeMap<String, String>,
    /// Compacted changelog topic of its store.
    pub changelog: String,
    /// Dead-letter topic.
    pub dlq: String,
    /// Consumer group shared by all instances.
    pub group_id: String,
    /// Max records per batch.
    pub batch_size: usize,
}

impl ProcessorSpec {
    /// Resolves processor `name` from the topology.
    pub fn from_topology(topology: &Topology, name: &str) -> anyhow::Result<ProcessorSpec> {
        let decl = topology.processors.get(name).ok_or_else(|| anyhow!("processor {name} is not declared in topology.toml"))?;
        Ok(ProcessorSpec {
            name: name.to_string(),
            inputs: decl.inputs.iter().map(|i| topology.topic(i.get_ref())).collect(),
            outputs: decl.outputs.iter().map(|(k, v)| (k.clone(), topology.topic(v.get_ref()))).collect(),
            changelog: topology.changelog_topic(name),
            dlq: topology.dlq_topic(name),
            group_id: topology.group_id(name),
            batch_size: decl.batch_size.unwrap_or(500),
        })
    }
}

/// Tunables of the engine loop.
#[derive(Debug, Clone)]
pub struct EngineSettings {
    /// Kafka bootstrap servers.
    pub bootstrap: String,
    /// How long to wait for more records once a batch has begun.
    pub batch_wait: Duration,
    /// A partition with lag and no progress for this long is reported and its consumer recreated.
    pub liveness_after: Duration,
    /// Upper bound for rebuilding one partition's store.
    pub restore_deadline: Duration,
}

impl EngineSettings {
    /// Defaults for `bootstrap`.
    pub fn new(bootstrap: &str) -> EngineSettings {
        EngineSettings { bootstrap: bootstrap.to_string(), batch_wait: Duration::from_millis(20), liveness_after: Duration::from_secs(20), restore_deadline: Duration::from_secs(300) }
    }
}

struct PartitionRuntime<S> {
    store: PartitionStore<S>,
    /// Per input topic, the highest offset any restored key had applied: records at or below it
    /// that still produce outputs are re-emissions (identical ids) after a crash.
    replay_until: BTreeMap<String, i64>,
    /// Stream time as of the last changelog write of this partition.
    persisted_stream_time: i64,
}

type Consumer_ = StreamConsumer<RebalanceTracker>;

/// Runs one processor on Kafka until `shutdown` turns true.
pub struct ProcessorEngine<P: Processor> {
    processor: Arc<P>,
    spec: ProcessorSpec,
    codec: Arc<Codec>,
    settings: EngineSettings,
    producer: FutureProducer,
    partitions: HashMap<i32, PartitionRuntime<P::State>>,
}


impl<P: Processor> ProcessorEngine<P> {
    /// An engine for `processor` as declared by `spec`.
    pub fn new(processor: Arc<P>, spec: ProcessorSpec, codec: Arc<Codec>, settings: EngineSettings) -> anyhow::Result<Self> {
        let producer = producer(&settings.bootstrap)?;
        Ok(ProcessorEngine { processor, spec, codec, settings, producer, partitions: HashMap::new() })
    }

    fn consumer(&self) -> anyhow::Result<Consumer_> {
        let tracker = RebalanceTracker { component: self.spec.name.clone(), ..Default::default() };
        let consumer: Consumer_ = crate::admin::client_config(&self.settings.bootstrap)
            .set("group.id", &self.spec.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Range keeps partition p of every co-partitioned input on the same instance.
            .set("partition.assignment.strategy", "range")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("max.poll.interval.ms", "120000")
            .create_with_context(tracker)
            .context("consumer")?;
        let topics: Vec<&str> = self.spec.inputs.iter().map(String::as_str).collect();
        consumer.subscribe(&topics).context("subscribe")?;
        Ok(consumer)
    }

    /// The loop: collect a batch, process it with the exactly-once-effects protocol, repeat.
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let metrics = Metrics::global();
        let mut consumer = self.consumer()?;
        let probe = liveness::Probe::start(&self.settings.bootstrap, &self.spec.group_id, &self.spec.inputs, &self.spec.name, self.settings.liveness_after)?;
        tracing::info!(processor = %self.spec.name, inputs = ?self.spec.inputs, group = %self.spec.group_id, "processor started");
        loop {
            if *shutdown.borrow() {
                break;
            }
            let batch = tokio::select! {
                b = collect_batch(&consumer, self.spec.batch_size, self.settings.batch_wait) => b,
                _ = shutdown.changed() => break,
            };
            self.forget_revoked(&consumer);
            let assigned = assigned_set(&consumer);
            let batch: Vec<OwnedMessage> = batch.into_iter().filter(|m| assigned.contains(&(m.topic().to_string(), m.partition()))).collect();
            if !batch.is_empty() {
                if let Err(e) = self.process_batch(&consumer, batch).await {
                    metrics.batch_failures.with_label_values(&[&self.spec.name]).inc();
                    tracing::error!(processor = %self.spec.name, error = format!("{e:#}"), "batch failed; rebuilding state from the changelog and resuming from committed offsets");
                    self.partitions.clear();
                    drop(consumer);
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    consumer = self.consumer()?;
                    continue;
                }
            }
            if probe.take_stalled() {
                self.partitions.clear();
                drop(consumer);
                consumer = self.consumer()?;
            }
        }
        tracing::info!(processor = %self.spec.name, "processor stopping");
        consumer.unsubscribe();
        Ok(())
    }

    fn forget_revoked(&mut self, consumer: &Consumer_) {
        let revoked: BTreeSet<(String, i32)> = consumer.context().revoked.lock().map(|mut r| std::mem::take(&mut *r)).unwrap_or_default();
        for (_, p) in revoked {
            if self.partitions.remove(&p).is_some() {
                tracing::info!(processor = %self.spec.name, partition = p, "store released after revocation");
            }
        }
    }

    async fn ensure_restored(&mut self, partition: i32) -> anyhow::Result<()> {
        if self.partitions.contains_key(&partition) {
            return Ok(());
        }
        let store: PartitionStore<P::State> = restore::restore_partition(&self.settings.bootstrap, &self.spec.changelog, partition, &self.codec, &self.spec.name, self.settings.restore_deadline).await?;
        let mut replay_until = BTreeMap::new();
        for entry in store.entries().values() {
            for (topic, offset) in &entry.applied_offsets {
                let e = replay_until.entry(topic.clone()).or_insert(*offset);
                *e = (*e).max(*offset);
            }
        }
        let persisted_stream_time = store.stream_time();
        self.partitions.insert(partition, PartitionRuntime { store, replay_until, persisted_stream_time });
        Ok(())
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
            self.ensure_restored(partition).await?;
            offsets.insert((topic.clone(), partition), offset + 1);
            touched_partitions.insert(partition);
            metrics.records_in.with_label_values(&[&name, &partition.to_string()]).inc();
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
            let rt = self.partitions.get_mut(&partition).expect("restored above");
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
        // 1. outputs, acked
        let mut records = Vec::with_capacity(outputs.len());
        for out in &outputs {
            let logical = out.output.unwrap_or_else(|| self.processor.output_name(&out.event));
            let topic = self.spec.outputs.get(logical).ok_or_else(|| anyhow!("processor {name} emitted to undeclared output {logical}"))?;
            let payload = self.codec.encode(topic, &out.event).await.with_context(|| format!("encoding output for {topic}"))?;
            let env = out.event.envelope();
            let hdrs = make_headers(&[(headers::EVENT_ID, &env.event_id), (headers::CORRELATION_ID, &env.correlation_id), (headers::CAUSATION_ID, env.causation_id.as_deref().unwrap_or(""))]);
            metrics.records_out.with_label_values(&[&name, topic]).inc();
            records.push(OutRecord { topic: topic.clone(), partition: None, key: Some(out.key.clone()), payload: Some(payload), headers: hdrs });
        }
        // Dead letters go out with the outputs, before any offset is committed.
        for (msg, error) in &dead {
            metrics.dlq_records.with_label_values(&[&name]).inc();
            records.push(crate::dead_letter::dead_letter_of(&self.spec.dlq, msg, error, &name));
        }
        let output_count = records.len();
        let t_encoded = Instant::now();
        send_all(&self.producer, records).await.context("producing outputs")?;
        let t_outputs = Instant::now();
        if reemitted > 0 {
            metrics.reemitted_outputs.with_label_values(&[&name]).inc_by(reemitted);
            tracing::info!(processor = %name, reemitted, "re-emitted outputs while catching up after restore (identical ids)");
        }
        // 2. changelog of touched keys, acked
        let mut changelog = Vec::new();
        for p in &touched_partitions {
            let rt = self.partitions.get_mut(p).expect("restored");
            let stream_time = rt.store.stream_time();
            if stream_time > rt.persisted_stream_time {
                let payload = self.codec.encode_json(&self.spec.changelog, &restore::stream_time_json(stream_time)).await.context("encoding stream time")?;
                changelog.push(OutRecord { topic: self.spec.changelog.clone(), partition: Some(*p), key: Some(crate::store::STREAM_TIME_KEY.to_string()), payload: Some(payload), headers: make_headers(&[]) });
            }
            for key in rt.store.take_touched() {
                let entry = rt.store.get(&key).expect("touched key exists");
                let json = restore::store_record_json(&key, entry, stream_time)?;
                let payload = self.codec.encode_json(&self.spec.changelog, &json).await.context("encoding changelog record")?;
                changelog.push(OutRecord { topic: self.spec.changelog.clone(), partition: Some(*p), key: Some(key), payload: Some(payload), headers: make_headers(&[]) });
            }
        }
        let (changelog_count, changelog_bytes) = (changelog.len(), changelog.iter().map(|r| r.payload.as_ref().map_or(0, Vec::len)).sum::<usize>());
        let t_changelog_encoded = Instant::now();
        send_all(&self.producer, changelog).await.context("producing changelog")?;
        let t_changelog = Instant::now();
        // 3. consumer offsets
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        tokio::task::block_in_place(|| consumer.commit(&tpl, CommitMode::Sync)).context("committing offsets")?;
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
            changelog_encode_ms = ms(t_outputs, t_changelog_encoded), changelog_ms = ms(t_changelog_encoded, t_changelog), commit_ms = ms(t_changelog, Instant::now()),
            "batch committed"
        );
        Ok(())
    }

}

fn assigned_set(consumer: &Consumer_) -> BTreeSet<(String, i32)> {
    consumer.assignment().map(|tpl| tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect()).unwrap_or_default()
}
