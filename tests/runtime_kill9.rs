//! kill -9 of the processor at three random points of a 10,000-event stream over 8 partitions:
//! every request gets an answer, every copy of an answer is byte-identical, and the final durable
//! state equals the broker-free driver's over the same log. Needs the local stack (`./dev up`).

mod support;

use rstest::rstest;
use souk_runtime::exactly_once::Mode;

use rand::{Rng, SeedableRng};
use souk::workload::{generate, WorkloadSpec};
use std::time::{Duration, Instant};
use support::{assert_exactly_once_effects, kill9, Pipeline};

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_three_times_loses_nothing_and_duplicates_nothing(#[case] mode: Mode) {
    let p = Pipeline::with_mode("k9", mode).await;
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 64, commands: 10_000, seed: 9, start_ms: 1_700_000_000_000 });
    p.produce(&commands).await;
    let seed: u64 = rand::random();
    eprintln!("kill points seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let group = p.topology.group_id("inventory-pool");
    let input = p.topology.topic("inventory.commands");
    let mut child = p.spawn("inventory-pool", "run0");
    for round in 1..=3 {
        // Kill at a random point: once the processor committed a random share of the remaining input.
        let (done, end) = souk_runtime::testkit::committed_progress(&p.bootstrap, &group, &input).await.unwrap();
        let target = done + rng.random_range(1..=((end - done) / 4).max(1));
        let started = Instant::now();
        loop {
            let (now, _) = souk_runtime::testkit::committed_progress(&p.bootstrap, &group, &input).await.unwrap();
            if now >= target || started.elapsed() > Duration::from_secs(120) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(5..50))).await;
        }
        kill9(&mut child);
        let (at_kill, _) = souk_runtime::testkit::committed_progress(&p.bootstrap, &group, &input).await.unwrap();
        eprintln!("round {round}: killed at ≥{target} committed");
        let restarted = Instant::now();
        child = p.spawn("inventory-pool", &format!("run{round}"));
        // Restart time: from starting the new process to its first committed batch (its first
        // new outputs visible to read_committed readers).
        loop {
            let (now, end) = souk_runtime::testkit::committed_progress(&p.bootstrap, &group, &input).await.unwrap();
            if now > at_kill || now >= end {
                break;
            }
            assert!(restarted.elapsed() < Duration::from_secs(120), "the restarted processor committed nothing within 120 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        eprintln!("round {round}: restart to first new output: {} ms ({mode} mode)", restarted.elapsed().as_millis());
    }
    p.wait_processed(600).await;
    kill9(&mut child);
    let driver = assert_exactly_once_effects(&p).await;
    assert!(driver.skipped > 0, "the workload's upstream copies were skipped");
    let restores = (1..=3).filter(|r| p.log_of(&format!("run{r}")).contains("store restored from changelog")).count();
    assert_eq!(restores, 3, "every restarted process restored its stores from the changelog");
}
