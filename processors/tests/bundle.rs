//! Bundles in the negotiation processor through the broker-free driver (rules BU1–BU3, N7, TC1):
//! the timeline of a requested bundle, the live demo driven by the user's chat as the chat stage
//! reads it (change, refusal, re-sourcing, "Yes, proceed", the new partner's confirmation, the leg
//! replaced and the timeline recomputed), the directory the gateway routes partner replies by, and
//! what a chat message that fits nothing gets.

mod negotiation_support;

use negotiation_support::{at, reply};
use rstest::rstest;
use rust_decimal_macros::dec;
use souk_processors::negotiation::bundle::leg_for_change;
use souk_processors::negotiation::{NegotiationOutput as Out, NegotiationProcessor, Status, MINUTE_MS};
use souk_runtime::driver::DriverOutput;
use souk_runtime::TestDriver;
use souk_schemas::bundles::{BundleLeg, BundleRequested, ChatIntentResolved, Degrees};
use souk_schemas::orchestration::*;

const TOPIC: &str = "negotiation.inputs";
const KEY: &str = "acme|b1";
const T0: i64 = 1_705_320_000_000;
const HOUR: i64 = 60 * MINUTE_MS;
/// seed-000 §6.1: Partner A and Partner B, and a delivery point 6 minutes' ride from A and 11 from B.
const SHOP_A: (f64, f64) = (40.7128, -74.0060);
const SHOP_B: (f64, f64) = (40.7580, -73.9855);
const DESTINATION: (f64, f64) = (40.7265, -73.9950);
const PREP: i64 = 20;

fn leg(id: &str, item: &str, partner: &str, at: (f64, f64)) -> BundleLeg {
    BundleLeg {
        leg_id: id.into(),
        name: item.split(' ').next_back().unwrap_or(item).into(),
        partner_id: partner.into(),
        partner_name: format!("Shop {partner}"),
        partner_contact: format!("1555{}", partner.len()),
        partner_lat: Degrees(at.0),
        partner_lng: Degrees(at.1),
        preparation_minutes: PREP,
        hard_locked: false,
        product_id: format!("{partner}-{id}"),
        item: item.into(),
        price: dec!(50.00),
        currency: "USD".into(),
        capabilities: vec!["florist".into()],
        is_jit: false,
        starts_at: T0 + 24 * HOUR,
        deadline: T0 + 26 * HOUR,
        destination_lat: Degrees(DESTINATION.0),
        destination_lng: Degrees(DESTINATION.1),
        arrives_at: None,
        partner_opted_in: true,
        margin_percent: None,
        payout_account: None,
    }
}

fn demo_leg() -> BundleLeg {
    BundleLeg { partner_name: "Flower Shop A".into(), partner_contact: "1234567890".into(), ..leg("leg-flowers", "Red Flowers", "partner-a", SHOP_A) }
}

fn bundle(legs: Vec<BundleLeg>) -> NegotiationInput {
    NegotiationInput::BundleRequested(BundleRequested { envelope: at("bundle-1", T0), bundle_id: "b1".into(), user_id: "u1".into(), thread_id: "thread-b1".into(), starts_at: T0, legs })
}

fn chat(id: &str, intent: &str, requested: Option<&str>, original: Option<&str>, t: i64) -> NegotiationInput {
    NegotiationInput::ChatIntentResolved(ChatIntentResolved {
        envelope: at(id, t),
        bundle_id: "b1".into(),
        user_id: "u1".into(),
        text: format!("({intent})"),
        intent: intent.into(),
        requested_item: requested.map(str::to_string),
        original_item: original.map(str::to_string),
        parser: "chat-offline-1".into(),
    })
}

/// Re-sourcing's answer, as the stage writes it (its own delay estimate is deliberately wrong: the
/// processor recomputes the bundle's timeline).
fn partner_b(negotiation_id: &str, t: i64) -> NegotiationInput {
    NegotiationInput::AlternativeFound(AlternativeFound {
        envelope: at("alt-1", t),
        bundle_id: "b1".into(),
        negotiation_id: negotiation_id.into(),
        partner_id: "partner-b".into(),
        partner_name: "Flower Shop B".into(),
        partner_contact: "1234567891".into(),
        product_id: "pink-flowers-b".into(),
        item: "Pink Flowers".into(),
        price: dec!(55.00),
        delay_minutes: 99,
        partner_lat: Some(Degrees(SHOP_B.0)),
        partner_lng: Some(Degrees(SHOP_B.1)),
        preparation_minutes: Some(PREP),
        capabilities: vec!["florist".into()],
        margin_percent: None,
        payout_account: None,
    })
}

