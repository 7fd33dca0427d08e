//! The search sink's loop, exactly-once in effect without Kafka transactions. Per batch:
//! 1. drop records below the in-memory positions (= the last commit's payload);
//! 2. decode (a registry outage fails the batch; undecodable ⇒ dead letter);
//! 3. produce the dead letters with provenance headers and wait for the acks;
//! 4. per upsert `delete_term(doc_id)` + `add_document`, then `prepare_commit`, `set_payload(next
//!    offsets)`, `commit`: documents and offsets become durable in one `meta.json` write;
//! 5. commit the same offsets to Kafka (informational only).
//!
//! A failure rolls the writer back, drops the consumer and, after a backoff, assigns every input
//! partition again at the committed positions. Since an upsert replaces the whole document,
//! replaying a record after a crash changes nothing. Dead letters are at-least-once across restarts.

use super::documents::{upsert_for, Change, Input, InputTopic};
use super::positions::{self, Positions, Tp};
use anyhow::{anyhow, Context};
use rdkafka::consumer::{CommitMode, Consumer, DefaultConsumerContext, StreamConsumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureProducer;
use rdkafka::{Message, Offset, TopicPartitionList};
use souk_projections::search::SearchSchema;
use souk_runtime::batch_loop::{self, Batch, BatchCommit, LoopSettings};
use souk_runtime::codec::{Codec, CodecError};
use souk_runtime::dead_letter::{dead_letter, Provenance};
use souk_runtime::kafka::{producer, send_all, OutRecord};
use souk_runtime::metrics::Metrics;
use souk_runtime::privacy::KeyRing;
use souk_runtime::topology::ComponentSpec;
use souk_schemas::social::SocialEvent;
use souk_schemas::whatsapp::{InboundEvent, OutboundEvent};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Index, IndexWriter, Term};
use tokio::sync::watch;

/// Memory budget of the index writer.
pub const WRITER_MEMORY: usize = 50_000_000;

/// The consume-loop settings of the search sink: 500 records per tantivy commit, 100 ms to fill a
/// batch, the shared backoff and liveness.
pub fn search_settings(bootstrap: &str) -> LoopSettings {
    let mut settings = LoopSettings::new(bootstrap);
    settings.batch_size = 500;
    settings.batch_wait = Duration::from_millis(100);
    settings
}

/// A record after decoding.
enum Decoded {
    Apply(Vec<Change>),
    Dead(OwnedMessage, String),
}

/// Runs the search sink over one index directory. The directory's tantivy lock admits one writer,
/// so exactly one instance runs per index dir; it reads every partition of its inputs itself
/// (manual assignment, no group rebalancing).
pub struct SearchSink {
    spec: ComponentSpec,
    /// Input topics (real names) with what each carries, and partition counts.
    inputs: Vec<(String, InputTopic, i32)>,
    codec: Arc<Codec>,
    settings: LoopSettings,
    schema: SearchSchema,
    writer: Arc<Mutex<IndexWriter>>,
    positions: Positions,
    producer: FutureProducer,
    dead_lettered: BTreeSet<(Tp, i64)>,
    /// Opens `social.events`' sealed texts.
    ring: Option<Arc<KeyRing>>,
}

impl SearchSink {
    /// Opens (or creates) the index in `index_dir` and takes its writer lock; fails if another
    /// sink holds it, or if it reads `social.events` without a key `ring`.
    pub fn open(spec: ComponentSpec, codec: Arc<Codec>, ring: Option<Arc<KeyRing>>, index_dir: PathBuf, mut settings: LoopSettings) -> anyhow::Result<SearchSink> {
        settings.batch_size = spec.batch_size.unwrap_or(settings.batch_size);
        let inputs = spec
            .inputs
            .iter()
            .map(|i| {
                let what = InputTopic::from_declared(&i.declared).ok_or_else(|| anyhow!("sink {}: the search index does not know how to index {}", spec.name, i.declared))?;
                Ok((i.topic.clone(), what, i.partitions))
            })
            .collect::<anyhow::Result<Vec<(String, InputTopic, i32)>>>()?;
        if ring.is_none() && inputs.iter().any(|(_, what, _)| *what == InputTopic::Social) {
            anyhow::bail!("sink {}: social.events is sealed; the sink needs the privacy.keys table (tables = [\"privacy.keys\"])", spec.name);
        }
        let index: Index = souk_projections::search::schema::open_or_create(&index_dir)?;
        let writer = index
            .writer_with_num_threads(1, WRITER_MEMORY)
            .with_context(|| format!("taking the writer lock of {} (one search sink per index directory; is another one running?)", index_dir.display()))?;
        let positions = positions::load(&index)?;
        let producer = producer(&settings.bootstrap).context("DLQ producer")?;
        Ok(SearchSink { spec, inputs, codec, settings, schema: SearchSchema::new(), writer: Arc::new(Mutex::new(writer)), positions, producer, dead_lettered: BTreeSet::new(), ring })
    }

