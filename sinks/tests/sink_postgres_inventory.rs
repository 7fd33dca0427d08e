//! The inventory Postgres sink on the real local stack (Apache Kafka + Apicurio + Postgres):
//! rows equal the state the events describe; a crash in the middle of a transaction, a graceful
//! stop and restarts apply every record exactly once (an audit written in the sink's own
//! transaction counts applications per offset); `sink_offsets` ends at the topic's end; poison
//! records land in the sink's DLQ with provenance headers while later records are applied.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

use rust_decimal::Decimal;
use souk_runtime::kafka::{headers, make_headers, producer, send_all, OutRecord};
use souk_runtime::testkit::{read_to_end, unique_prefix};
use souk_runtime::topology::Topology;
use souk_runtime::{admin, stack};
use souk_schemas::inventory::*;
use souk_schemas::{Catalog, Envelope};
use souk_sinks::postgres::{run_inventory_sink, sink_settings, InventoryProjection, PostgresSink, Projection, SinkRecord};
use sqlx::{PgConnection, PgPool};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SINK: &str = "inventory-postgres";
const POOLS: usize = 10;
const POISON: &[u8] = b"\0garbage-not-avro";
const BAD_KEY: &str = "no-pipes-key";

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).expect("decimal literal")
}

/// Wraps the real projection: records each application in an audit table inside the sink's
/// transaction (so only committed applications count), can hang mid-transaction on demand, and can
/// fail a few transactions midway (as a lost connection would) to exercise retry-without-advancing.
struct Audited {
    run: String,
    applied: Arc<AtomicU64>,
    hang_after: Option<u64>,
    failures_left: AtomicU64,
}

impl Projection for Audited {
    type Event = InventoryEvent;
    fn check(&self, record: &SinkRecord<InventoryEvent>) -> Result<(), String> {
        InventoryProjection.check(record)
    }
    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<InventoryEvent>) -> anyhow::Result<()> {
        if self.hang_after.is_some_and(|n| self.applied.load(Ordering::SeqCst) >= n) {
            // A crash in the middle of a transaction: the task is aborted while it waits here.
            std::future::pending::<()>().await;
        }
        InventoryProjection.apply(tx, record).await?;
        sqlx::query("INSERT INTO souk_test_sink_audit (run, topic, partition, record_offset) VALUES ($1, $2, $3, $4)")
            .bind(&self.run)
            .bind(&record.topic)
            .bind(record.partition)
            .bind(record.offset)
            .execute(&mut *tx)
            .await?;
        let n = self.applied.fetch_add(1, Ordering::SeqCst) + 1;
        if n % 7 == 3 && self.failures_left.load(Ordering::SeqCst) > 0 {
            self.failures_left.fetch_sub(1, Ordering::SeqCst);
            anyhow::bail!("injected failure after {n} applications");
        }
        Ok(())
    }
}

struct Setup {
    topology: Topology,
    codec: Arc<souk_runtime::codec::Codec>,
    bootstrap: String,
    pool: PgPool,
    tenant: String,
    run: String,
    topic: String,
}

impl Setup {
    fn key(&self, p: usize) -> String {
        format!("{}|mat{p}|col{}", self.tenant, p % 3)
    }

    async fn produce(&self, records: Vec<(String, Vec<u8>)>) {
        let p = producer(&self.bootstrap).expect("producer");
        let out = records.into_iter().map(|(key, payload)| OutRecord { topic: self.topic.clone(), partition: None, key: Some(key), payload: Some(payload), headers: make_headers(&[]) }).collect();
        send_all(&p, out).await.expect("produce");
    }

