//! Enrichment stages (`[stages.<name>]` in topology.toml): stateless consumers that may call
//! outside services — the offline NLU reading the catalog read model, or an LLM — and log what they
//! resolved as an event. Everything downstream reads only that logged event, so replays never call
//! the service again (ARCHITECTURE.md, "LLM/NLU results are events").
//!
//! Delivery goes through the same exactly-once writer as the processors ([`crate::exactly_once`]).
//! Per batch: resolve every record first (outside any transaction: a model call may be slow), then
//! produce the outputs and dead letters and commit the offsets — one Kafka transaction in
//! `transactions` mode, acked produce then commit in `idempotent-effects` mode. A crash before the
//! commit resolves the batch again; in `idempotent-effects` the outputs carry the same event ids
//! (derived from the input's), so the keyed processors downstream drop the copies by id. A
//! transient failure (the read model or the model endpoint is down) retries the batch without
//! advancing; a permanent one dead-letters the record with provenance headers and moves on.
//!
//! A copy of an input already resolved (same event id, e.g. a redelivered webhook the gateway
//! logged again) is skipped: one extraction per message. Each instance remembers the ids of the
//! last [`resolved::WINDOW`] records of its partitions, read back from the input log when it gets a
//! partition ([`resolved`]), so this holds across restarts and rebalances too.

mod resolved;

use crate::batch_loop::{self, Batch, BatchCommit, LoopSettings};
use crate::codec::Codec;
use crate::exactly_once::{self, BatchWriter, Mode};
use crate::kafka::{group_consumer, OutRecord, RebalanceTracker};
use crate::metrics::Metrics;
use crate::topology::ComponentSpec;
use anyhow::{anyhow, Context};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use serde::de::DeserializeOwned;
use serde::Serialize;
use souk_schemas::StreamEvent;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// One event a stage resolved, for the logical output `output` under `key`.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOutput<O> {
    /// Logical output name (a key of the stage's `outputs`).
    pub output: &'static str,
    /// Record key (`<tenant>|<entity>`).
    pub key: String,
    /// The event; its envelope must derive from the input's so a re-run yields the same id.
    pub event: O,
}

/// Why a record could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The record itself is bad (dead-letter it and go on).
    #[error("{0}")]
    Permanent(String),
    /// A dependency failed; retry the batch later without advancing.
    #[error("{0:#}")]
    Transient(anyhow::Error),
}

/// A stateless enrichment step from one input record to zero or more logged events.
pub trait Stage: Send + Sync + 'static {
    /// The union of events on the input topics.
    type Input: DeserializeOwned + StreamEvent + Send + Sync;
    /// The union of events it writes.
    type Output: Serialize + StreamEvent + Send + Sync;

    /// The stage's name in topology.toml.
    fn name(&self) -> &'static str;

    /// Runs once before each batch is resolved (e.g. catch a global table up with its topic, so
    /// the batch sees every record committed before it); an error retries the batch.
    fn before_batch(&self) -> impl Future<Output = Result<(), StageError>> + Send {
        async { Ok(()) }
    }

    /// Resolves one keyed input.
    fn resolve(&self, key: &str, input: &Self::Input) -> impl Future<Output = Result<Vec<StageOutput<Self::Output>>, StageError>> + Send;
}

type StageConsumer = StreamConsumer<RebalanceTracker>;

/// Runs one stage on Kafka until `shutdown` turns true.
pub struct StageRunner<S: Stage> {
    stage: Arc<S>,
    spec: ComponentSpec,
    codec: Arc<Codec>,
    bootstrap: String,
    writer: BatchWriter,
    resolved: resolved::Resolved,
    /// Max records per batch.
    pub batch_size: usize,
    /// How long to wait for more records once a batch has begun.
    pub batch_wait: Duration,
    /// Lag without progress for this long recreates the consumer.
    pub liveness_after: Duration,
    /// `group.instance.id` when the instance id is stable (see
    /// [`crate::engine::EngineSettings::static_membership`]).
    pub static_instance: Option<String>,
}