    /// A consumer assigned to every input partition at the committed positions (or the beginning).
    fn assigned_consumer(&self) -> anyhow::Result<StreamConsumer> {
        let consumer: StreamConsumer = souk_runtime::admin::client_config(&self.settings.bootstrap)
            .set("group.id", &self.spec.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .create()
            .context("search sink consumer")?;
        let mut tpl = TopicPartitionList::new();
        for (topic, _, partitions) in &self.inputs {
            for p in 0..*partitions {
                let offset = self.positions.get(&(topic.clone(), p)).map(|o| Offset::Offset(*o)).unwrap_or(Offset::Beginning);
                tpl.add_partition_offset(topic, p, offset)?;
            }
        }
        consumer.assign(&tpl).context("assigning the search sink's partitions")?;
        tracing::info!(sink = %self.spec.name, positions = ?self.positions, "search sink assigned at its committed positions");
        Ok(consumer)
    }

    /// The loop ([`souk_runtime::batch_loop`]): collect a batch, index it, commit documents and
    /// offsets together, repeat.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
        let settings = self.settings.clone();
        batch_loop::run(self, settings, shutdown).await
    }

    async fn rollback(&self) {
        let writer = self.writer.clone();
        let result = tokio::task::spawn_blocking(move || writer.lock().map_err(|_| anyhow!("writer lock poisoned"))?.rollback().map_err(anyhow::Error::from)).await;
        if let Err(e) = result.map_err(anyhow::Error::from).and_then(|r| r) {
            tracing::error!(sink = %self.spec.name, error = format!("{e:#}"), "rolling back the index writer failed");
        }
    }

    async fn process_batch(&mut self, consumer: &StreamConsumer, batch: Vec<OwnedMessage>) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let metrics = Metrics::global();
        let name = self.spec.name.clone();
        let mut next = self.positions.clone();
        let mut decoded = Vec::with_capacity(batch.len());
        let mut skipped = 0u64;
        for msg in batch {
            let tp = (msg.topic().to_string(), msg.partition());
            let cursor = next.entry(tp.clone()).or_insert(0);
            if msg.offset() < *cursor {
                skipped += 1;
                continue;
            }
            *cursor = msg.offset() + 1;
            decoded.push(self.decode(msg).await?);
        }
        if skipped > 0 {
            metrics.records_skipped.with_label_values(&[name.as_str(), "below_stored_offset"]).inc_by(skipped);
        }
        // Dead letters first, acked before the offsets move past them.
        let mut dead: Vec<OutRecord> = Vec::new();
        let mut produced = Vec::new();
        let mut erased = false;
        let mut changes = Vec::new();
        for d in decoded {
            if let Decoded::Apply(c) = &d {
                erased |= c.iter().any(|c| matches!(c, Change::ForgetCustomer { .. }));
            }
            match d {
                Decoded::Apply(c) => changes.extend(c),
                Decoded::Dead(msg, error) => {
                    let id = ((msg.topic().to_string(), msg.partition()), msg.offset());
                    if !self.dead_lettered.contains(&id) {
                        let p = Provenance { topic: msg.topic(), partition: msg.partition(), offset: msg.offset(), error: &error, component: &name };
                        dead.push(dead_letter(&self.spec.dlq, &p, msg.key(), msg.payload()));
                        produced.push(id);
                    }
                }
            }
        }
        if !dead.is_empty() {
            let count = dead.len() as u64;
            send_all(&self.producer, dead).await.context("producing to the search sink's dead-letter topic")?;
            metrics.dlq_records.with_label_values(&[name.as_str()]).inc_by(count);
            self.dead_lettered.extend(produced);
        }
        // Index and commit with the new positions as the payload.
        let (writer, schema, payload) = (self.writer.clone(), self.schema.clone(), positions::encode(&next));
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            let mut w = writer.lock().map_err(|_| anyhow!("writer lock poisoned"))?;
            for change in changes {
                match change {
                    Change::Put(u) => {
                        w.delete_term(Term::from_field_text(schema.doc_id, &u.doc_id));
                        if let Some(doc) = u.doc {
                            w.add_document(doc).with_context(|| format!("indexing {}", u.doc_id))?;
                        }
                    }
                    Change::ForgetCustomer { tenant, customer } => {
                        w.delete_query(customer_messages(&schema, &tenant, &customer)).context("deleting an erased customer's documents")?;
                    }
                }
            }
            let mut prepared = w.prepare_commit().context("preparing the index commit")?;
            prepared.set_payload(&payload);
            prepared.commit().context("committing the index")?;
            if erased {
                purge_deleted(&mut w);
            }
            Ok(())
        })
        .await
        .context("index task")??;
        metrics.batch_commits.with_label_values(&[name.as_str()]).inc();
        let advanced: BTreeMap<Tp, i64> = next.iter().filter(|(tp, o)| self.positions.get(*tp) != Some(*o)).map(|(tp, o)| (tp.clone(), *o)).collect();
        self.dead_lettered.retain(|(tp, offset)| next.get(tp).is_none_or(|n| offset >= n));
        self.positions = next;
        if !advanced.is_empty() {
            let mut tpl = TopicPartitionList::new();
            for ((topic, partition), offset) in &advanced {
                tpl.add_partition_offset(topic, *partition, Offset::Offset(*offset))?;
            }
            if let Err(e) = consumer.commit(&tpl, CommitMode::Async) {
                tracing::debug!(sink = %name, error = %e, "informational Kafka offset commit failed");
            }
        }
        Ok(())
    }

    async fn decode(&self, msg: OwnedMessage) -> anyhow::Result<Decoded> {
        let Some(what) = self.inputs.iter().find(|(t, _, _)| t == msg.topic()).map(|(_, w, _)| *w) else {
            return Ok(Decoded::Dead(msg, "record of a topic the sink does not read".into()));
        };
        let Some(payload) = msg.payload() else {
            return Ok(Decoded::Dead(msg, "null value".into()));
        };
        let input: Result<Input, CodecError> = match what {
            InputTopic::Inventory => self.codec.decode(payload).await.map(Input::Inventory),
            InputTopic::Inbound => self.codec.decode::<InboundEvent>(payload).await.map(Input::Inbound),
            InputTopic::Outbound => self.codec.decode::<OutboundEvent>(payload).await.map(Input::Outbound),
            InputTopic::Partners => self.codec.decode(payload).await.map(Input::Partner),
            InputTopic::Products => self.codec.decode(payload).await.map(Input::Product),
            InputTopic::Ranking => self.codec.decode(payload).await.map(Input::Ranking),
            InputTopic::Chat => self.codec.decode(payload).await.map(Input::Chat),
            InputTopic::NegotiationInputs => self.codec.decode(payload).await.map(Input::NegotiationIn),
            InputTopic::NegotiationEvents => self.codec.decode(payload).await.map(Input::NegotiationOut),
            InputTopic::Social => {
                let ring = self.ring.as_ref().expect("checked when opened");
                return match self.codec.decode::<SocialEvent>(payload).await {
                    Ok(event) => Ok(match super::social::changes(&self.schema, ring, &event).await? {
                        Ok(changes) => Decoded::Apply(changes),
                        Err(why) => Decoded::Dead(msg, why),
                    }),
                    Err(e) if e.is_retriable() => Err(e).context("decoding input (registry unavailable)"),
                    Err(e) => Ok(Decoded::Dead(msg, e.to_string())),
                };
            }
        };
        match input {
            Ok(input) => Ok(Decoded::Apply(upsert_for(&self.schema, &input).map(Change::Put).into_iter().collect())),
            Err(e) if e.is_retriable() => Err(e).context("decoding input (registry unavailable)"),
            Err(e) => Ok(Decoded::Dead(msg, e.to_string())),
        }
    }
}

