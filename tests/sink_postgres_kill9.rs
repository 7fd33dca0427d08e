//! The Postgres projection under kill -9: `souk run` (inventory processor + Postgres sink) is killed
//! twice while it projects; after restarts the rows equal the fold of the output log — every pool,
//! batch and hold — and the stored sink offsets equal the end of the topic (nothing applied twice,
//! nothing skipped). Needs the local stack (`./dev up`).

mod support;

use rstest::rstest;
use souk_runtime::exactly_once::Mode;

use souk::workload::{generate, WorkloadSpec};
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::StreamEvent;
use sqlx::PgPool;
use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};
use support::{kill9, Pipeline};

async fn projected(pool: &PgPool, topic: &str) -> i64 {
    let (n,): (Option<i64>,) = sqlx::query_as("SELECT SUM(next_offset)::bigint FROM sink_offsets WHERE sink = 'inventory-postgres' AND topic = $1").bind(topic).fetch_one(pool).await.unwrap();
    n.unwrap_or(0)
}

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_during_projection_leaves_rows_equal_to_the_log(#[case] mode: Mode) {
    let p = Pipeline::with_mode("sk", mode).await;
    let tenant = p.prefix.trim_end_matches('.').replace('.', "-");
    let commands = generate(&WorkloadSpec { tenant: tenant.clone(), pools: 32, commands: 4_000, seed: 21, start_ms: 1_700_000_000_000 });
    let db = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("Postgres of the local stack (./dev up)");
    souk_projections::migrate(&db).await.unwrap();
    let events = p.topology.topic("inventory.events");
    p.produce(&commands).await;

    let mut run = p.spawn("inventory-pool,inventory-postgres", "run0");
    for round in 1..=2 {
        // Kill while the sink is mid-way: once it projected a little more than before.
        let before = projected(&db, &events).await;
        let started = Instant::now();
        while projected(&db, &events).await < before + 300 && started.elapsed() < Duration::from_secs(120) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        kill9(&mut run);
        eprintln!("round {round}: killed with {} output records projected", projected(&db, &events).await);
        run = p.spawn("inventory-pool,inventory-postgres", &format!("run{round}"));
    }
    p.wait_processed(600).await;
    // The end of the topic as a read_committed reader sees it: per partition, after its last
    // record (transaction markers may follow it).
    let mut last: BTreeMap<i32, i64> = BTreeMap::new();
    for r in p.read("inventory.events").await {
        last.insert(r.partition, r.offset + 1);
    }
    let end: i64 = last.values().sum();
    let started = Instant::now();
    while projected(&db, &events).await < end {
        assert!(started.elapsed() < Duration::from_secs(300), "sink did not catch up: {} of {end}", projected(&db, &events).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    kill9(&mut run);
    assert_eq!(projected(&db, &events).await, end, "stored offsets equal the end of the topic (after each partition's last record)");

    // The fold of the output log (first copy of each event id, in log order per key).
    let mut seen = HashSet::new();
    let mut last_level = BTreeMap::new();
    let mut hold_status = BTreeMap::new();
    for (_, e) in p.outputs().await {
        if !seen.insert(e.envelope().event_id.clone()) {
            continue;
        }
        match &e {
            InventoryEvent::StockLevelChanged(s) => {
                last_level.insert((s.material.clone(), s.color.clone()), s.clone());
            }
            InventoryEvent::Reserved(r) => {
                hold_status.entry(r.hold_id.clone()).or_insert("HELD");
            }
            InventoryEvent::ReserveRejected(r) => {
                hold_status.insert(r.hold_id.clone(), "REJECTED");
            }
            InventoryEvent::Committed(c) => {
                hold_status.insert(c.hold_id.clone(), "COMMITTED");
            }
            InventoryEvent::Released(r) => {
                hold_status.insert(r.hold_id.clone(), "RELEASED");
            }
            InventoryEvent::HoldExpired(h) => {
                hold_status.insert(h.hold_id.clone(), "EXPIRED");
            }
            InventoryEvent::HoldCommandRejected(_) => {}
        }
    }
    let pools = souk_projections::pools(&mut db.acquire().await.unwrap(), &tenant).await.unwrap();
    assert_eq!(pools.len(), last_level.len(), "one row per pool");
    for row in &pools {
        let level = &last_level[&(row.material.clone(), row.color.clone())];
        assert_eq!((row.on_hand_meters, row.held_meters, row.available_meters), (level.on_hand_meters, level.held_meters, level.available_meters), "pool {}|{}", row.material, row.color);
        assert_eq!(row.last_event_id, level.envelope.event_id);
    }
    let batches = souk_projections::stock_batches(&mut db.acquire().await.unwrap(), &tenant).await.unwrap();
    assert_eq!(batches.len(), last_level.values().map(|l| l.batches.len()).sum::<usize>());
    for row in &batches {
        let level = &last_level[&(row.material.clone(), row.color.clone())];
        let b = level.batches.iter().find(|b| b.batch_id == row.batch_id).expect("batch in the last level");
        assert_eq!((row.rolls, row.loose_meters, row.held_meters, row.available_meters), (b.rolls, b.loose_meters, b.held_meters, b.available_meters), "batch {}", row.batch_id);
    }
    let holds = souk_projections::holds(&mut db.acquire().await.unwrap(), &tenant).await.unwrap();
    let rows: BTreeMap<String, String> = holds.into_iter().map(|h| (h.hold_id, h.status)).collect();
    let expected: BTreeMap<String, String> = hold_status.into_iter().map(|(k, v)| (k, v.to_string())).collect();
    assert_eq!(rows, expected, "every hold's status equals the log's");
}