impl<S: Stage> StageRunner<S> {
    /// A runner for `stage` as declared by `spec`, committing in `mode` as instance `instance`
    /// (see [`crate::engine::EngineSettings::instance`]).
    pub fn new(stage: Arc<S>, spec: ComponentSpec, codec: Arc<Codec>, bootstrap: &str, mode: Mode, instance: &str) -> anyhow::Result<Self> {
        let writer = BatchWriter::new(mode, bootstrap, &exactly_once::transactional_id(&spec.group_id, instance))?;
        let batch_size = spec.batch_size.unwrap_or(200);
        Ok(StageRunner {
            stage,
            spec,
            codec,
            bootstrap: bootstrap.to_string(),
            writer,
            resolved: resolved::Resolved::default(),
            batch_size,
            batch_wait: Duration::from_millis(20),
            liveness_after: Duration::from_secs(20),
            static_instance: None,
        })
    }

    fn new_consumer(&mut self) -> anyhow::Result<StageConsumer> {
        self.resolved.clear();
        let tracker = RebalanceTracker { component: self.spec.name.clone(), ..Default::default() };
        let mut config = group_consumer(&self.bootstrap, &self.spec.group_id);
        if let Some(instance) = &self.static_instance {
            config.set("group.instance.id", exactly_once::transactional_id(&self.spec.group_id, instance));
        }
        let consumer: StageConsumer = config.create_with_context(tracker).context("consumer")?;
        let topics: Vec<&str> = self.spec.inputs.iter().map(|i| i.topic.as_str()).collect();
        consumer.subscribe(&topics).context("subscribe")?;
        Ok(consumer)
    }

