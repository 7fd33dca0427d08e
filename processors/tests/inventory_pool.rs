//! The inventory pool processor through the broker-free driver: holds, commits, releases, expiry,
//! idempotency and rejections (rules A2–A3).

mod support;

use rstest::rstest;
use rust_decimal_macros::dec;
use souk_processors::inventory_pool::{hold_timer_id, PoolState};
use souk_processors::InventoryPool;
use souk_runtime::Processor;
use souk_schemas::inventory::*;
use support::*;

const HOUR: i64 = 3_600_000;

/// 2 rolls × 10 m + 2 m loose in b1 at t=1000.
fn stocked() -> souk_runtime::TestDriver<InventoryPool> {
    let mut d = driver();
    feed(&mut d, received("rcv-b1", 1_000, "b1", 2, dec!(10), dec!(2), 1_000));
    d
}

#[test]
fn name_and_output() {
    assert_eq!(InventoryPool.name(), "inventory-pool");
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(1), HOUR));
    assert!(d.outputs.iter().all(|o| (o.output == "events" || o.output == "levels") && o.emitted.key == KEY));
    // Every level also goes to the compacted levels table, the same event under the same key.
    let levels = |output: &str| {
        d.outputs.iter().filter(|o| o.output == output && matches!(o.emitted.event, InventoryEvent::StockLevelChanged(_))).map(|o| (o.emitted.key.clone(), o.emitted.event.clone())).collect::<Vec<_>>()
    };
    assert!(!levels("events").is_empty());
    assert_eq!(levels("events"), levels("levels"));
    assert!(d.outputs.iter().filter(|o| o.output == "levels").all(|o| matches!(o.emitted.event, InventoryEvent::StockLevelChanged(_))));
}

#[test]
fn batch_received_emits_levels() {
    let mut d = driver();
    let out = feed(&mut d, received("rcv-b1", 1_000, "b1", 2, dec!(10), dec!(2), 1_000));
    let l = levels(&out).unwrap();
    assert_eq!((l.material.as_str(), l.color.as_str()), ("cotton", "blue"));
    assert_eq!((l.on_hand_meters, l.held_meters, l.available_meters), (dec!(22), dec!(0), dec!(22)));
    assert_eq!(l.batches.len(), 1);
    assert_eq!((l.batches[0].rolls, l.batches[0].loose_meters), (2, dec!(2)));
}

#[test]
fn reserve_then_commit_deducts_exactly_the_hold() {
    let mut d = stocked();
    let out = feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), HOUR));
    assert_eq!(kinds(&out), ["Reserved", "StockLevelChanged"]);
    let InventoryEvent::Reserved(r) = &out[0] else { unreachable!() };
    let expected = vec![BatchAllocation { batch_id: "b1".into(), rolls: 1, loose_meters: dec!(2), cut_meters: dec!(1), meters: dec!(13) }];
    assert_eq!(r.allocations, expected);
    assert_eq!(r.expires_at, 2_000 + HOUR);
    let l = levels(&out).unwrap();
    assert_eq!((l.on_hand_meters, l.held_meters, l.available_meters), (dec!(22), dec!(13), dec!(9)));
    assert_eq!(d.entry(KEY).unwrap().timers.get(&hold_timer_id("h1")), Some(&(2_000 + HOUR)));

    let out = feed(&mut d, commit("c1", 3_000, "h1"));
    assert_eq!(kinds(&out), ["Committed", "StockLevelChanged"]);
    let InventoryEvent::Committed(c) = &out[0] else { unreachable!() };
    assert_eq!((c.allocations.clone(), c.order_id.as_str(), c.line_id.as_str()), (expected, "o-h1", "l-h1"));
    let l = levels(&out).unwrap();
    assert_eq!((l.on_hand_meters, l.held_meters, l.available_meters), (dec!(9), dec!(0), dec!(9)));
    // One whole roll and 2 m loose taken, the second roll cut at 1 m: its 9 m remnant is loose.
    assert_eq!((l.batches[0].rolls, l.batches[0].loose_meters), (0, dec!(9)));
    assert!(d.entry(KEY).unwrap().timers.is_empty());
    assert!(d.state(KEY).holds.is_empty());
}

