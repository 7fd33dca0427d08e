//! Helpers for tests that run on the real local stack: isolated topic prefixes, reading a topic to
//! its end, waiting for a consumer group to catch up. Public so every crate's tests share them.

use crate::admin::client_config;
use crate::processor::{Ctx, Processor, Rejection};
use anyhow::Context;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Headers;
use rdkafka::{Message, Offset, TopicPartitionList};
use rust_decimal::Decimal;
use souk_schemas::inventory::{HoldExpired, InventoryCommand, InventoryEvent, ReserveRejected};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A record as read back from a topic.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadRecord {
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// Key as UTF-8.
    pub key: Option<String>,
    /// Raw value bytes.
    pub payload: Option<Vec<u8>>,
    /// Headers as strings.
    pub headers: BTreeMap<String, String>,
}

/// A topic prefix no other test run uses (`t<pid><nanos>.`).
pub fn unique_prefix(tag: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or_default();
    format!("t{tag}{}x{}.", std::process::id(), nanos % 1_000_000_000)
}

/// One attempt of [`read_to_end`]: a `read_committed` reader, to the end of every partition.
async fn read_to_end_once(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<ReadRecord>> {
    let consumer: StreamConsumer = crate::kafka::committed_reader(bootstrap, "souk-testkit").create()?;
    let metadata = tokio::task::block_in_place(|| consumer.fetch_metadata(Some(topic), Duration::from_secs(10)))?;
    let partitions: Vec<i32> = metadata.topics().iter().flat_map(|t| t.partitions().iter().map(|p| p.id())).collect();
    let mut tpl = TopicPartitionList::new();
    let mut open = std::collections::BTreeSet::new();
    for p in partitions {
        let (low, high) = tokio::task::block_in_place(|| consumer.fetch_watermarks(topic, p, Duration::from_secs(10)))?;
        if high > low {
            tpl.add_partition_offset(topic, p, Offset::Offset(low))?;
            open.insert(p);
        }
    }
    let mut out = Vec::new();
    if open.is_empty() {
        return Ok(out);
    }
    consumer.assign(&tpl)?;
    let started = Instant::now();
    while !open.is_empty() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "reading {topic} did not reach its end");
        let Ok(msg) = tokio::time::timeout(Duration::from_secs(5), consumer.recv()).await else { continue };
        let msg = match msg {
            Err(rdkafka::error::KafkaError::PartitionEOF(p)) => {
                open.remove(&p);
                continue;
            }
            other => other.with_context(|| format!("reading {topic}"))?,
        };
        let headers = msg.headers().map(|h| h.iter().map(|h| (h.key.to_string(), h.value.map(|v| String::from_utf8_lossy(v).into_owned()).unwrap_or_default())).collect()).unwrap_or_default();
        out.push(ReadRecord { partition: msg.partition(), offset: msg.offset(), key: msg.key().map(|k| String::from_utf8_lossy(k).into_owned()), payload: msg.payload().map(<[u8]>::to_vec), headers });
    }
    out.sort_by_key(|r| (r.partition, r.offset));
    Ok(out)
}

/// How many records of `topic` the group has committed (sum over partitions), its total end, and
/// whether it is caught up: every partition committed to its end, or to a point after which a
/// `read_committed` reader finds nothing (only transaction markers or aborted records).
async fn committed_progress_once(bootstrap: &str, group: &str, topic: &str) -> anyhow::Result<(i64, i64, bool)> {
    let probe: StreamConsumer = client_config(bootstrap).set("group.id", group).set("enable.auto.commit", "false").create()?;
    let metadata = tokio::task::block_in_place(|| probe.fetch_metadata(Some(topic), Duration::from_secs(10)))?;
    let mut tpl = TopicPartitionList::new();
    for t in metadata.topics() {
        for p in t.partitions() {
            tpl.add_partition(topic, p.id());
        }
    }
    let committed = tokio::task::block_in_place(|| probe.committed_offsets(tpl, Duration::from_secs(5)))?;
    let (mut done, mut end, mut caught_up) = (0, 0, true);
    for e in committed.elements() {
        let (low, high) = tokio::task::block_in_place(|| probe.fetch_watermarks(topic, e.partition(), Duration::from_secs(5)))?;
        let at = if let Offset::Offset(o) = e.offset() { o } else { low };
        done += at;
        end += high;
        if caught_up && at < high {
            caught_up = !tokio::task::block_in_place(|| crate::kafka::has_records_from(bootstrap, topic, e.partition(), at, Duration::from_secs(5)))?;
        }
    }
    Ok((done, end, caught_up))
}