    /// The loop ([`crate::batch_loop`]): collect a batch, resolve it, produce, commit; a failed
    /// batch is retried from the committed offsets with the shared backoff.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let mut settings = LoopSettings::new(&self.bootstrap);
        settings.batch_size = self.batch_size;
        settings.batch_wait = self.batch_wait;
        settings.liveness_after = self.liveness_after;
        tracing::info!(stage = %self.spec.name, inputs = ?self.spec.input_topics(), mode = %self.writer.mode(), "stage started");
        batch_loop::run(self, settings, shutdown).await
    }

    /// The event id of an input record: its header, else its decoded envelope.
    async fn event_id(&self, msg: &OwnedMessage) -> Option<String> {
        if let Some(id) = resolved::header_id(msg) {
            return Some(id);
        }
        let event = self.codec.decode::<S::Input>(msg.payload()?).await.ok()?;
        Some(event.envelope().event_id.clone())
    }

    /// Makes sure every partition of the batch has a memory of what was resolved before it:
    /// partitions revoked or assigned since the last batch are forgotten, unknown ones read back.
    async fn recall(&mut self, consumer: &StageConsumer, batch: &[OwnedMessage]) -> anyhow::Result<()> {
        let tracker = consumer.context();
        let moved: Vec<resolved::Part> = [&tracker.revoked, &tracker.assigned].iter().flat_map(|m| std::mem::take(&mut *m.lock().expect("rebalance tracker lock"))).collect();
        self.resolved.forget(moved);
        let mut firsts: BTreeMap<resolved::Part, i64> = BTreeMap::new();
        for msg in batch {
            firsts.entry((msg.topic().to_string(), msg.partition())).or_insert(msg.offset());
        }
        let unknown = self.resolved.unknown(&firsts);
        if unknown.is_empty() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let before = resolved::records_before(&self.bootstrap, &self.spec.group_id, unknown.clone()).await?;
        let mut ids: BTreeMap<resolved::Part, Vec<String>> = unknown.keys().map(|p| (p.clone(), Vec::new())).collect();
        for msg in &before {
            if let Some(id) = self.event_id(msg).await {
                ids.entry((msg.topic().to_string(), msg.partition())).or_default().push(id);
            }
        }
        tracing::info!(stage = %self.spec.name, partitions = ?unknown, records = before.len(), took_ms = started.elapsed().as_millis() as u64, "recalled what was resolved before");
        for (part, ids) in ids {
            self.resolved.remember(&part, ids);
        }
        Ok(())
    }

    async fn process_batch(&mut self, consumer: &StageConsumer, batch: Vec<OwnedMessage>) -> anyhow::Result<()> {
        self.recall(consumer, &batch).await?;
        match self.stage.before_batch().await {
            Ok(()) => {}
            Err(StageError::Transient(e)) => return Err(e).context("preparing the batch"),
            Err(StageError::Permanent(e)) => anyhow::bail!("preparing the batch: {e}"),
        }
        let metrics = Metrics::global();
        let name = &self.spec.name;
        let mut records = Vec::new();
        let mut offsets: BTreeMap<(String, i32), i64> = BTreeMap::new();
        let mut resolved_now: BTreeMap<resolved::Part, Vec<String>> = BTreeMap::new();
        for msg in &batch {
            let part = (msg.topic().to_string(), msg.partition());
            offsets.insert(part.clone(), msg.offset() + 1);
            let key = msg.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default();
            let resolved = match msg.payload() {
                None => Err(StageError::Permanent("null value".into())),
                Some(payload) => match self.codec.decode::<S::Input>(payload).await {
                    Err(e) if e.is_retriable() => return Err(e).context("decoding input"),
                    Err(e) => Err(StageError::Permanent(e.to_string())),
                    Ok(event) if event.is_tick() => Ok(Vec::new()),
                    Ok(_) if key.is_empty() => Err(StageError::Permanent("record has no key".into())),
                    Ok(event) => {
                        let id = event.envelope().event_id.clone();
                        let seen = resolved_now.get(&part).is_some_and(|ids| ids.contains(&id));
                        if seen || self.resolved.contains(&part, &id) {
                            metrics.records_skipped.with_label_values(&[name, "AlreadyResolved"]).inc();
                            tracing::info!(stage = %name, event_id = %id, partition = msg.partition(), offset = msg.offset(), "a copy of an input already resolved; skipped");
                            continue;
                        }
                        resolved_now.entry(part.clone()).or_default().push(id);
                        self.stage.resolve(&key, &event).await
                    }
                },
            };
            match resolved {
                Ok(outputs) => {
                    for out in outputs {
                        let topic = self.spec.outputs.get(out.output).ok_or_else(|| anyhow!("stage {name} emitted to undeclared output {}", out.output))?;
                        let payload = self.codec.encode(topic, &out.event).await.with_context(|| format!("encoding output for {topic}"))?;
                        metrics.records_out.with_label_values(&[name, topic]).inc();
                        records.push(OutRecord::event(topic, &out.key, payload, out.event.envelope()));
                    }
                }
                Err(StageError::Transient(e)) => return Err(e).context("resolving a record"),
                Err(StageError::Permanent(error)) => {
                    metrics.dlq_records.with_label_values(&[name]).inc();
                    records.push(crate::dead_letter::dead_letter_of(&self.spec.dlq, msg, &error, name));
                }
            }
        }
        self.writer.begin()?;
        self.writer.send(records).await.context("producing outputs")?;
        let mut tpl = TopicPartitionList::new();
        for ((topic, partition), next) in &offsets {
            tpl.add_partition_offset(topic, *partition, Offset::Offset(*next))?;
        }
        self.writer.commit(consumer, &tpl)?;
        metrics.batch_commits.with_label_values(&[name]).inc();
        for (part, ids) in resolved_now {
            self.resolved.remember(&part, ids);
        }
        Ok(())
    }
}

impl<S: Stage> BatchCommit for StageRunner<S> {
    type Context = RebalanceTracker;

    fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    fn consumer(&mut self) -> anyhow::Result<StageConsumer> {
        self.new_consumer()
    }

    async fn commit(&mut self, batch: Batch<'_, RebalanceTracker>) -> anyhow::Result<()> {
        if batch.records.is_empty() {
            return Ok(());
        }
        self.process_batch(batch.consumer, batch.records).await
    }

    async fn discard(&mut self) {
        if let Err(e) = self.writer.abort() {
            tracing::error!(stage = %self.spec.name, error = format!("{e:#}"), "aborting the batch failed");
        }
    }
}