#[test]
fn reserve_then_release_restores_the_stock_exactly() {
    let mut d = stocked();
    let before: PoolState = d.state(KEY);
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), HOUR));
    let out = feed(&mut d, release("x1", 3_000, "h1"));
    assert_eq!(kinds(&out), ["Released", "StockLevelChanged"]);
    let after = d.state(KEY);
    assert_eq!(after.batches, before.batches);
    assert!(after.holds.is_empty());
    let l = levels(&out).unwrap();
    assert_eq!((l.on_hand_meters, l.held_meters, l.available_meters), (dec!(22), dec!(0), dec!(22)));
    assert!(d.entry(KEY).unwrap().timers.is_empty());
    // The opened roll closed again: the next 20 m line takes two whole rolls.
    let out = feed(&mut d, reserve("r2", 4_000, "h2", dec!(20), HOUR));
    let InventoryEvent::Reserved(r) = &out[0] else { unreachable!() };
    assert_eq!((r.allocations[0].rolls, r.allocations[0].cut_meters), (2, dec!(0)));
}

#[test]
fn ttl_expiry_on_a_tick_releases_the_hold() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), 1_000));
    assert!(tick(&mut d, 2_999).is_empty());
    let out = tick(&mut d, 3_000);
    assert_eq!(kinds(&out), ["HoldExpired", "StockLevelChanged"]);
    let InventoryEvent::HoldExpired(x) = &out[0] else { unreachable!() };
    assert_eq!((x.hold_id.as_str(), x.order_id.as_str(), x.line_id.as_str()), ("h1", "o-h1", "l-h1"));
    let l = levels(&out).unwrap();
    assert_eq!((l.on_hand_meters, l.held_meters, l.available_meters), (dec!(22), dec!(0), dec!(22)));
    assert!(d.state(KEY).holds.is_empty());

    let out = feed(&mut d, commit("c1", 4_000, "h1"));
    assert_eq!(kinds(&out), ["HoldCommandRejected"]);
    let InventoryEvent::HoldCommandRejected(r) = &out[0] else { unreachable!() };
    assert_eq!((r.command.as_str(), r.reason.as_str()), ("commit", "HOLD_EXPIRED"));
    let out = feed(&mut d, release("x1", 4_001, "h1"));
    let InventoryEvent::HoldCommandRejected(r) = &out[0] else { unreachable!() };
    assert_eq!((r.command.as_str(), r.reason.as_str()), ("release", "HOLD_EXPIRED"));
}

/// A keyed command whose time passes the TTL expires the hold first (timers fire before the event).
#[test]
fn a_late_commit_finds_the_hold_expired() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(5), 1_000));
    let out = feed(&mut d, commit("c1", 3_500, "h1"));
    assert_eq!(kinds(&out), ["HoldExpired", "StockLevelChanged", "HoldCommandRejected"]);
}

#[test]
fn redelivered_reserve_gets_the_same_answer() {
    let mut d = stocked();
    let first = feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), HOUR));
    // Another line takes the rest, so a fresh allocation would now fail.
    feed(&mut d, reserve("r2", 2_100, "h2", dec!(9), HOUR));
    let again = feed(&mut d, reserve("r1-redelivered", 2_200, "h1", dec!(13), HOUR));
    assert_eq!(kinds(&again), ["Reserved"]);
    assert_eq!(data(&again[0]), data(&first[0]));
    assert_ne!(again[0], first[0], "the envelope derives from the new cause");
    // Still the same after the hold closed.
    feed(&mut d, commit("c1", 2_300, "h1"));
    let later = feed(&mut d, reserve("r1-later", 2_400, "h1", dec!(13), HOUR));
    assert_eq!(data(&later[0]), data(&first[0]));

    // A refused reserve is refused again with the same numbers, even after new stock.
    let refused = feed(&mut d, reserve("r3", 2_500, "h3", dec!(50), HOUR));
    assert_eq!(kinds(&refused), ["ReserveRejected"]);
    feed(&mut d, received("rcv-b2", 2_600, "b2", 10, dec!(10), dec!(0), 2_600));
    let again = feed(&mut d, reserve("r3-again", 2_700, "h3", dec!(50), HOUR));
    assert_eq!(data(&again[0]), data(&refused[0]));
}

