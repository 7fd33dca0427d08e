//! The inventory pool as a saga participant: every answer about a hold is also copied, with its own
//! envelope, to the requester's `reply_to` key on the `replies` output (`orders.inputs`); and the
//! catalog record that gives the pool its price and aliases (rules A3, A4).

mod support;

use rstest::rstest;
use rust_decimal_macros::dec;
use souk_processors::inventory_pool::{PoolState, REPLIES_OUTPUT};
use souk_processors::InventoryPool;
use souk_runtime::driver::DriverOutput;
use souk_runtime::TestDriver;
use souk_schemas::inventory::*;
use souk_schemas::StreamEvent;
use support::*;

const HOUR: i64 = 3_600_000;
/// The order session's key that asks for the holds.
const REQUESTER: &str = "acme|+919800000001";
/// Another requester, named only by a command.
const OTHER: &str = "acme|+919800000002";

/// Sets the command's `reply_to`.
fn to(mut command: InventoryCommand, reply_to: &str) -> InventoryCommand {
    let slot = match &mut command {
        InventoryCommand::ReserveRequested(c) => &mut c.reply_to,
        InventoryCommand::CommitRequested(c) => &mut c.reply_to,
        InventoryCommand::ReleaseRequested(c) => &mut c.reply_to,
        other => panic!("no reply_to on {other:?}"),
    };
    *slot = Some(reply_to.to_string());
    command
}

/// 2 rolls × 10 m + 2 m loose in b1, and hold h1 (5 m) placed for [`REQUESTER`].
fn held() -> TestDriver<InventoryPool> {
    let mut d = driver();
    feed(&mut d, received("rcv-b1", 1_000, "b1", 2, dec!(10), dec!(2), 1_000));
    feed(&mut d, to(reserve("r1", 2_000, "h1", dec!(5), HOUR), REQUESTER));
    d
}

/// Feeds `command` for the pool and returns every output it caused, with its logical output.
fn run(d: &mut TestDriver<InventoryPool>, command: InventoryCommand) -> Vec<DriverOutput<InventoryEvent>> {
    let before = d.outputs.len();
    feed(d, command);
    d.outputs[before..].to_vec()
}

/// Checks that the outputs are `kinds` on the pool key, each answer followed by its copy to
/// `reply_to` (same data, its own envelope), and returns the pool-key events.
fn assert_replied(out: &[DriverOutput<InventoryEvent>], reply_to: &str, kinds_on_pool: &[&str]) -> Vec<InventoryEvent> {
    let on_pool: Vec<InventoryEvent> = out.iter().filter(|o| o.output == "events").map(|o| o.emitted.event.clone()).collect();
    assert_eq!(kinds(&on_pool), kinds_on_pool, "{out:?}");
    assert!(out.iter().filter(|o| o.output == "events").all(|o| o.emitted.key == KEY));
    let answers: Vec<&InventoryEvent> = on_pool.iter().filter(|e| !matches!(e, InventoryEvent::StockLevelChanged(_))).collect();
    let replies: Vec<&DriverOutput<InventoryEvent>> = out.iter().filter(|o| o.output == REPLIES_OUTPUT).collect();
    assert_eq!(replies.len(), answers.len(), "one copy per hold answer, none for levels: {out:?}");
    for (answer, reply) in answers.iter().zip(&replies) {
        assert_eq!(reply.emitted.key, reply_to);
        assert_eq!(reply.emitted.output, Some(REPLIES_OUTPUT));
        assert_eq!(data(&reply.emitted.event), data(answer));
        let (a, r) = (answer.envelope(), reply.emitted.event.envelope());
        assert_ne!(a.event_id, r.event_id, "the copy has its own envelope");
        assert_eq!((&a.causation_id, &a.correlation_id), (&r.causation_id, &r.correlation_id));
    }
    on_pool
}

#[test]
fn reserve_answers_the_requester() {
    let mut d = driver();
    feed(&mut d, received("rcv-b1", 1_000, "b1", 2, dec!(10), dec!(2), 1_000));
    let out = run(&mut d, to(reserve("r1", 2_000, "h1", dec!(5), HOUR), REQUESTER));
    assert_replied(&out, REQUESTER, &["Reserved", "StockLevelChanged"]);
    assert_eq!(d.state(KEY).holds["h1"].reply_to.as_deref(), Some(REQUESTER));
}

