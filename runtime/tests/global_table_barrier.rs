//! The global table on the real broker: it loads a topic from the beginning, keeps the latest value
//! per key, and its barrier (`catch_up`) returns as soon as every record committed before the call
//! is in the table — also when the partitions end in transaction markers, which no reader receives.

use rdkafka::producer::{FutureProducer, Producer};
use souk_runtime::codec::Codec;
use souk_runtime::global_table::GlobalTable;
use souk_runtime::kafka::{make_headers, send_all, OutRecord};
use souk_runtime::stack;
use souk_runtime::testkit::{require_stack, unique_prefix};
use souk_runtime::topology::Topology;
use souk_schemas::inventory::{InventoryEvent, StockLevelChanged};
use souk_schemas::{Catalog, Envelope};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPOLOGY: &str = r#"
[topics."levels"]
key = "tenant|material|color"
records = ["souk.inventory.StockLevelChanged"]
partitions = 3
compacted = true
"#;

fn level(key: &str, available: i64, n: u32) -> StockLevelChanged {
    let parts: Vec<&str> = key.split('|').collect();
    StockLevelChanged {
        envelope: Envelope::external(parts[0], &format!("level-{key}-{n}"), 1_000 + n as i64),
        material: parts[1].into(),
        color: parts[2].into(),
        batches: vec![],
        on_hand_meters: available.into(),
        held_meters: 0.into(),
        available_meters: available.into(),
        price_per_meter: None,
        aliases: vec![],
    }
}

async fn records(codec: &Codec, topic: &str, levels: &[(&str, i64, u32)]) -> Vec<OutRecord> {
    let mut out = Vec::new();
    for (key, available, n) in levels {
        let payload = codec.encode(topic, &InventoryEvent::StockLevelChanged(level(key, *available, *n))).await.unwrap();
        out.push(OutRecord { topic: topic.to_string(), partition: None, key: Some(key.to_string()), payload: Some(payload), headers: make_headers(&[]) });
    }
    out
}

fn available(table: &GlobalTable<InventoryEvent, i64>) -> HashMap<String, i64> {
    table.read(|rows| rows.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_holds_the_latest_value_per_key_and_its_barrier_passes_transaction_markers() {
    require_stack("global table").await;
    let topology = Topology::parse(TOPOLOGY, &unique_prefix("gt")).unwrap();
    let catalog = Catalog::builtin().unwrap();
    let (bootstrap, registry) = (stack::kafka_bootstrap(), stack::schema_registry_url());
    souk_runtime::admin::apply(&topology, &catalog, &bootstrap, &registry).await.expect("apply");
    let codec = Arc::new(stack::codec_for(&topology, &catalog, &registry).unwrap());
    let topic = topology.topic("levels");

    // Before the table exists: plain and transactional writes (the latter end in markers).
    let plain = souk_runtime::kafka::producer(&bootstrap).unwrap();
    send_all(&plain, records(&codec, &topic, &[("t|cotton|blue", 10, 1), ("t|silk|red", 5, 2)]).await).await.unwrap();
    let tx: FutureProducer =
        souk_runtime::admin::client_config(&bootstrap).set("transactional.id", format!("{topic}-writer")).set("enable.idempotence", "true").set("partitioner", "murmur2_random").create().unwrap();
    tx.init_transactions(Duration::from_secs(10)).unwrap();
    tx.begin_transaction().unwrap();
    send_all(&tx, records(&codec, &topic, &[("t|cotton|blue", 7, 3), ("t|wool|grey", 3, 4)]).await).await.unwrap();
    tx.commit_transaction(Duration::from_secs(10)).unwrap();

    let fold = Box::new(|rows: &mut HashMap<String, i64>, key: &str, event: InventoryEvent| {
        if let InventoryEvent::StockLevelChanged(l) = event {
            rows.insert(key.to_string(), l.available_meters.try_into().unwrap());
        }
    });
    let table = GlobalTable::load(&bootstrap, codec.clone(), &topic, 3, fold, Duration::from_secs(30)).await.expect("the table loads");
    assert_eq!(available(&table), HashMap::from([("t|cotton|blue".into(), 7), ("t|silk|red".into(), 5), ("t|wool|grey".into(), 3)]));

    // A transaction committed now is visible after one barrier, without waiting for anything else.
    tx.begin_transaction().unwrap();
    send_all(&tx, records(&codec, &topic, &[("t|silk|red", 0, 5)]).await).await.unwrap();
    tx.commit_transaction(Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    table.catch_up(Duration::from_secs(10)).await.expect("the barrier passes the commit marker");
    eprintln!("barrier after a transactional write: {} ms", started.elapsed().as_millis());
    assert_eq!(available(&table)["t|silk|red"], 0);

    // Idle partitions (every one ends in a marker or nothing): the barrier is immediate-ish.
    let started = Instant::now();
    table.catch_up(Duration::from_secs(10)).await.unwrap();
    eprintln!("barrier on an idle table: {} ms", started.elapsed().as_millis());

    // An aborted transaction is never in the table, and does not hold the barrier up.
    tx.begin_transaction().unwrap();
    send_all(&tx, records(&codec, &topic, &[("t|cotton|blue", 999, 6)]).await).await.unwrap();
    tx.abort_transaction(Duration::from_secs(10)).unwrap();
    table.catch_up(Duration::from_secs(10)).await.expect("the barrier passes the abort marker");
    assert_eq!(available(&table)["t|cotton|blue"], 7);
}