struct Run(TestDriver<NegotiationProcessor>);

impl Run {
    fn new() -> Run {
        Run(TestDriver::new(NegotiationProcessor, 4))
    }

    fn feed(&mut self, input: NegotiationInput) -> Vec<DriverOutput<Out>> {
        let before = self.0.outputs.len();
        self.0.feed(TOPIC, KEY, input);
        self.0.outputs[before..].to_vec()
    }
}

fn bundles(out: &[DriverOutput<Out>]) -> Vec<souk_schemas::bundles::BundleUpdated> {
    out.iter().filter_map(|o| if let Out::BundleUpdated(b) = &o.emitted.event { Some(b.clone()) } else { None }).collect()
}

fn notes(out: &[DriverOutput<Out>]) -> Vec<(String, String)> {
    out.iter().filter_map(|o| if let Out::UserNotified(n) = &o.emitted.event { Some((n.kind.clone(), n.text.clone())) } else { None }).collect()
}

fn sends(out: &[DriverOutput<Out>]) -> Vec<(String, String, usize)> {
    out.iter().filter_map(|o| if let Out::OutboundMessageRequested(m) = &o.emitted.event { Some((m.to.clone(), m.purpose.clone(), m.buttons.len())) } else { None }).collect()
}

/// TC1 on a requested bundle: each leg arrives after its partner's preparation and the ride, the
/// total is the last arrival.
#[test]
fn a_requested_bundle_is_told_with_its_timeline() {
    let mut run = Run::new();
    let far = BundleLeg { preparation_minutes: 45, ..leg("leg-cake", "Chocolate Cake", "bakery", SHOP_B) };
    let out = run.feed(bundle(vec![demo_leg(), far]));
    let [b] = bundles(&out).try_into().expect("one snapshot");
    assert_eq!((b.status.as_str(), b.total_minutes), ("open", 45 + 11));
    assert_eq!(b.legs.iter().map(|l| l.arrives_at).collect::<Vec<_>>(), vec![Some(T0 + 26 * MINUTE_MS), Some(T0 + 56 * MINUTE_MS)]);
    assert!(run.feed(bundle(vec![demo_leg()])).is_empty(), "a redelivered request changes nothing");
    let other =
        NegotiationInput::BundleRequested(BundleRequested { envelope: at("bundle-2", T0), bundle_id: "b1".into(), user_id: "u1".into(), thread_id: "t".into(), starts_at: T0, legs: vec![demo_leg()] });
    run.feed(other);
    assert_eq!(run.0.rejections.last().map(|r| r.3.code.as_str()), Some("BUNDLE_EXISTS"));
}