/// Waits until `group` has committed the end of every partition of `topic` (see
/// [`committed_progress_once`]: a transactional topic ends in markers); transient broker
/// errors are retried until `deadline`.
pub async fn wait_group_caught_up(bootstrap: &str, group: &str, topic: &str, deadline: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        match committed_progress_once(bootstrap, group, topic).await {
            Ok((_, _, true)) => return Ok(()),
            Ok((done, end, false)) => anyhow::ensure!(started.elapsed() < deadline, "group {group} still {} records behind on {topic} after {deadline:?}", end - done),
            Err(e) => {
                anyhow::ensure!(started.elapsed() < deadline, "group {group} on {topic}: {e:#}");
                tracing::warn!(error = format!("{e:#}"), "broker error while waiting; retrying");
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Retries `op` on error (a broker restarting) for up to a minute.
pub async fn with_retries<T, F, Fut>(what: &str, mut op: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let started = Instant::now();
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                tracing::warn!(what, error = format!("{e:#}"), "broker error; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => return Err(e.context(format!("{what} kept failing for a minute"))),
        }
    }
}

/// Reads every partition of `topic` from the beginning to the high watermark taken now
/// (retrying transient broker errors).
pub async fn read_to_end(bootstrap: &str, topic: &str) -> anyhow::Result<Vec<ReadRecord>> {
    with_retries(&format!("reading {topic}"), || read_to_end_once(bootstrap, topic)).await
}

/// How many records of `topic` the group has committed (sum over partitions) and its total end
/// (retrying transient broker errors).
pub async fn committed_progress(bootstrap: &str, group: &str, topic: &str) -> anyhow::Result<(i64, i64)> {
    let (done, end, _) = with_retries(&format!("offsets of {group}"), || committed_progress_once(bootstrap, group, topic)).await?;
    Ok((done, end))
}

/// The (low, high) watermarks of `topic[partition]`, retrying for up to 30 s while the broker is
/// not ready to answer (a freshly created topic whose leader is not elected yet answers
/// `NotLeaderForPartition` for a moment).
pub fn watermarks(bootstrap: &str, topic: &str, partition: i32) -> anyhow::Result<(i64, i64)> {
    let probe: rdkafka::consumer::BaseConsumer = client_config(bootstrap).create()?;
    let started = Instant::now();
    loop {
        match probe.fetch_watermarks(topic, partition, Duration::from_secs(10)) {
            Ok(w) => return Ok(w),
            Err(e) if started.elapsed() < Duration::from_secs(30) => {
                tracing::warn!(topic, partition, error = %e, "watermarks not available yet; retrying");
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(anyhow::Error::new(e).context(format!("watermarks of {topic}[{partition}]"))),
        }
    }
}

/// Fails the calling test (never skips it) unless the local stack answers: the broker's and
/// Postgres' ports accept connections and the registry answers HTTP. The panic names what is
/// missing and how to start it, so a real-stack test run without its stack is a red test with a
/// reason instead of a green one that proved nothing.
pub async fn require_stack(test: &str) {
    let kafka = crate::stack::kafka_bootstrap();
    let registry = crate::stack::schema_registry_url();
    let database = crate::stack::database_url();
    let mut missing = Vec::new();
    let first_kafka = kafka.split(',').next().unwrap_or_default().trim().to_string();
    if let Err(e) = tcp_reachable(&first_kafka).await {
        missing.push(format!("Kafka at {first_kafka} ({e})"));
    }
    match host_port_of_url(&database) {
        Some(addr) => {
            if let Err(e) = tcp_reachable(&addr).await {
                missing.push(format!("Postgres at {addr} ({e})"));
            }
        }
        None => missing.push(format!("Postgres: SOUK_DATABASE_URL {database:?} names no host:port")),
    }
    let subjects = format!("{}/subjects", registry.trim_end_matches('/'));
    let answered = reqwest::Client::new().get(&subjects).timeout(Duration::from_secs(5)).send().await;
    if let Err(e) = answered {
        missing.push(format!("the schema registry at {registry} ({e})"));
    }
    assert!(
        missing.is_empty(),
        "{test} runs on the real local stack, which is not reachable: {}. Start it with `./dev up` (or point SOUK_KAFKA_BOOTSTRAP / SOUK_SCHEMA_REGISTRY_URL / SOUK_DATABASE_URL at one); `./dev test` does both.",
        missing.join("; ")
    );
}

async fn tcp_reachable(addr: &str) -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(addr)).await.context("timed out")?.context("refused")?;
    Ok(())
}

/// `host:port` of a `scheme://user:pass@host:port/db?...` URL.
fn host_port_of_url(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    host_port.contains(':').then(|| host_port.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_port_of_database_urls() {
        assert_eq!(super::host_port_of_url("postgres://souk:souk@127.0.0.1:55432/souk").as_deref(), Some("127.0.0.1:55432"));
        assert_eq!(super::host_port_of_url("postgres://h:5432").as_deref(), Some("h:5432"));
        assert_eq!(super::host_port_of_url("postgres://h/db"), None);
    }

    #[tokio::test]
    #[should_panic(expected = "not reachable")]
    async fn require_stack_fails_when_the_broker_is_unreachable() {
        // nextest runs every test in its own process, so the override stays in this one
        std::env::set_var("SOUK_KAFKA_BOOTSTRAP", "127.0.0.1:9");
        super::require_stack("unit").await;
    }
}

/// A small processor for runtime tests (engine, topology driver): counts reserve requests per
/// key, answers each with a `ReserveRejected` carrying the running count, rejects negative
/// meters (`NEGATIVE_METERS`) and anything but reserves (`UNSUPPORTED`), and expires each
/// reserve 5 s (event time) later through a timer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Counter;

impl Processor for Counter {
    type State = u64;
    type Input = InventoryCommand;
    type Output = InventoryEvent;
    fn name(&self) -> &'static str {
        "counter"
    }
    fn handle(&self, count: &mut u64, event: &InventoryCommand, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
        let InventoryCommand::ReserveRequested(r) = event else { return Err(Rejection::new("UNSUPPORTED", "counter only takes reserves")) };
        if r.meters < Decimal::ZERO {
            return Err(Rejection::new("NEGATIVE_METERS", "meters must be positive"));
        }
        *count += 1;
        let envelope = ctx.envelope();
        let key = ctx.key().to_string();
        ctx.emit(
            key,
            InventoryEvent::ReserveRejected(ReserveRejected {
                envelope,
                hold_id: r.hold_id.clone(),
                order_id: r.order_id.clone(),
                line_id: r.line_id.clone(),
                requested_meters: r.meters,
                available_meters: Decimal::from(*count),
            }),
        );
        let at = ctx.now() + 5_000;
        ctx.schedule(r.hold_id.clone(), at);
        Ok(())
    }
    fn on_timer(&self, _count: &mut u64, timer_id: &str, ctx: &mut Ctx<InventoryEvent>) {
        let envelope = ctx.envelope();
        let key = ctx.key().to_string();
        ctx.emit(key, InventoryEvent::HoldExpired(HoldExpired { envelope, hold_id: timer_id.to_string(), order_id: String::new(), line_id: String::new() }));
    }
}
