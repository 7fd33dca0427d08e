//! Permanent data errors against outages, per Postgres sink (commerce and inventory), on the real
//! local stack. A record Postgres refuses for what it carries (here a NUL character in a text
//! column, SQLSTATE 22021) goes to the sink's dead-letter topic with provenance and the sink moves
//! on to the records behind it; a database outage (every connection cut through a proxy) moves
//! nothing and dead-letters nothing, and once the database is back the sink resumes exactly where
//! it stopped.

mod support;

use rstest::rstest;
use rust_decimal::Decimal;
use souk_runtime::codec::Codec;
use souk_runtime::kafka::headers;
use souk_runtime::metrics::Metrics;
use souk_runtime::topology::Topology;
use souk_schemas::inventory::{BatchLevel, InventoryEvent, StockLevelChanged};
use souk_schemas::whatsapp::InboundEvent;
use souk_schemas::Envelope;
use sqlx::PgPool;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::{PgOutage, Stack};

const T0: i64 = 1_760_000_000_000;

/// One sink under test: its name, input topic, how to build good and poisoned records, and how
/// to see a good record's row.
#[derive(Clone, Copy, Debug)]
enum Case {
    Commerce,
    Inventory,
}

type SinkRun = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

impl Case {
    fn sink(self) -> &'static str {
        match self {
            Case::Commerce => "commerce-postgres",
            Case::Inventory => "inventory-postgres",
        }
    }

    fn input(self) -> &'static str {
        match self {
            Case::Commerce => "whatsapp.inbound",
            Case::Inventory => "inventory.events",
        }
    }

    /// Record `n` of the test; `text` goes into a free text column (the message body, a batch's
    /// dye lot).
    async fn record(self, s: &Stack, tenant: &str, n: i64, text: &str) -> (String, Vec<u8>) {
        let topic = s.topology.topic(self.input());
        match self {
            Case::Commerce => {
                let m = support::inbound_text(tenant, &format!("wamid.{n}"), "919800000001", text, T0 + n * 1000);
                (format!("{tenant}|919800000001"), s.codec.encode(&topic, &InboundEvent::InboundMessage(m)).await.expect("encode"))
            }
            Case::Inventory => {
                let level = StockLevelChanged {
                    envelope: Envelope::external(tenant, &format!("poison/{n}"), T0 + n * 1000),
                    material: format!("mat{n}"),
                    color: "blue".into(),
                    on_hand_meters: Decimal::new(50_000, 3),
                    held_meters: Decimal::ZERO,
                    available_meters: Decimal::new(50_000, 3),
                    price_per_meter: None,
                    aliases: vec![],
                    batches: vec![BatchLevel {
                        batch_id: "b0".into(),
                        dye_lot: Some(text.into()),
                        rolls: 1,
                        meters_per_roll: Decimal::new(50_000, 3),
                        loose_meters: Decimal::ZERO,
                        held_meters: Decimal::ZERO,
                        available_meters: Decimal::new(50_000, 3),
                        price_per_meter: None,
                        received_at: T0,
                    }],
                };
                (format!("{tenant}|mat{n}|blue"), s.codec.encode(&topic, &InventoryEvent::StockLevelChanged(level)).await.expect("encode"))
            }
        }
    }

    /// Whether good record `n` is in the read model.
    async fn applied(self, pool: &PgPool, tenant: &str, n: i64) -> bool {
        let (sql, id) = match self {
            Case::Commerce => ("SELECT count(*) FROM messages WHERE tenant_id = $1 AND message_id = $2", format!("wamid.{n}")),
            Case::Inventory => ("SELECT count(*) FROM stock_batches WHERE tenant_id = $1 AND material = $2", format!("mat{n}")),
        };
        let count: i64 = sqlx::query_scalar(sql).bind(tenant).bind(id).fetch_one(pool).await.expect("read model");
        count == 1
    }

    fn run(self, topology: Topology, bootstrap: String, codec: Arc<Codec>, pool: PgPool, shutdown: tokio::sync::watch::Receiver<bool>) -> SinkRun {
        Box::pin(async move {
            match self {
                Case::Commerce => souk_sinks::postgres::run_commerce_sink(&topology, self.sink(), &bootstrap, codec, pool, shutdown).await,
                Case::Inventory => souk_sinks::postgres::run_inventory_sink(&topology, self.sink(), &bootstrap, codec, pool, shutdown).await,
            }
        })
    }
}