    async fn encode(&self, events: Vec<(String, InventoryEvent)>) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::with_capacity(events.len());
        for (key, e) in events {
            out.push((key, self.codec.encode(&self.topic, &e).await.expect("encode")));
        }
        out
    }

    /// Sum of the high watermarks of the input topic.
    fn topic_end(&self) -> i64 {
        (0..self.topology.partitions("inventory.events")).map(|p| souk_runtime::testkit::watermarks(&self.bootstrap, &self.topic, p).expect("watermarks").1).sum()
    }

    /// Sum of the sink's stored next offsets for the input topic.
    async fn stored(&self) -> i64 {
        let rows = souk_projections::sink_offsets(&self.pool, SINK).await.expect("sink_offsets");
        rows.iter().filter(|r| r.topic == self.topic).map(|r| r.next_offset).sum()
    }

    async fn wait_caught_up(&self) {
        let end = tokio::task::block_in_place(|| self.topic_end());
        let started = Instant::now();
        while self.stored().await < end {
            assert!(started.elapsed() < Duration::from_secs(120), "sink did not reach the topic end {end} (at {})", self.stored().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(self.stored().await, end, "stored offsets equal the topic end");
    }

    fn audited(&self, hang_after: Option<u64>) -> (PostgresSink<Audited>, Arc<AtomicU64>) {
        self.audited_failing(hang_after, 0)
    }

    fn audited_failing(&self, hang_after: Option<u64>, failures: u64) -> (PostgresSink<Audited>, Arc<AtomicU64>) {
        let applied = Arc::new(AtomicU64::new(0));
        let projection = Audited { run: self.run.clone(), applied: applied.clone(), hang_after, failures_left: AtomicU64::new(failures) };
        let spec = self.topology.component(souk_runtime::topology::Role::Sink, SINK).expect("sink spec");
        let mut settings = sink_settings(&self.bootstrap);
        settings.batch_size = 40;
        (PostgresSink::new(projection, spec, self.codec.clone(), self.pool.clone(), settings).expect("sink"), applied)
    }

    /// How many of the two bad records (poison bytes, malformed key) the stored offsets cover.
    async fn dead_letters_below_stored(&self) -> i64 {
        let stored: BTreeMap<i32, i64> =
            souk_projections::sink_offsets(&self.pool, SINK).await.expect("sink_offsets").into_iter().filter(|r| r.topic == self.topic).map(|r| (r.partition, r.next_offset)).collect();
        let source = read_to_end(&self.bootstrap, &self.topic).await.expect("source");
        source.iter().filter(|r| r.payload.as_deref() == Some(POISON) || r.key.as_deref() == Some(BAD_KEY)).filter(|r| stored.get(&r.partition).is_some_and(|n| r.offset < *n)).count() as i64
    }

    /// (applications, distinct offsets) recorded by the audit.
    async fn audit(&self) -> (i64, i64) {
        sqlx::query_as("SELECT count(*), count(DISTINCT (topic, partition, record_offset)) FROM souk_test_sink_audit WHERE run = $1").bind(&self.run).fetch_one(&self.pool).await.expect("audit")
    }
}

async fn setup() -> Setup {
    souk_runtime::testkit::require_stack("sink_postgres_inventory").await;
    let prefix = unique_prefix("sinkpg");
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../topology.toml")).expect("topology.toml");
    let topology = Topology::parse(&text, &prefix).expect("topology");
    let catalog = Catalog::builtin().expect("catalog");
    let bootstrap = stack::kafka_bootstrap();
    // The shared local broker can be slow under other suites' load: retry the (idempotent) apply.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match admin::apply(&topology, &catalog, &bootstrap, &stack::schema_registry_url()).await {
            Ok(_) => break,
            Err(e) if attempt < 4 => {
                eprintln!("topology apply attempt {attempt} failed ({e:#}); retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            Err(e) => panic!("topology apply on the local stack: {e:#}"),
        }
    }
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &stack::schema_registry_url()).expect("codec"));
    let pool = PgPool::connect(&stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    sqlx::query("CREATE TABLE IF NOT EXISTS souk_test_sink_audit (run TEXT NOT NULL, topic TEXT NOT NULL, partition INT NOT NULL, record_offset BIGINT NOT NULL)")
        .execute(&pool)
        .await
        .expect("audit table");
    let run = prefix.trim_end_matches('.').to_string();
    let topic = topology.topic("inventory.events");
    Setup { topology, codec, bootstrap, pool, tenant: format!("tenant-{run}"), run, topic }
}

/// The pool's level after round `r`: batches b0, b1 always, b2 only in even rounds (so it is
/// removed when the last round is odd).
fn level(p: usize, r: usize, env: Envelope) -> StockLevelChanged {
    let mut batches = Vec::new();
    for b in 0..if r.is_multiple_of(2) { 3 } else { 2 } {
        batches.push(BatchLevel {
            batch_id: format!("b{b}"),
            dye_lot: (b != 1).then(|| format!("lot-{p}-{b}")),
            rolls: (10 + r + b) as i32,
            meters_per_roll: d("50.5"),
            loose_meters: Decimal::new((r * 1000 + 125) as i64, 3),
            held_meters: Decimal::new((r * 250) as i64, 3),
            available_meters: Decimal::new(((10 + r + b) * 50_500 + r * 750 + 125) as i64, 3),
            price_per_meter: (b != 2).then(|| Decimal::new((1999 + p * 100) as i64, 2)),
            received_at: 1_700_000_000_000 + (b as i64) * 86_400_000,
        });
    }
    StockLevelChanged {
        envelope: env,
        material: format!("mat{p}"),
        color: format!("col{}", p % 3),
        on_hand_meters: Decimal::new((1_000_000 + r * 1001) as i64, 3),
        held_meters: Decimal::new((r * 250) as i64, 3),
        available_meters: Decimal::new((1_000_000 + r * 751) as i64, 3),
        price_per_meter: None,
        aliases: vec![],
        batches,
    }
}

fn hold_id(p: usize, r: usize) -> String {
    format!("h{p}-{r}")
}

fn expires(r: usize) -> i64 {
    1_800_000_000_000 + r as i64 * 1000
}

/// The events of rounds `rounds` for every pool. Round r's hold ends by r % 5: 0 stays HELD,
/// 1 COMMITTED (then a repeated `Reserved` answer and a rejected commit), 2 RELEASED, 3 EXPIRED,
/// 4 REJECTED.
fn events(s: &Setup, rounds: std::ops::Range<usize>) -> Vec<(String, InventoryEvent)> {
    let mut out = Vec::new();
    for r in rounds {
        for p in 0..POOLS {
            let key = s.key(p);
            let env = |n: usize| Envelope::external(&s.tenant, &format!("{p}/{r}/{n}"), 1_750_000_000_000 + (r * 100 + n) as i64);
            let (h, order_id, line_id) = (hold_id(p, r), format!("o{p}-{r}"), "1".to_string());
            let meters = Decimal::new((r * 1000 + 250) as i64, 3);
            let allocations = vec![BatchAllocation { batch_id: "b0".into(), rolls: 0, loose_meters: meters, cut_meters: Decimal::ZERO, meters }];
            let reserved = |n: usize| {
                InventoryEvent::Reserved(Reserved {
                    envelope: env(n),
                    hold_id: h.clone(),
                    order_id: order_id.clone(),
                    line_id: line_id.clone(),
                    meters,
                    allocations: allocations.clone(),
                    expires_at: expires(r),
                    price_per_meter: None,
                })
            };
            if r % 5 == 4 {
                out.push((
                    key.clone(),
                    InventoryEvent::ReserveRejected(ReserveRejected {
                        envelope: env(0),
                        hold_id: h.clone(),
                        order_id: order_id.clone(),
                        line_id: line_id.clone(),
                        requested_meters: meters,
                        available_meters: d("0.5"),
                    }),
                ));
            } else {
                out.push((key.clone(), reserved(0)));
            }
            out.push((key.clone(), InventoryEvent::StockLevelChanged(level(p, r, env(1)))));
            match r % 5 {
                1 => {
                    out.push((
                        key.clone(),
                        InventoryEvent::Committed(Committed { envelope: env(2), hold_id: h.clone(), order_id: order_id.clone(), line_id: line_id.clone(), allocations: allocations.clone() }),
                    ));
                    out.push((key.clone(), reserved(3)));
                    out.push((
                        key.clone(),
                        InventoryEvent::HoldCommandRejected(HoldCommandRejected { envelope: env(4), hold_id: h.clone(), command: "release".into(), reason: "ALREADY_COMMITTED".into() }),
                    ));
                }
                2 => out.push((
                    key.clone(),
                    InventoryEvent::Released(Released { envelope: env(2), hold_id: h.clone(), order_id: order_id.clone(), line_id: line_id.clone(), reason: "customer changed mind".into() }),
                )),
                3 => out.push((key.clone(), InventoryEvent::HoldExpired(HoldExpired { envelope: env(2), hold_id: h.clone(), order_id: order_id.clone(), line_id: line_id.clone() }))),
                _ => {}
            }
        }
    }
    out
}

/// Rows equal the state rounds 0..rounds describe.
async fn assert_state(s: &Setup, rounds: usize) {
    let last = rounds - 1;
    let pools = souk_projections::pools(&mut s.pool.acquire().await.unwrap(), &s.tenant).await.expect("pools");
    assert_eq!(pools.len(), POOLS);
    let batches = souk_projections::stock_batches(&mut s.pool.acquire().await.unwrap(), &s.tenant).await.expect("batches");
    let holds = souk_projections::holds(&mut s.pool.acquire().await.unwrap(), &s.tenant).await.expect("holds");
    assert_eq!(holds.len(), POOLS * rounds, "one row per hold");
    for p in 0..POOLS {
        let env = Envelope::external(&s.tenant, &format!("{p}/{last}/1"), 0);
        let want = level(p, last, env.clone());
        let row = pools.iter().find(|r| r.material == want.material).expect("pool row");
        assert_eq!((row.color.as_str(), row.on_hand_meters, row.held_meters, row.available_meters), (want.color.as_str(), want.on_hand_meters, want.held_meters, want.available_meters));
        assert_eq!(row.last_event_id, env.event_id);
        let got: Vec<_> = batches.iter().filter(|b| b.material == want.material).collect();
        assert_eq!(got.len(), want.batches.len(), "batches of mat{p} (b2 removed in odd rounds)");
        for (g, w) in got.iter().zip(&want.batches) {
            assert_eq!(g.batch_id, w.batch_id);
            assert_eq!(g.dye_lot, w.dye_lot);
            assert_eq!(g.rolls, w.rolls);
            assert_eq!(
                (g.meters_per_roll, g.loose_meters, g.held_meters, g.available_meters, g.price_per_meter),
                (w.meters_per_roll, w.loose_meters, w.held_meters, w.available_meters, w.price_per_meter)
            );
            assert_eq!(g.received_at.timestamp_millis(), w.received_at);
        }
        for r in 0..rounds {
            let h = holds.iter().find(|h| h.hold_id == hold_id(p, r)).expect("hold row");
            let want_status = ["HELD", "COMMITTED", "RELEASED", "EXPIRED", "REJECTED"][r % 5];
            assert_eq!(h.status, want_status, "hold {}", h.hold_id);
            assert_eq!(h.meters, Decimal::new((r * 1000 + 250) as i64, 3));
            assert_eq!((h.material.as_str(), h.order_id.as_str()), (want.material.as_str(), format!("o{p}-{r}").as_str()));
            match want_status {
                "REJECTED" => {
                    assert_eq!(h.allocations, serde_json::json!([]));
                    assert!(h.reason.as_deref().unwrap_or_default().contains("available 0.5"), "{:?}", h.reason);
                }
                _ => {
                    assert_eq!(h.allocations[0]["batch_id"], "b0");
                    assert_eq!(h.expires_at.map(|t| t.timestamp_millis()), Some(expires(r)));
                }
            }
            if want_status == "RELEASED" {
                assert_eq!(h.reason.as_deref(), Some("customer changed mind"));
            }
            if want_status == "COMMITTED" {
                // The repeated Reserved answer (n = 3) came later but did not reopen the hold.
                assert_eq!(h.last_event_id, Envelope::external(&s.tenant, &format!("{p}/{r}/2"), 0).event_id);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inventory_sink_applies_each_record_once_across_crash_and_restart() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;

    // Phase 1: a few hundred events, then the sink catches up.
    s.produce(s.encode(events(&s, 0..8)).await).await;
    let (sink, _) = s.audited(None);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(sink.run(shutdown));
    s.wait_caught_up().await;
    assert_state(&s, 8).await;
    stop.send(true).expect("stop");
    handle.await.expect("join").expect("sink run");
    let phase1 = s.stored().await;
    assert_eq!(s.audit().await, (phase1, phase1), "every record applied exactly once");

    // Phase 2: more events plus poison, and a crash in the middle of a transaction.
    let mut more = s.encode(events(&s, 8..11)).await;
    more.insert(7, (s.key(3), POISON.to_vec()));
    let rejected = s
        .encode(vec![(
            BAD_KEY.to_string(),
            InventoryEvent::HoldExpired(HoldExpired { envelope: Envelope::external(&s.tenant, "bad-key", 1), hold_id: "hx".into(), order_id: "o".into(), line_id: "l".into() }),
        )])
        .await;
    more.splice(20..20, rejected);
    s.produce(more).await;
    let (sink, applied) = s.audited(Some(60));
    let (_stop_crashed, shutdown) = tokio::sync::watch::channel(false);
    let crashed = tokio::spawn(sink.run(shutdown));
    let started = Instant::now();
    while applied.load(Ordering::SeqCst) < 60 {
        assert!(started.elapsed() < Duration::from_secs(60), "crashing sink made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.abort();
    let _ = crashed.await;
    let at_crash = s.stored().await;
    let end = tokio::task::block_in_place(|| s.topic_end());
    // Batches hold at most 40 records, so at least one batch committed before the one that hung.
    assert!(phase1 < at_crash && at_crash < end, "the crash happened mid-stream ({phase1} < {at_crash} < {end})");
    let applied_at_crash = at_crash - s.dead_letters_below_stored().await;
    assert_eq!(s.audit().await, (applied_at_crash, applied_at_crash), "the interrupted transaction left nothing behind");

    // Restart: resumes purely from the stored offsets; two of its transactions fail midway and are
    // retried from the stored offsets.
    let (sink, _) = s.audited_failing(None, 2);
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let handle = tokio::spawn(sink.run(shutdown));
    s.wait_caught_up().await;
    stop.send(true).expect("stop");
    handle.await.expect("join").expect("sink run");
    let (applications, distinct) = s.audit().await;
    assert_eq!(applications, distinct, "no record applied twice across the crash");
    assert_eq!(applications, s.stored().await - 2, "every record but the two dead letters was applied");
    assert_state(&s, 11).await;

    // Dead letters are at-least-once: one produced by the crashed transaction may be produced again
    // by the retry, so readers dedup by provenance (source topic, partition, offset).
    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic(SINK)).await.expect("dlq");
    let provenance: std::collections::BTreeSet<(String, String)> = dlq.iter().map(|r| (r.headers[headers::SOURCE_PARTITION].clone(), r.headers[headers::SOURCE_OFFSET].clone())).collect();
    assert_eq!(provenance.len(), 2, "{dlq:?}");
    let poison = dlq.iter().find(|r| r.payload.as_deref() == Some(POISON)).expect("poison in the DLQ");
    assert_eq!(poison.headers.get(headers::SOURCE_TOPIC), Some(&s.topic));
    assert_eq!(poison.headers.get(headers::COMPONENT).map(String::as_str), Some(SINK));
    assert!(poison.headers.get(headers::ERROR).is_some_and(|e| e.contains("undecodable")), "{:?}", poison.headers);
    let (pp, po): (i32, i64) = (poison.headers[headers::SOURCE_PARTITION].parse().expect("partition"), poison.headers[headers::SOURCE_OFFSET].parse().expect("offset"));
    let source = read_to_end(&s.bootstrap, &s.topic).await.expect("source");
    let original = source.iter().find(|r| r.partition == pp && r.offset == po).expect("provenance names the source record");
    assert_eq!(original.payload, poison.payload);
    assert!(source.iter().any(|r| r.partition == pp && r.offset > po), "later records of the poison's partition exist (and were applied, see assert_state)");
    let bad_key = dlq.iter().find(|r| r.key.as_deref() == Some(BAD_KEY)).expect("bad key in the DLQ");
    assert!(bad_key.headers.get(headers::ERROR).is_some_and(|e| e.starts_with("rejected:")), "{:?}", bad_key.headers);

    // Phase 3: the public entry point resumes from the stored offsets and applies only new records.
    let (audit_before, dlq_before) = (s.audit().await, dlq.len());
    s.produce(s.encode(events(&s, 11..14)).await).await;
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let (topology, codec, pool, bootstrap) = (s.topology.clone(), s.codec.clone(), s.pool.clone(), s.bootstrap.clone());
    let handle = tokio::spawn(async move { run_inventory_sink(&topology, SINK, &bootstrap, codec, pool, shutdown).await });
    s.wait_caught_up().await;
    stop.send(true).expect("stop");
    handle.await.expect("join").expect("run_inventory_sink");
    assert_state(&s, 14).await;
    assert_eq!(s.audit().await, audit_before, "earlier records were not re-applied (the audited sink's records are untouched)");
    let dlq = read_to_end(&s.bootstrap, &s.topology.dlq_topic(SINK)).await.expect("dlq");
    assert_eq!(dlq.len(), dlq_before, "the earlier dead letters were not produced again");
}

/// Two instances share the consumer group: partitions move between them when the second joins and
/// when the first leaves, each assignment starts at the stored offsets, and the offset-row locks
/// keep any overlap from applying a record twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_split_partitions_without_double_application() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;
    s.produce(s.encode(events(&s, 0..6)).await).await;
    let (a, _) = s.audited(None);
    let (stop_a, shutdown) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(a.run(shutdown));
    let started = Instant::now();
    while s.stored().await == 0 {
        assert!(started.elapsed() < Duration::from_secs(60), "first instance made no progress");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let (b, _) = s.audited(None);
    let (stop_b, shutdown) = tokio::sync::watch::channel(false);
    let b = tokio::spawn(b.run(shutdown));
    s.produce(s.encode(events(&s, 6..12)).await).await;
    s.wait_caught_up().await;
    stop_a.send(true).expect("stop a");
    a.await.expect("join a").expect("instance a");
    s.produce(s.encode(events(&s, 12..15)).await).await;
    s.wait_caught_up().await;
    stop_b.send(true).expect("stop b");
    b.await.expect("join b").expect("instance b");
    let stored = s.stored().await;
    assert_eq!(s.audit().await, (stored, stored), "every record applied exactly once across both instances");
    assert_state(&s, 15).await;
}