#[test]
fn refused_reserve_answers_the_requester_and_remembers_it() {
    let mut d = held();
    let out = run(&mut d, to(reserve("r2", 2_100, "h2", dec!(100), HOUR), REQUESTER));
    assert_replied(&out, REQUESTER, &["ReserveRejected"]);
    assert_eq!(d.state(KEY).closed["h2"].reply_to.as_deref(), Some(REQUESTER));
    // Redelivered without a reply_to: the remembered requester still hears the same refusal.
    let again = run(&mut d, reserve("r2-again", 2_200, "h2", dec!(100), HOUR));
    let on_pool = assert_replied(&again, REQUESTER, &["ReserveRejected"]);
    assert_eq!(data(&on_pool[0]), data(&out[0].emitted.event));
}

#[test]
fn commit_and_release_answer_the_hold_requester() {
    let mut d = held();
    feed(&mut d, to(reserve("r2", 2_000, "h2", dec!(5), HOUR), REQUESTER));
    // The commands name no reply_to: the hold's own requester is answered.
    let out = run(&mut d, commit("c1", 3_000, "h1"));
    assert_replied(&out, REQUESTER, &["Committed", "StockLevelChanged"]);
    let out = run(&mut d, release("x2", 3_000, "h2"));
    assert_replied(&out, REQUESTER, &["Released", "StockLevelChanged"]);
    let state = d.state(KEY);
    assert!(["h1", "h2"].iter().all(|h| state.closed[*h].reply_to.as_deref() == Some(REQUESTER)));
}

/// The hold's requester wins over a different reply_to on a later command.
#[test]
fn the_hold_reply_to_wins_over_the_command() {
    let mut d = held();
    let out = run(&mut d, to(commit("c1", 3_000, "h1"), OTHER));
    assert_replied(&out, REQUESTER, &["Committed", "StockLevelChanged"]);
}

#[test]
fn expiry_answers_the_requester() {
    let mut d = held();
    let before = d.outputs.len();
    tick(&mut d, 2_000 + HOUR);
    let out = d.outputs[before..].to_vec();
    assert_replied(&out, REQUESTER, &["HoldExpired", "StockLevelChanged"]);
}

#[rstest]
#[case::commit_twice(commit("c1", 3_000, "h1"), commit("c1-again", 3_100, "h1"), "Committed")]
#[case::release_twice(release("x1", 3_000, "h1"), release("x1-again", 3_100, "h1"), "Released")]
#[case::release_after_commit(commit("c1", 3_000, "h1"), release("x1", 3_100, "h1"), "HoldCommandRejected")]
#[case::commit_after_release(release("x1", 3_000, "h1"), commit("c1", 3_100, "h1"), "HoldCommandRejected")]
#[case::reserve_after_commit(commit("c1", 3_000, "h1"), reserve("r1-again", 3_100, "h1", dec!(5), HOUR), "Reserved")]
fn re_answers_also_reply(#[case] first: InventoryCommand, #[case] second: InventoryCommand, #[case] kind: &str) {
    let mut d = held();
    feed(&mut d, first);
    let out = run(&mut d, second);
    assert_replied(&out, REQUESTER, &[kind]);
}

#[test]
fn a_command_after_expiry_is_refused_to_the_requester() {
    let mut d = held();
    tick(&mut d, 2_000 + HOUR);
    let out = run(&mut d, commit("c1", 2_000 + HOUR + 1, "h1"));
    let on_pool = assert_replied(&out, REQUESTER, &["HoldCommandRejected"]);
    let InventoryEvent::HoldCommandRejected(r) = &on_pool[0] else { unreachable!() };
    assert_eq!(r.reason, "HOLD_EXPIRED");
}

/// An unknown hold is answered to the command's reply_to, or only on the pool key without one.
#[rstest]
#[case::commit(commit("c9", 3_000, "nope"), "commit")]
#[case::release(release("x9", 3_000, "nope"), "release")]
fn unknown_hold_answers_the_command_reply_to(#[case] command: InventoryCommand, #[case] name: &str) {
    let mut d = held();
    let out = run(&mut d, command.clone());
    assert!(out.iter().all(|o| o.output == "events"), "no reply_to, no copy: {out:?}");
    let out = run(&mut d, to(with_id(command, "with-reply"), OTHER));
    let on_pool = assert_replied(&out, OTHER, &["HoldCommandRejected"]);
    let InventoryEvent::HoldCommandRejected(r) = &on_pool[0] else { unreachable!() };
    assert_eq!((r.command.as_str(), r.reason.as_str()), (name, "UNKNOWN_HOLD"));
}

