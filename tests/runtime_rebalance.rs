//! Scaling by partition: a second instance joins mid-stream, then the first stops; partitions and
//! their state move, no answer is lost, re-emitted answers are identical, and the final state equals
//! the driver's. Needs the local stack (`./dev up`).

mod support;

use rstest::rstest;
use souk_runtime::exactly_once::Mode;

use souk::workload::{generate, WorkloadSpec};
use support::{assert_exactly_once_effects, kill9, terminate, Pipeline};

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_moves_with_partitions_between_instances(#[case] mode: Mode) {
    let p = Pipeline::with_mode("rb", mode).await;
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 64, commands: 6_000, seed: 11, start_ms: 1_700_000_000_000 });
    let (first, rest) = commands.split_at(2_000);
    let (second, third) = rest.split_at(2_000);
    p.produce(first).await;
    let mut a = p.spawn_with("inventory-pool", "a", "a", &[]);
    p.wait_processed(300).await;
    // b joins while a is busy with the second share (a rebalance mid-stream)…
    let mut b = p.spawn_with("inventory-pool", "b", "b", &[]);
    p.produce(second).await;
    p.wait_processed(300).await;
    // …then a stops gracefully while the third share is being produced.
    let stopping = tokio::task::spawn_blocking(move || {
        terminate(&mut a);
    });
    p.produce(third).await;
    stopping.await.unwrap();
    p.wait_processed(300).await;
    let log_b = p.log_of("b");
    assert!(log_b.contains("partitions assigned"), "b joined the group");
    assert!(log_b.contains("store restored from changelog"), "b restored the state of the partitions it took over");
    kill9(&mut b);
    assert_exactly_once_effects(&p).await;
}
