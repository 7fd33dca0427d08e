//! The `sink_offsets` table is the source of truth for where a Postgres sink resumes (ARCHITECTURE.md,
//! "Sinks"); Kafka's committed group offsets are informational only. This module reads, locks and writes
//! those rows, and provides the consumer context whose rebalance hook assigns every newly assigned
//! partition at its stored offset, so a restart, a crash or a moved partition resumes from the DB.

use anyhow::Context;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, RebalanceProtocol};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// (topic, partition).
pub type Tp = (String, i32);

/// Reads the stored next offsets of `sink` for `parts` (partitions without a row are absent).
pub async fn load(conn: &mut PgConnection, sink: &str, parts: &[Tp]) -> anyhow::Result<BTreeMap<Tp, i64>> {
    let topics: Vec<String> = parts.iter().map(|(t, _)| t.clone()).collect();
    let partitions: Vec<i32> = parts.iter().map(|(_, p)| *p).collect();
    let rows: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT o.topic, o.partition, o.next_offset FROM sink_offsets o \
         JOIN UNNEST($2::text[], $3::int[]) AS w(topic, partition) ON w.topic = o.topic AND w.partition = o.partition \
         WHERE o.sink = $1",
    )
    .bind(sink)
    .bind(&topics)
    .bind(&partitions)
    .fetch_all(conn)
    .await
    .with_context(|| format!("reading sink_offsets of {sink}"))?;
    Ok(rows.into_iter().map(|(t, p, o)| ((t, p), o)).collect())
}

/// Inside the batch's transaction: makes sure a row exists for every partition of the batch and
/// locks those rows (in a fixed order, so concurrent writers cannot deadlock). Returns the stored
/// next offsets. A second writer of the same partitions (a zombie after a rebalance) waits here and
/// then sees the first one's offsets, so no record is applied twice.
pub async fn lock(tx: &mut PgConnection, sink: &str, parts: &BTreeSet<Tp>) -> anyhow::Result<BTreeMap<Tp, i64>> {
    // A hung writer holding these rows must not block this one forever: fail and retry instead.
    sqlx::query("SET LOCAL lock_timeout = '30s'").execute(&mut *tx).await.context("setting lock_timeout")?;
    let mut stored = BTreeMap::new();
    for (topic, partition) in parts {
        sqlx::query("INSERT INTO sink_offsets (sink, topic, partition, next_offset) VALUES ($1, $2, $3, 0) ON CONFLICT DO NOTHING")
            .bind(sink)
            .bind(topic)
            .bind(partition)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("seeding sink_offsets for {sink} {topic}/{partition}"))?;
        let (next,): (i64,) = sqlx::query_as("SELECT next_offset FROM sink_offsets WHERE sink = $1 AND topic = $2 AND partition = $3 FOR UPDATE")
            .bind(sink)
            .bind(topic)
            .bind(partition)
            .fetch_one(&mut *tx)
            .await
            .with_context(|| format!("locking sink_offsets for {sink} {topic}/{partition}"))?;
        stored.insert((topic.clone(), *partition), next);
    }
    Ok(stored)
}

/// Inside the batch's transaction: stores the new next offsets.
pub async fn store(tx: &mut PgConnection, sink: &str, next: &BTreeMap<Tp, i64>) -> anyhow::Result<()> {
    for ((topic, partition), offset) in next {
        sqlx::query("UPDATE sink_offsets SET next_offset = $4, updated_at = now() WHERE sink = $1 AND topic = $2 AND partition = $3")
            .bind(sink)
            .bind(topic)
            .bind(partition)
            .bind(offset)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("storing sink_offsets for {sink} {topic}/{partition}"))?;
    }
    Ok(())
}

