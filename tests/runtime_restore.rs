//! Restore: the processor's process is removed (kill -9), a new one rebuilds every store from the
//! changelog — logging how long it took — and continues exactly where the durable state left off.

mod support;

use rstest::rstest;
use souk_runtime::exactly_once::Mode;

use souk::workload::{generate, WorkloadSpec};
use support::{assert_exactly_once_effects, kill9, Pipeline};

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_process_rebuilds_state_from_the_changelog(#[case] mode: Mode) {
    let p = Pipeline::with_mode("rs", mode).await;
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 32, commands: 3_000, seed: 5, start_ms: 1_700_000_000_000 });
    let (before, after) = commands.split_at(2_000);
    p.produce(before).await;
    let mut first = p.spawn("inventory-pool", "first");
    p.wait_processed(300).await;
    kill9(&mut first);
    p.produce(after).await;
    let mut second = p.spawn("inventory-pool", "second");
    p.wait_processed(300).await;
    kill9(&mut second);
    let log = p.log_of("second");
    let restored: Vec<&str> = log.lines().filter(|l| l.contains("store restored from changelog")).collect();
    assert!(!restored.is_empty(), "restore is logged");
    assert!(restored.iter().all(|l| l.contains("took_ms")), "with the time it took: {restored:?}");
    eprintln!("{}", restored.join("\n"));
    assert_exactly_once_effects(&p).await;
}
