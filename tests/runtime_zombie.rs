//! Two owners at once. Instance A freezes itself (SIGSTOP, a failpoint) inside a batch — outputs
//! written, changelog not — and the group moves its partitions to B, which processes everything.
//! Then A resumes (SIGCONT) and tries to finish its batch. In `transactions` mode A is fenced and
//! nothing it wrote becomes visible; in `idempotent-effects` mode its late changelog records are
//! older than B's and no key's state rolls back. Both: later input is answered exactly as the
//! broker-free driver answers the whole log, and each output exists once by event id. Needs the
//! local stack.

mod support;

use rstest::rstest;
use souk::workload::{generate, WorkloadSpec};
use souk_runtime::exactly_once::Mode;
use support::{assert_exactly_once_effects, kill9, signal, wait_for_log, Pipeline};

#[rstest]
#[case::transactions(Mode::Transactions)]
#[case::idempotent_effects(Mode::IdempotentEffects)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_zombie_changes_nothing(#[case] mode: Mode) {
    let p = Pipeline::with_mode("zb", mode).await;
    let commands = generate(&WorkloadSpec { tenant: "acme".into(), pools: 32, commands: 5_000, seed: 23, start_ms: 1_700_000_000_000 });
    let (first, rest) = commands.split_at(3_500);
    p.produce(first).await;

    let mut a = p.spawn_with("inventory-pool", "a", "a", &[("SOUK_FAILPOINT", "stop-before-changelog:2")]);
    wait_for_log(&p, "a", "SIGSTOP before changelog", 180).await;
    // A is frozen inside its third batch. B joins; once A's session times out, B owns everything.
    let mut b = p.spawn_with("inventory-pool", "b", "b", &[]);
    p.wait_processed(300).await;
    assert!(p.log_of("b").contains("partitions assigned"), "b took the partitions over");

    // A wakes up and tries to finish the batch it was in.
    signal(&a, "-CONT");
    wait_for_log(&p, "a", "failpoint stop-before-changelog: resumed", 60).await;
    // More input, now shared between A and B again: answers depend on every key's state.
    p.produce(rest).await;
    p.wait_processed(300).await;
    kill9(&mut a);
    kill9(&mut b);
    eprintln!("a after resuming:\n{}", p.log_of("a").lines().filter(|l| l.contains("batch failed") || l.contains("fenced") || l.contains("stale")).take(5).collect::<Vec<_>>().join("\n"));
    if mode == Mode::IdempotentEffects {
        // A's late records are in the changelog after B's newer ones: restore must ignore them.
        assert!(stale_changelog_records(&p).await > 0, "the zombie wrote stale changelog records after the new owner's");
    }
    assert_exactly_once_effects(&p).await;
}

/// Changelog records written at a lower input position than an earlier record of the same key.
async fn stale_changelog_records(p: &Pipeline) -> usize {
    use souk_runtime::store::{position_at_least, Position};
    let mut newest: std::collections::HashMap<String, Position> = Default::default();
    let mut stale = 0;
    for r in souk_runtime::testkit::read_to_end(&p.bootstrap, &p.topology.changelog_topic("inventory-pool")).await.unwrap() {
        let json = p.codec.decode_json(r.payload.as_deref().unwrap()).await.unwrap();
        let position: Position = json["input_position"].as_object().unwrap().iter().map(|(t, o)| (t.clone(), o.as_i64().unwrap())).collect();
        let key = r.key.unwrap();
        match newest.get(&key) {
            Some(prev) if !position_at_least(&position, prev) => stale += 1,
            _ => {
                newest.insert(key, position);
            }
        }
    }
    stale
}