/// Reads stored offsets from synchronous code (librdkafka's rebalance callback) on a helper thread
/// with its own runtime and connection, so it works whatever runtime polls the consumer.
fn load_blocking(options: PgConnectOptions, sink: String, parts: Vec<Tp>) -> anyhow::Result<BTreeMap<Tp, i64>> {
    let worker = std::thread::Builder::new().name("sink-offsets".into()).spawn(move || -> anyhow::Result<BTreeMap<Tp, i64>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().context("offset loader runtime")?;
        rt.block_on(async {
            let read = async {
                let mut conn = PgConnection::connect_with(&options).await.context("connecting to Postgres for sink offsets")?;
                let offsets = load(&mut conn, &sink, &parts).await;
                let _ = conn.close().await;
                offsets
            };
            tokio::time::timeout(Duration::from_secs(15), read).await.context("reading sink offsets timed out")?
        })
    })?;
    worker.join().map_err(|_| anyhow::anyhow!("sink offset loader panicked"))?
}

/// Consumer context of a Postgres sink: on assignment, positions every partition at its stored
/// offset (or the beginning when the sink never applied anything there). If the stored offsets
/// cannot be read, it flags the failure; the runner then drops the consumer and retries, so it never
/// consumes from a position the DB did not give.
pub struct SinkContext {
    /// Sink name (the `sink` column).
    pub sink: String,
    /// How to reach the offsets table.
    pub connect: PgConnectOptions,
    /// Set when an assignment could not be positioned from the DB.
    pub position_failed: AtomicBool,
}

impl SinkContext {
    /// A context for `sink` reading its offsets through `connect`.
    pub fn new(sink: &str, connect: PgConnectOptions) -> SinkContext {
        SinkContext { sink: sink.to_string(), connect, position_failed: AtomicBool::new(false) }
    }

    fn position(&self, tpl: &mut TopicPartitionList) -> anyhow::Result<Vec<(Tp, Offset)>> {
        let parts: Vec<Tp> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
        let stored = load_blocking(self.connect.clone(), self.sink.clone(), parts.clone())?;
        let mut positions = Vec::with_capacity(parts.len());
        for tp in parts {
            let offset = stored.get(&tp).map(|o| Offset::Offset(*o)).unwrap_or(Offset::Beginning);
            tpl.set_partition_offset(&tp.0, tp.1, offset).with_context(|| format!("positioning {}/{}", tp.0, tp.1))?;
            positions.push((tp, offset));
        }
        Ok(positions)
    }
}

impl ClientContext for SinkContext {}

impl ConsumerContext for SinkContext {
    fn rebalance(&self, consumer: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        let cooperative = matches!(consumer.rebalance_protocol(), RebalanceProtocol::Cooperative);
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                match self.position(tpl) {
                    Ok(positions) => {
                        tracing::info!(sink = %self.sink, ?positions, "partitions assigned at their stored offsets");
                    }
                    Err(e) => {
                        tracing::error!(sink = %self.sink, error = format!("{e:#}"), "could not read stored offsets for the assignment; the consumer will be recreated");
                        self.position_failed.store(true, Ordering::SeqCst);
                    }
                }
                // The assignment must be acknowledged in any case; on failure the runner discards
                // whatever it reads and recreates the consumer before applying anything.
                let result = if cooperative { consumer.incremental_assign(tpl) } else { consumer.assign(tpl) };
                if let Err(e) = result {
                    tracing::error!(sink = %self.sink, error = %e, "assign failed; the consumer will be recreated");
                    self.position_failed.store(true, Ordering::SeqCst);
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let parts: Vec<Tp> = tpl.elements().iter().map(|e| (e.topic().to_string(), e.partition())).collect();
                tracing::info!(sink = %self.sink, ?parts, "partitions revoked");
                let result = if cooperative { consumer.incremental_unassign(tpl) } else { consumer.unassign() };
                if let Err(e) = result {
                    tracing::warn!(sink = %self.sink, error = %e, "unassign failed");
                }
            }
            other => {
                tracing::error!(sink = %self.sink, error = ?other, "rebalance error; dropping the assignment");
                let _ = consumer.unassign();
            }
        }
    }
}
