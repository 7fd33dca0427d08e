//! A crash in the middle of a batch's changelog: a failpoint makes `souk run` abort after `k` of the
//! batch's `n` changelog records were acked (k = 0, 1, n/2, n−1), on a workload whose ticks make
//! hold expiries (timer outputs) fire in most batches. After a restart every output — timer
//! outputs included — exists exactly once by event id, copies are byte-identical, and the
//! durable state equals the broker-free driver's. In `transactions` mode nothing of the failed
//! batch is visible: a `read_committed` reader sees no copy at all. Needs the local stack.

mod support;

use rstest::rstest;
use souk::workload::{generate, WorkloadSpec};
use souk_runtime::exactly_once::Mode;
use souk_schemas::inventory::InventoryEvent;
use std::collections::HashSet;
use std::time::{Duration, Instant};
use support::{assert_exactly_once_effects, kill9, Pipeline};

const T0: i64 = 1_700_000_000_000;

/// Commands in chunks of 300, each followed by a tick 30 min further on (holds live 1 h), so
/// timers come due all along the stream.
async fn produce_with_ticks(p: &Pipeline, commands: &[souk::workload::KeyedCommand]) {
    let prod = souk_runtime::kafka::producer(&p.bootstrap).unwrap();
    let ticked = p.topology.ticked_topics();
    for (i, chunk) in commands.chunks(300).enumerate() {
        p.produce(chunk).await;
        souk_producers::clock::tick_once(&prod, &p.codec, &ticked, T0 + (i as i64 + 1) * 1_800_000 + 3_000_000).await.unwrap();
    }
}

#[rstest]
#[case::transactions_none_acked(Mode::Transactions, "0")]
#[case::transactions_one_acked(Mode::Transactions, "1")]
#[case::transactions_half_acked(Mode::Transactions, "half")]
#[case::transactions_all_but_last_acked(Mode::Transactions, "last")]
#[case::idempotent_effects_none_acked(Mode::IdempotentEffects, "0")]
#[case::idempotent_effects_one_acked(Mode::IdempotentEffects, "1")]
#[case::idempotent_effects_half_acked(Mode::IdempotentEffects, "half")]
#[case::idempotent_effects_all_but_last_acked(Mode::IdempotentEffects, "last")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_inside_the_changelog_duplicates_no_effect(#[case] mode: Mode, #[case] keep: &str) {
    let p = Pipeline::with_mode("pc", mode).await;
    // 256 pools: a batch (mostly one partition's records) touches some 30 keys.
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 256, commands: 4_500, seed: 17, start_ms: T0 });
    produce_with_ticks(&p, &commands).await;

    // The first batch after three with at least 24 changelog records (timers firing by then)
    // dies after `keep` of them were acked.
    let failpoint = format!("changelog:{keep}:3:24");
    let mut crashing = p.spawn_with("inventory-pool", "crash", "main", &[("SOUK_FAILPOINT", &failpoint)]);
    let started = Instant::now();
    let status = loop {
        if let Some(status) = crashing.0.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "the failpoint never fired:\n{}", p.log_of("crash"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let log = p.log_of("crash");
    assert!(!status.success() && log.contains("souk failpoint: crashing after"), "the process died at the failpoint ({status}):\n{log}");
    assert!(log.contains("changelog records ("), "the failpoint names the batch it hit:\n{log}");
    for line in log.lines().filter(|l| l.contains("souk failpoint")) {
        eprintln!("{line}");
    }

    let mut after = p.spawn("inventory-pool", "after");
    p.wait_processed(300).await;
    kill9(&mut after);

    let driver = assert_exactly_once_effects(&p).await;
    let expired = driver.outputs.iter().filter(|o| matches!(o.emitted.event, InventoryEvent::HoldExpired(_))).count();
    assert!(expired > 100, "timers fired all along the stream ({expired} expiries)");
    let outputs = p.read("inventory.events").await;
    let distinct: HashSet<&str> = outputs.iter().filter_map(|r| r.headers.get("souk-event-id").map(String::as_str)).collect();
    if mode == Mode::IdempotentEffects && keep != "last" {
        // The crashed batch's outputs were acked before its changelog: the restart re-emitted
        // those of the keys whose record was lost (with k = n−1 only the clock marker was lost:
        // every key skips its replay, and no timer fires early under a restored clock).
        assert!(outputs.len() > distinct.len(), "the crashed batch's outputs were re-emitted (identical copies)");
    }
}