#[test]
fn the_same_event_id_twice_is_skipped_by_the_runtime() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(5), HOUR));
    let state = d.state(KEY);
    let out = feed(&mut d, reserve("r1", 2_000, "h1", dec!(5), HOUR));
    assert!(out.is_empty());
    assert_eq!(d.skipped, 1);
    assert_eq!(d.state(KEY), state);
}

#[test]
fn insufficient_stock_is_refused_without_a_state_change() {
    let mut d = stocked();
    let before = d.state(KEY);
    let out = feed(&mut d, reserve("r1", 2_000, "h1", dec!(22.001), HOUR));
    assert_eq!(kinds(&out), ["ReserveRejected"]);
    let InventoryEvent::ReserveRejected(r) = &out[0] else { unreachable!() };
    assert_eq!((r.requested_meters, r.available_meters), (dec!(22.001), dec!(22)));
    let after = d.state(KEY);
    assert_eq!((after.batches, after.holds), (before.batches, before.holds));
    assert!(d.entry(KEY).unwrap().timers.is_empty());
}

#[test]
fn commit_and_release_answers_per_hold_state() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(5), HOUR));
    feed(&mut d, reserve("r2", 2_000, "h2", dec!(5), HOUR));
    let committed = feed(&mut d, commit("c1", 3_000, "h1"));
    let again = feed(&mut d, commit("c1-again", 3_100, "h1"));
    assert_eq!(kinds(&again), ["Committed"]);
    assert_eq!(data(&again[0]), data(&committed[0]));
    let released = feed(&mut d, release("x2", 3_200, "h2"));
    let again = feed(&mut d, release("x2-again", 3_300, "h2"));
    assert_eq!(kinds(&again), ["Released"]);
    assert_eq!(data(&again[0]), data(&released[0]));

    let cases = [
        (release("x1", 4_000, "h1"), "release", "ALREADY_COMMITTED"),
        (commit("c2", 4_000, "h2"), "commit", "ALREADY_RELEASED"),
        (commit("c9", 4_000, "nope"), "commit", "UNKNOWN_HOLD"),
        (release("x9", 4_000, "nope"), "release", "UNKNOWN_HOLD"),
    ];
    for (command, name, reason) in cases {
        let out = feed(&mut d, command);
        let [InventoryEvent::HoldCommandRejected(r)] = out.as_slice() else { panic!("{out:?}") };
        assert_eq!((r.command.as_str(), r.reason.as_str()), (name, reason));
    }
    let l = d.state(KEY);
    assert_eq!(l.batches[0].on_hand_meters(), dec!(17));
}

/// A hold on another hold's remnant may commit first: the roll is opened then, nothing goes negative.
#[test]
fn holds_sharing_an_opened_roll_commit_in_any_order() {
    let mut d = driver();
    feed(&mut d, received("rcv-b1", 1_000, "b1", 2, dec!(10), dec!(5), 1_000));
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(7), HOUR)); // 5 loose + cut 2
    feed(&mut d, reserve("r2", 2_000, "h2", dec!(8), HOUR)); // 8 loose (3 from the remnant)
    let out = feed(&mut d, commit("c2", 3_000, "h2"));
    let b = &levels(&out).unwrap().batches[0];
    assert_eq!((b.rolls, b.loose_meters, b.held_meters, b.available_meters), (1, dec!(7), dec!(7), dec!(10)));
    let out = feed(&mut d, commit("c1", 3_000, "h1"));
    let b = &levels(&out).unwrap().batches[0];
    assert_eq!((b.rolls, b.loose_meters, b.held_meters, b.available_meters), (1, dec!(0), dec!(0), dec!(10)));
}