/// Rewrites every segment without its deleted documents and removes the old files, so an erased
/// customer's words leave the disk, not only the search results (a tantivy delete only marks a
/// document). A merge that cannot start now (a background merge holds a segment) is retried; one
/// that still fails leaves the documents deleted-but-present until the next merge, and says so.
fn purge_deleted(writer: &mut IndexWriter) {
    for attempt in 1..=20 {
        let merged = match writer.index().searchable_segment_ids() {
            Ok(ids) if ids.is_empty() => Ok(()),
            Ok(ids) => writer.merge(&ids).wait().map(drop),
            Err(e) => Err(e),
        };
        match merged.and_then(|()| writer.garbage_collect_files().wait().map(drop)) {
            Ok(()) => return,
            Err(e) if attempt < 20 => {
                tracing::debug!(error = %e, attempt, "purging deleted documents: retrying");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => tracing::warn!(error = %e, "purging an erased customer's deleted documents failed; the next erase or merge removes them"),
        }
    }
}

/// Every message document of `customer` in `tenant`.
fn customer_messages(schema: &SearchSchema, tenant: &str, customer: &str) -> Box<dyn Query> {
    let term = |field, value: &str| -> (Occur, Box<dyn Query>) { (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic))) };
    Box::new(BooleanQuery::new(vec![term(schema.tenant, tenant), term(schema.kind, souk_projections::search::DocKind::Message.as_str()), term(schema.customer, customer)]))
}

impl BatchCommit for SearchSink {
    type Context = DefaultConsumerContext;

    fn spec(&self) -> &ComponentSpec {
        &self.spec
    }

    fn consumer(&mut self) -> anyhow::Result<StreamConsumer> {
        self.assigned_consumer()
    }

    async fn commit(&mut self, batch: Batch<'_, DefaultConsumerContext>) -> anyhow::Result<()> {
        self.process_batch(batch.consumer, batch.records).await
    }

    async fn discard(&mut self) {
        self.rollback().await;
    }
}