/// seed-000 §6.1 from the user's chat: the change goes to Partner A, their refusal asks
/// re-sourcing (with the leg's destination and arrival), Partner B is proposed with the bundle's
/// real delay (5 minutes), "Yes, proceed" cancels A and orders from B, B's "Yes" replaces the leg.
#[test]
fn the_live_demo_runs_from_the_chat_to_the_replaced_leg() {
    let mut run = Run::new();
    run.feed(bundle(vec![demo_leg()]));
    let out = run.feed(chat("chat-1", "change_item", Some("pink flowers"), Some("red"), T0 + MINUTE_MS));
    assert_eq!(sends(&out), vec![("1234567890".to_string(), "negotiation_request".to_string(), 3)]);
    let nid = match &out.iter().find(|o| matches!(o.emitted.event, Out::NegotiationUpdated(_))).unwrap().emitted.event {
        Out::NegotiationUpdated(u) => u.negotiation_id.clone(),
        _ => unreachable!(),
    };
    assert_eq!(nid, format!("neg-{}", at("chat-1", 0).event_id), "the negotiation's id derives from the chat message's");
    let directory: Vec<_> = out.iter().filter(|o| o.output == "directory").collect();
    assert_eq!(directory.len(), 1);
    assert_eq!(directory[0].emitted.key, format!("acme|{nid}"));

    let out = run.feed(reply("partner-a", "No, we don't have pink flowers available", T0 + 3 * MINUTE_MS));
    let request = out.iter().find_map(|o| if let Out::ResourcingRequested(r) = &o.emitted.event { Some(r.clone()) } else { None }).expect("re-sourcing asked");
    assert_eq!((request.min_price, request.max_price), (dec!(40.00), dec!(60.00)));
    assert_eq!((request.destination_lat, request.destination_lng, request.original_arrival_minutes), (Some(Degrees(DESTINATION.0)), Some(Degrees(DESTINATION.1)), Some(26)));
    assert!(sends(&out).is_empty(), "nothing is cancelled before an alternative is found");

    let out = run.feed(partner_b(&nid, T0 + 4 * MINUTE_MS));
    assert_eq!(
        notes(&out),
        vec![("recovery_proposal".to_string(), "I've found pink flowers from a different vendor to replace red flowers. The new timeline shows a 5-minute delay. Should I proceed?".to_string())]
    );

    let out = run.feed(chat("chat-2", "approve", None, None, T0 + 5 * MINUTE_MS));
    assert_eq!(sends(&out), vec![("1234567890".into(), "negotiation_cancel".into(), 0), ("1234567891".into(), "negotiation_order".into(), 3)]);
    let directory = out.iter().rev().find(|o| o.output == "directory").unwrap();
    let Out::NegotiationUpdated(u) = &directory.emitted.event else { panic!() };
    assert_eq!(u.partner_contact.as_deref(), Some("1234567891"), "Partner B's replies are routed to this negotiation now");

    let out = run.feed(reply("partner-b", "Yes, I have pink flowers available!", T0 + 6 * MINUTE_MS));
    assert!(out.iter().any(|o| matches!(&o.emitted.event, Out::LegReplaced(l) if l.new_partner_id == "partner-b" && l.price == dec!(55.00))));
    let [b] = bundles(&out).try_into().expect("the bundle is updated");
    assert_eq!((b.legs[0].partner_id.as_str(), b.legs[0].item.as_str(), b.legs[0].price, b.legs[0].partner_contact.as_str()), ("partner-b", "Pink Flowers", dec!(55.00), "1234567891"));
    assert_eq!(b.total_minutes, 26 + 5, "the timeline is recomputed from the new partner");
    assert_eq!(run.0.state(KEY).negotiations[&nid].status, Status::RecoveredAutonomously);
}

/// Messages that fit nothing get an answer in the thread, never a dead letter; a chat for a
/// bundle nobody requested is one.
#[rstest]
#[case::nothing_to_approve(chat("c", "approve", None, None, T0), "There is nothing waiting for your answer right now.")]
#[case::not_understood(chat("c", "unknown", None, None, T0), "Sorry, I didn't understand. You can ask me to change an item, for example \"pink flowers instead of red\".")]
#[case::no_such_item(chat("c", "change_item", Some("blue balloons"), Some("balloons"), T0), "Which item should I change? Your bundle has: Red Flowers.")]
fn chat_that_fits_nothing_is_answered(#[case] input: NegotiationInput, #[case] text: &str) {
    let mut run = Run::new();
    run.feed(bundle(vec![demo_leg()]));
    let out = run.feed(input);
    assert_eq!(notes(&out), vec![("clarify".to_string(), text.to_string())]);
    assert!(run.0.rejections.is_empty());
    let mut fresh = Run::new();
    fresh.feed(chat("c", "approve", None, None, T0));
    assert_eq!(fresh.0.rejections.last().map(|r| r.3.code.as_str()), Some("UNKNOWN_BUNDLE"));
}

/// A second change to a leg while the first is open is answered, not opened twice.
#[test]
fn a_leg_in_negotiation_is_not_changed_again() {
    let mut run = Run::new();
    run.feed(bundle(vec![demo_leg()]));
    run.feed(chat("c1", "change_item", Some("pink flowers"), Some("red"), T0));
    let out = run.feed(chat("c2", "change_item", Some("white flowers"), Some("red"), T0 + MINUTE_MS));
    assert_eq!(notes(&out), vec![("clarify".to_string(), "I'm still working on your last change to Red Flowers (awaiting partner reply).".to_string())]);
    assert_eq!(run.0.state(KEY).negotiations.len(), 1);
}

/// Which leg a change names: the original's words first, else the one leg sharing a word with the
/// requested item; ambiguity names none.
#[rstest]
#[case::by_colour(Some("red"), "pink flowers", Some("leg-flowers"))]
#[case::by_noun(None, "pink flowers", Some("leg-flowers"))]
#[case::singular(Some("red flower"), "pink", Some("leg-flowers"))]
#[case::cake(Some("chocolate"), "vanilla cake", Some("leg-cake"))]
#[case::no_match(Some("limo"), "purple limo", None)]
fn a_change_finds_its_leg(#[case] original: Option<&str>, #[case] requested: &str, #[case] expected: Option<&str>) {
    let legs = vec![demo_leg(), leg("leg-cake", "Chocolate Cake", "bakery", SHOP_B)];
    assert_eq!(leg_for_change(&legs, original, requested).map(|l| l.leg_id.as_str()), expected);
}

