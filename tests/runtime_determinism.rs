//! Determinism: the same input log, ticks included, replayed into fresh topics yields byte-identical
//! outputs, partition by partition, in both exactly-once modes. Needs the local stack (`./dev up`).

mod support;

use rstest::rstest;
use souk_runtime::exactly_once::Mode;

use souk::workload::{generate, WorkloadSpec};
use souk_runtime::kafka::{make_headers, producer, send_all, OutRecord};
use support::{kill9, Pipeline};

/// The Avro datum after the 5-byte Confluent header (magic + schema id).
fn datum(bytes: &[u8]) -> &[u8] {
    &bytes[5..]
}

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_same_log_gives_byte_identical_outputs(#[case] mode: Mode) {
    let a = Pipeline::with_mode("da", mode).await;
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 16, commands: 1_500, seed: 3, start_ms: 1_700_000_000_000 });
    let ticked = a.topology.ticked_topics();
    let prod = producer(&a.bootstrap).unwrap();
    // Commands interleaved with ticks (holds have a 1 h TTL; ticks jump 30 min at a time).
    for (i, chunk) in commands.chunks(300).enumerate() {
        a.produce(chunk).await;
        souk_producers::clock::tick_once(&prod, &a.codec, &ticked, 1_700_000_000_000 + (i as i64 + 1) * 1_800_000 + 3_000_000).await.unwrap();
    }
    let mut run_a = a.spawn("inventory-pool", "a");
    a.wait_processed(300).await;
    kill9(&mut run_a);

    // Copy the input log record by record (same partition, key and bytes) into fresh topics.
    let b = Pipeline::with_mode("db", mode).await;
    let input = a.read("inventory.commands").await;
    let records = input
        .iter()
        .map(|r| OutRecord { topic: b.topology.topic("inventory.commands"), partition: Some(r.partition), key: r.key.clone(), payload: r.payload.clone(), headers: make_headers(&[]) })
        .collect();
    send_all(&prod, records).await.unwrap();
    let mut run_b = b.spawn("inventory-pool", "b");
    b.wait_processed(300).await;
    kill9(&mut run_b);

    let out_a = a.read("inventory.events").await;
    let out_b = b.read("inventory.events").await;
    assert!(out_a.len() > commands.len(), "every command answered, plus stock levels and expiries");
    assert!(out_a.iter().any(|r| r.payload.as_deref().map(|p| p.len()).unwrap_or(0) > 0));
    assert_eq!(out_a.len(), out_b.len());
    let expired = a.outputs().await.iter().filter(|(_, e)| matches!(e, souk_schemas::inventory::InventoryEvent::HoldExpired(_))).count();
    assert!(expired > 0, "ticks fired hold expiries");
    // Partition by partition, the same records in the same order. Offsets are compared only
    // without transactions: each batch's commit marker takes an offset, and batch boundaries
    // depend on timing, not on the log.
    for (i, (ra, rb)) in out_a.iter().zip(&out_b).enumerate() {
        assert_eq!((ra.partition, &ra.key), (rb.partition, &rb.key), "record {i}");
        if mode == Mode::IdempotentEffects {
            assert_eq!(ra.offset, rb.offset, "record {i}");
        }
        assert_eq!(datum(ra.payload.as_deref().unwrap()), datum(rb.payload.as_deref().unwrap()), "partition {} offset {} / {}", ra.partition, ra.offset, rb.offset);
    }
}