async fn produce(s: &Stack, topic: &str, records: Vec<(String, Vec<u8>)>) {
    let out = records
        .into_iter()
        .map(|(key, payload)| souk_runtime::kafka::OutRecord {
            topic: s.topology.topic(topic),
            partition: None,
            key: Some(key),
            payload: Some(payload),
            headers: souk_runtime::kafka::make_headers(&[]),
        })
        .collect();
    let p = souk_runtime::kafka::producer(&s.bootstrap).expect("producer");
    souk_runtime::kafka::send_all(&p, out).await.expect("produce");
}

/// Sum of the sink's stored next offsets over its input topic (read on the direct connection).
async fn stored(pool: &PgPool, sink: &str, topic: &str) -> i64 {
    souk_projections::sink_offsets(pool, sink).await.expect("sink_offsets").iter().filter(|r| r.topic == topic).map(|r| r.next_offset).sum()
}

async fn wait_until<F: Future<Output = bool>>(what: &str, deadline: Duration, mut check: impl FnMut() -> F) {
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < deadline, "{what}: not within {deadline:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[rstest]
#[case::commerce(Case::Commerce)]
#[case::inventory(Case::Inventory)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_is_dead_lettered_and_an_outage_moves_nothing(#[case] case: Case) {
    let s = support::stack(&format!("poison{}", case.sink().len())).await;
    let tenant = format!("t-{}", s.prefix.trim_end_matches('.'));
    let direct = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&direct).await.expect("migrate");
    let proxy = PgOutage::start(&souk_runtime::stack::database_url()).await;
    let proxied = sqlx::postgres::PgPoolOptions::new().acquire_timeout(Duration::from_secs(3)).connect_lazy(&proxy.url).expect("proxied pool");
    let (topic, sink) = (s.topology.topic(case.input()), case.sink());

    // good, poisoned (NUL in a text column), good
    let poison = case.record(&s, &tenant, 2, "nul \u{0} inside").await;
    produce(&s, case.input(), vec![case.record(&s, &tenant, 1, "hello").await, poison.clone(), case.record(&s, &tenant, 3, "after").await]).await;
    let input = souk_runtime::testkit::read_to_end(&s.bootstrap, &topic).await.expect("input");
    let at = input.iter().find(|r| r.payload.as_deref() == Some(&poison.1[..])).map(|r| (r.partition.to_string(), r.offset.to_string())).expect("the poisoned record");
    let end = s.topic_end(case.input());
    let (stop, shutdown) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(case.run(s.topology.clone(), s.bootstrap.clone(), s.codec.clone(), proxied, shutdown));

    wait_until("the sink passes the refused record", Duration::from_secs(90), || async { stored(&direct, sink, &topic).await == end }).await;
    assert!(case.applied(&direct, &tenant, 1).await && case.applied(&direct, &tenant, 3).await, "the records around the refused one are applied");
    let dlq = s.topology.dlq_topic(sink);
    let dead = souk_runtime::testkit::read_to_end(&s.bootstrap, &dlq).await.expect("dlq");
    assert_eq!(dead.len(), 1, "exactly the refused record is dead-lettered: {dead:?}");
    let h = &dead[0].headers;
    assert_eq!((h.get(headers::SOURCE_TOPIC), h.get(headers::SOURCE_PARTITION), h.get(headers::SOURCE_OFFSET)), (Some(&topic), Some(&at.0), Some(&at.1)), "provenance: {h:?}");
    assert!(h.get(headers::ERROR).is_some_and(|e| e.contains("SQLSTATE 22021")), "the database's reason: {h:?}");
    assert_eq!(dead[0].payload.as_deref(), Some(&poison.1[..]), "the original bytes");

    // The database goes away: the next record is retried, never skipped or dead-lettered.
    let failures = || Metrics::global().batch_failures.with_label_values(&[sink]).get();
    let before = failures();
    proxy.set_down(true);
    produce(&s, case.input(), vec![case.record(&s, &tenant, 4, "during the outage").await]).await;
    wait_until("the sink retries against the missing database", Duration::from_secs(60), || async { failures() >= before + 2 }).await;
    assert_eq!(stored(&direct, sink, &topic).await, end, "nothing advanced during the outage");
    assert!(!case.applied(&direct, &tenant, 4).await);
    assert_eq!(souk_runtime::testkit::read_to_end(&s.bootstrap, &dlq).await.expect("dlq").len(), 1, "an outage dead-letters nothing");

    // Back: it resumes where it stopped.
    proxy.set_down(false);
    wait_until("the sink resumes after the outage", Duration::from_secs(90), || async { stored(&direct, sink, &topic).await == end + 1 }).await;
    assert!(case.applied(&direct, &tenant, 4).await, "the record of the outage is applied once the database is back");
    assert_eq!(souk_runtime::testkit::read_to_end(&s.bootstrap, &dlq).await.expect("dlq").len(), 1);
    stop.send(true).expect("stop");
    run.await.expect("join").expect("sink run");
}