#[test]
fn batches_are_allocated_fifo_across_receipts() {
    let mut d = driver();
    feed(&mut d, received("rcv-b2", 1_000, "b2", 1, dec!(10), dec!(0), 2_000));
    feed(&mut d, received("rcv-b1", 1_000, "b1", 1, dec!(10), dec!(0), 1_000));
    let out = feed(&mut d, reserve("r1", 2_000, "h1", dec!(15), HOUR));
    let InventoryEvent::Reserved(r) = &out[0] else { unreachable!() };
    let ids: Vec<_> = r.allocations.iter().map(|a| (a.batch_id.as_str(), a.meters)).collect();
    assert_eq!(ids, [("b1", dec!(10)), ("b2", dec!(5))]);
    let l = levels(&out).unwrap();
    assert_eq!(l.batches.iter().map(|b| b.batch_id.as_str()).collect::<Vec<_>>(), ["b1", "b2"]);
}

#[test]
fn redelivered_receipt_is_idempotent() {
    let mut d = stocked();
    let out = feed(&mut d, received("rcv-b1-again", 5_000, "b1", 2, dec!(10), dec!(2.000), 1_000));
    assert!(out.is_empty());
    assert!(d.rejections.is_empty());
    assert_eq!(d.state(KEY).batches.len(), 1);
}

#[test]
fn adjustment_sets_on_hand_and_respects_holds() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), HOUR)); // 1 roll + 2 loose + cut 1
    let out = feed(&mut d, adjusted("a1", 3_000, "b1", 2, dec!(0.5)));
    let b = &levels(&out).unwrap().batches[0];
    assert_eq!((b.rolls, b.loose_meters, b.held_meters, b.available_meters), (2, dec!(0.5), dec!(13), dec!(7.5)));
    feed(&mut d, adjusted("a2", 3_100, "b1", 1, dec!(3)));
    assert!(d.rejections.is_empty(), "1 roll + 3 m still covers 1 held roll + 3 held loose meters");
    feed(&mut d, adjusted("a3", 3_200, "b1", 1, dec!(2.999)));
    let (_, _, _, rejection) = d.rejections.last().unwrap();
    assert_eq!(rejection.code, "ADJUSTMENT_BELOW_HELD");
    assert_eq!((d.state(KEY).batches[0].rolls, d.state(KEY).batches[0].loose_meters), (1, dec!(3)));
}

fn rejected_code(command: InventoryCommand, key: &str) -> String {
    let mut d = stocked();
    feed(&mut d, reserve("r-held", 1_500, "held", dec!(13), HOUR));
    let before = d.entry(KEY).cloned();
    let out = d.feed(TOPIC, key, command);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(d.entry(KEY).cloned(), before, "a rejection changes nothing");
    d.rejections.last().expect("rejected").3.code.clone()
}