/// Two legs sharing a word cannot be told apart by it.
#[test]
fn an_ambiguous_change_names_no_leg() {
    let legs = vec![demo_leg(), leg("leg-2", "White Flowers", "partner-c", SHOP_B)];
    assert_eq!(leg_for_change(&legs, None, "pink flowers"), None);
    assert_eq!(leg_for_change(&legs, Some("white"), "pink flowers").map(|l| l.leg_id.as_str()), Some("leg-2"));
}

fn add_item(t: i64) -> NegotiationInput {
    NegotiationInput::ItemAddRequested(souk_schemas::bundles::ItemAddRequested {
        envelope: at(&format!("add-{t}"), t),
        command_id: "add-1".into(),
        bundle_id: "b1".into(),
        leg_id: "leg-flowers".into(),
        item: "Custom Chocolates".into(),
        product_id: "choc-b".into(),
        partner_id: "partner-b".into(),
        partner_name: "Flower Shop B".into(),
        partner_lat: Degrees(SHOP_B.0),
        partner_lng: Degrees(SHOP_B.1),
        preparation_minutes: PREP,
        price: dec!(12.00),
        currency: "USD".into(),
    })
}

/// seed-000 §6.3 on the demo's map: the courier collects the flowers at 20 min, rides 16 min to
/// the chocolates (ready at 20), then 11 to the destination — arrival 47 instead of 26. Against a
/// deadline at 32 that is 15 minutes late (separate delivery, 4.99 + 4 started km = 8.99); at 37,
/// exactly 10 (a conflict, no suggestion); at 60, none.
#[rstest]
#[case::over_ten(32, true, 15, Some("separate_delivery"), Some(dec!(8.99)), "Adding Custom Chocolates will make you 15 minutes late for Flowers. Should I proceed, or would you like me to courier it separately?")]
#[case::exactly_ten(37, true, 10, None, None, "Adding Custom Chocolates will make you 10 minutes late for Flowers.")]
#[case::on_time(60, false, 0, None, None, "Adding Custom Chocolates keeps Flowers on time.")]
fn adding_an_item_computes_the_conflict(
    #[case] deadline_min: i64,
    #[case] conflict: bool,
    #[case] delay: i64,
    #[case] suggestion: Option<&str>,
    #[case] cost: Option<rust_decimal::Decimal>,
    #[case] text: &str,
) {
    let mut run = Run::new();
    run.feed(bundle(vec![BundleLeg { starts_at: T0, deadline: T0 + deadline_min * MINUTE_MS, ..demo_leg() }]));
    let out = run.feed(add_item(T0 + MINUTE_MS));
    let c = out.iter().find_map(|o| if let Out::ConflictSimulated(c) = &o.emitted.event { Some(c.clone()) } else { None }).expect("simulated");
    assert_eq!((c.has_conflict, c.delay_minutes, c.time_impact_minutes, c.new_arrival), (conflict, delay, 21, T0 + 47 * MINUTE_MS));
    assert_eq!((c.suggestion.as_deref(), c.courier_cost), (suggestion, cost));
    assert_eq!(notes(&out), vec![("conflict".to_string(), text.to_string())]);
}

/// Rules N9: a partner without WhatsApp opt-in is never messaged; the reason is recorded and a
/// person takes over.
#[test]
fn a_partner_without_opt_in_is_never_messaged() {
    let mut run = Run::new();
    run.feed(bundle(vec![BundleLeg { partner_opted_in: false, ..demo_leg() }]));
    let out = run.feed(chat("c1", "change_item", Some("pink flowers"), Some("red"), T0));
    assert!(sends(&out).is_empty(), "no opt-in, no message");
    let e = out.iter().find_map(|o| if let Out::EscalationRaised(e) = &o.emitted.event { Some(e.clone()) } else { None }).expect("escalated");
    assert!(e.detail.ends_with("NO_OPT_IN: Flower Shop A has not agreed to receive WhatsApp messages from us; nothing was sent"), "{}", e.detail);
    let n = run.0.state(KEY).negotiations.values().next().cloned().unwrap();
    assert_eq!(n.status, Status::Escalated);
    assert_eq!(notes(&out).first().map(|(k, _)| k.as_str()), Some("escalated"));
}