/// The same command as another source event (a new event id).
fn with_id(mut command: InventoryCommand, id: &str) -> InventoryCommand {
    let envelope = match &mut command {
        InventoryCommand::CommitRequested(c) => &mut c.envelope,
        InventoryCommand::ReleaseRequested(c) => &mut c.envelope,
        other => panic!("unexpected {other:?}"),
    };
    *envelope = env(id, envelope.occurred_at);
    command
}

#[rstest]
#[case::other_tenant("globex|+919800000001")]
#[case::no_customer("acme|")]
#[case::not_a_key("acme")]
fn a_reply_to_outside_the_tenant_is_rejected(#[case] reply_to: &str) {
    for command in [reserve("r9", 2_000, "h9", dec!(1), HOUR), commit("c9", 2_000, "h1"), release("x9", 2_000, "h1")] {
        let mut d = held();
        let before = d.entry(KEY).cloned();
        assert!(run(&mut d, to(command, reply_to)).is_empty());
        assert_eq!(d.rejections.last().expect("rejected").3.code, "BAD_REPLY_TO");
        assert_eq!(d.entry(KEY).cloned(), before);
    }
}

/// State written before replies existed (no `reply_to` fields) still loads.
#[test]
fn old_state_without_reply_to_loads() {
    let d = held();
    let mut json = serde_json::to_value(d.state(KEY)).unwrap();
    json["holds"]["h1"].as_object_mut().unwrap().remove("reply_to");
    let state: PoolState = serde_json::from_value(json).unwrap();
    assert_eq!(state.holds["h1"].reply_to, None);
    assert_eq!(state.holds["h1"].request, d.state(KEY).holds["h1"].request);
}

fn catalog(id: &str, at: i64, price: rust_decimal::Decimal) -> InventoryCommand {
    InventoryCommand::CatalogItemUpserted(CatalogItemUpserted { envelope: env(id, at), material: "Cotton".into(), color: "Blue".into(), price_per_meter: price, aliases: vec!["sooti".into()] })
}

#[test]
fn catalog_item_sets_the_pool_price_and_aliases() {
    let mut d = held();
    let out = feed(&mut d, catalog("cat1", 2_500, dec!(105.50)));
    assert_eq!(kinds(&out), ["StockLevelChanged"]);
    let l = levels(&out).unwrap();
    assert_eq!((l.price_per_meter, l.aliases.clone()), (Some(dec!(105.50)), vec!["sooti".to_string()]));
    assert_eq!((l.on_hand_meters, l.held_meters), (dec!(22), dec!(5)), "stock unchanged");
    // The next hold snapshots the price (A4).
    let out = feed(&mut d, reserve("r2", 3_000, "h2", dec!(2), HOUR));
    let InventoryEvent::Reserved(r) = &out[0] else { unreachable!() };
    assert_eq!(r.price_per_meter, Some(dec!(105.50)));
}

#[rstest]
#[case::zero(dec!(0))]
#[case::negative(dec!(-1))]
#[case::three_decimals(dec!(10.005))]
fn a_bad_catalog_price_is_rejected(#[case] price: rust_decimal::Decimal) {
    let mut d = held();
    let before = d.entry(KEY).cloned();
    assert!(feed(&mut d, catalog("cat-bad", 2_500, price)).is_empty());
    assert_eq!(d.rejections.last().expect("rejected").3.code, "BAD_PRICE");
    assert_eq!(d.entry(KEY).cloned(), before);
}

#[test]
fn a_price_with_trailing_zeros_is_accepted() {
    let mut d = held();
    feed(&mut d, catalog("cat1", 2_500, dec!(99.500)));
    assert!(d.rejections.is_empty());
    assert_eq!(d.state(KEY).price_per_meter, Some(dec!(99.5)));
}

#[test]
fn a_catalog_item_of_another_pool_is_rejected() {
    let mut d = held();
    let mut command = catalog("cat1", 2_500, dec!(100));
    if let InventoryCommand::CatalogItemUpserted(c) = &mut command {
        c.color = "red".into();
    }
    feed(&mut d, command);
    assert_eq!(d.rejections.last().expect("rejected").3.code, "KEY_MISMATCH");
}