#[rstest]
#[case::zero_meters(reserve("r", 2_000, "h", dec!(0), HOUR), "NON_POSITIVE_METERS")]
#[case::negative_meters(reserve("r", 2_000, "h", dec!(-1), HOUR), "NON_POSITIVE_METERS")]
#[case::four_decimals(reserve("r", 2_000, "h", dec!(1.0005), HOUR), "TOO_MANY_DECIMALS")]
#[case::zero_ttl(reserve("r", 2_000, "h", dec!(1), 0), "NON_POSITIVE_TTL")]
#[case::negative_ttl(reserve("r", 2_000, "h", dec!(1), -5), "NON_POSITIVE_TTL")]
#[case::hold_id_reused_for_other_meters(reserve("r", 2_000, "held", dec!(14), HOUR), "HOLD_ID_CONFLICT")]
#[case::negative_rolls(received("b", 2_000, "b9", -1, dec!(10), dec!(0), 1), "NEGATIVE_ROLLS")]
#[case::negative_loose(received("b", 2_000, "b9", 1, dec!(10), dec!(-1), 1), "NEGATIVE_METERS")]
#[case::zero_meters_per_roll(received("b", 2_000, "b9", 1, dec!(0), dec!(0), 1), "BAD_METERS_PER_ROLL")]
#[case::conflicting_receipt(received("b", 2_000, "b1", 3, dec!(10), dec!(2), 1_000), "BATCH_CONFLICT")]
#[case::adjust_unknown_batch(adjusted("a", 2_000, "b9", 1, dec!(0)), "UNKNOWN_BATCH")]
#[case::adjust_below_held(adjusted("a", 2_000, "b1", 0, dec!(12.999)), "ADJUSTMENT_BELOW_HELD")]
#[case::adjust_negative(adjusted("a", 2_000, "b1", 2, dec!(-0.001)), "NEGATIVE_METERS")]
fn bad_inputs_are_rejected(#[case] command: InventoryCommand, #[case] code: &str) {
    assert_eq!(rejected_code(command, KEY), code);
}

#[test]
fn receipt_for_another_pool_is_rejected() {
    let mut command = received("b", 2_000, "b9", 1, dec!(10), dec!(0), 1);
    if let InventoryCommand::BatchReceived(r) = &mut command {
        r.color = "red".into();
    }
    assert_eq!(rejected_code(command, KEY), "POOL_MISMATCH");
}

#[rstest]
#[case::two_parts("acme|cotton")]
#[case::empty_part("acme||blue")]
#[case::other_tenant("globex|cotton|blue")]
fn bad_keys_are_rejected(#[case] key: &str) {
    let mut d = driver();
    d.feed(TOPIC, key, received("b", 2_000, "b1", 1, dec!(10), dec!(0), 1));
    let code = &d.rejections.last().expect("rejected").3.code;
    assert!(code == "BAD_KEY" || code == "TENANT_MISMATCH", "{code}");
}

#[test]
fn a_tick_reaching_handle_is_a_no_op() {
    let d = stocked();
    let mut state = d.state(KEY);
    let before = state.clone();
    let tick = InventoryCommand::Tick(souk_schemas::clock::Tick { envelope: env("t", 9), partition: 0 });
    let cause = env("t", 9);
    let mut timers = Default::default();
    let mut ctx = souk_runtime::Ctx::new(KEY, &cause, "s".into(), 9, &mut timers);
    assert_eq!(InventoryPool.handle(&mut state, &tick, &mut ctx), Ok(()));
    assert!(ctx.into_outputs().is_empty());
    assert_eq!(state, before);
}

/// Replaying the same log gives the same outputs, ids included.
#[test]
fn replay_is_deterministic() {
    let run = || {
        let mut d = stocked();
        feed(&mut d, reserve("r1", 2_000, "h1", dec!(13), 1_000));
        feed(&mut d, reserve("r2", 2_100, "h2", dec!(4), HOUR));
        tick(&mut d, 5_000);
        feed(&mut d, commit("c2", 5_100, "h2"));
        d.outputs.clone()
    };
    assert_eq!(run(), run());
}

/// The state survives the changelog's JSON round trip unchanged (holds, closed memory, decimals).
#[test]
fn state_round_trips_through_json() {
    let mut d = stocked();
    feed(&mut d, reserve("r1", 2_000, "h1", dec!(13.125), HOUR));
    feed(&mut d, reserve("r2", 2_000, "h2", dec!(1), HOUR));
    feed(&mut d, commit("c2", 2_500, "h2"));
    feed(&mut d, reserve("r3", 2_600, "h3", dec!(500), HOUR));
    let state = d.state(KEY);
    assert_eq!((state.holds.len(), state.closed.len()), (1, 2));
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<PoolState>(&json).unwrap(), state);
}
