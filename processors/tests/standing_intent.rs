//! Standing intents through the broker-free driver (rules SI1–SI7, B5, B5a): the sunny-Thursday
//! intent waits through a rainy forecast and fires on the sunny one; narration only when the
//! reason to wait changes; approval timeouts by trust (a table); rejection and user cancel; the
//! longest wait; the bundle it places; a redelivered request and a second one.

use rstest::rstest;
use souk_processors::standing_intent::{say, IntentOutput as Out, StandingIntentProcessor, Status, DAY_MS, HOUR_MS};
use souk_runtime::partitioner::partition_for;
use souk_runtime::TestDriver;
use souk_schemas::bundles::{BundleLeg, Degrees};
use souk_schemas::clock::tick;
use souk_schemas::intents::*;
use souk_schemas::key::IntentKey;
use souk_schemas::Envelope;

const TOPIC: &str = "intents.inputs";
/// Tuesday 2026-12-01 09:00 UTC.
const TUESDAY: i64 = 1_796_115_600_000;

fn key() -> String {
    IntentKey::of("acme", "si1")
}

fn leg() -> BundleLeg {
    BundleLeg {
        leg_id: "leg-1".into(),
        name: "Flowers".into(),
        partner_id: "pa".into(),
        partner_name: "Flower Shop A".into(),
        partner_contact: "15550001".into(),
        partner_lat: Degrees(52.37),
        partner_lng: Degrees(4.89),
        preparation_minutes: 20,
        hard_locked: false,
        product_id: "red-roses".into(),
        item: "Red Roses".into(),
        price: "50.00".parse().unwrap(),
        currency: "USD".into(),
        capabilities: vec![],
        is_jit: false,
        starts_at: 0,
        deadline: 3 * HOUR_MS,
        destination_lat: Degrees(52.36),
        destination_lng: Degrees(4.9),
        arrives_at: None,
        partner_opted_in: true,
        margin_percent: None,
        payout_account: None,
    }
}

fn request(trust: &str, requires_approval: bool) -> IntentInput {
    let c = |kind: &str, value: &str| IntentCondition { kind: kind.into(), value: value.into(), location: (kind == "weather").then(|| "amsterdam".into()), amount: None, label: None };
    IntentInput::StandingIntentRequested(StandingIntentRequested {
        envelope: Envelope::external("acme", "create-si1", TUESDAY),
        intent_id: "si1".into(),
        user_id: "u1".into(),
        thread_id: "thread-si1".into(),
        description: "Send flowers on the next sunny Thursday".into(),
        conditions: vec![c("weather", "sunny"), c("day_of_week", "thursday")],
        requires_approval,
        trust_level: trust.into(),
        approval_timeout_hours: 24,
        max_wait_days: 30,
        check_frequency_minutes: 60,
        utc_offset_minutes: 0,
        vendors_found: 2,
        legs: vec![leg()],
        payment_method: Some("pm_card_visa".into()),
    })
}

fn forecast(id: &str, date: &str, value: &str, at: i64) -> IntentInput {
    IntentInput::ConditionObserved(ConditionObserved {
        envelope: Envelope::external("acme", &format!("fwd-{id}"), at),
        intent_id: "si1".into(),
        observation: ObservationRecorded {
            envelope: Envelope::external("acme", id, at),
            observation_id: id.into(),
            kind: "weather".into(),
            subject: "amsterdam".into(),
            date: Some(date.into()),
            value: value.into(),
            quantity: None,
            price: None,
            source: "test".into(),
        },
    })
}

fn driver() -> TestDriver<StandingIntentProcessor> {
    TestDriver::new(StandingIntentProcessor, 1)
}

fn tick_at(d: &mut TestDriver<StandingIntentProcessor>, at: i64) {
    let partition = partition_for(key().as_bytes(), 1);
    d.feed(TOPIC, souk_schemas::clock::TICK_KEY, IntentInput::Tick(tick(TOPIC, partition, at)));
}

fn status(d: &TestDriver<StandingIntentProcessor>) -> Status {
    d.state(&key()).intent.expect("the intent exists").status
}

/// The narrative facts so far: (status, context JSON).
fn narratives(d: &TestDriver<StandingIntentProcessor>) -> Vec<(String, serde_json::Value)> {
    d.outputs
        .iter()
        .filter_map(|o| match &o.emitted.event {
            Out::ProgressLogged(p) if p.log_type == "narrative" => Some((p.status.clone(), serde_json::from_str(&p.context).unwrap())),
            _ => None,
        })
        .collect()
}

fn bundles(d: &TestDriver<StandingIntentProcessor>) -> Vec<souk_schemas::bundles::BundleRequested> {
    d.outputs.iter().filter_map(|o| if let Out::BundleRequested(b) = &o.emitted.event { Some(b.clone()) } else { None }).collect()
}

#[test]
fn the_sunny_thursday_intent_waits_through_a_rainy_forecast_and_fires_on_the_sunny_one() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("medium", false));
    let watches: Vec<_> = d.outputs.iter().filter_map(|o| if let Out::WatchChanged(w) = &o.emitted.event { Some((o.output, w.kind.clone(), w.subject.clone(), w.watching)) } else { None }).collect();
    assert_eq!(watches, [("watch", "weather".to_string(), "amsterdam".to_string(), true)]);
    assert_eq!(narratives(&d)[0].1["message"], "Found 2 vendors for your request!");
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", TUESDAY + HOUR_MS));
    d.feed(TOPIC, &key(), forecast("f2", "2026-12-03", "rainy", TUESDAY + 2 * HOUR_MS));
    let (state, context) = narratives(&d).last().cloned().unwrap();
    assert_eq!(state, "waiting");
    let reason = &context["waiting_reason"];
    assert_eq!(
        (reason["condition"].as_str(), reason["day"].as_str(), reason["current_value"].as_str(), reason["previous_value"].as_str()),
        (Some("weather"), Some("Thursday"), Some("Rainy"), Some("Sunny"))
    );
    let told = narratives(&d).len();
    for hour in 3..40 {
        tick_at(&mut d, TUESDAY + hour * HOUR_MS);
    }
    assert_eq!(narratives(&d).len(), told, "hourly checks that change nothing narrate nothing");
    assert_eq!(d.state(&key()).intent.unwrap().checks_count, 39, "one check an hour");
    assert_eq!(status(&d), Status::Active, "Thursday came, but rainy");
    d.feed(TOPIC, &key(), forecast("f3", "2026-12-03", "sunny", TUESDAY + 40 * HOUR_MS));
    assert_eq!(status(&d), Status::Executing, "Thursday 01:00, forecast sunny: every condition holds; no approval needed");
    let placed = bundles(&d);
    assert_eq!(placed.len(), 1);
    let b = &placed[0];
    assert_eq!((b.bundle_id.as_str(), b.thread_id.as_str(), b.starts_at), ("si-si1", "thread-si1", TUESDAY + 40 * HOUR_MS));
    assert_eq!(b.legs[0].deadline, TUESDAY + 43 * HOUR_MS, "the leg is due as long after firing as the intent allows");
    let unwatched = d.outputs.iter().any(|o| matches!(&o.emitted.event, Out::WatchChanged(w) if !w.watching));
    assert!(unwatched, "an executing intent stops watching");
}

#[test]
fn a_forecast_that_is_sunny_before_the_day_fires_on_the_day_at_the_next_check() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("medium", false));
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", TUESDAY + HOUR_MS));
    assert_eq!(narratives(&d).last().unwrap().1["waiting_reason"], serde_json::json!({ "type": "time", "reason": "Thursday" }));
    // Thursday 00:00 is 39 h after Tuesday 09:00: the check at 39 h fires it.
    tick_at(&mut d, TUESDAY + 39 * HOUR_MS - 1);
    assert_eq!(status(&d), Status::Active);
    tick_at(&mut d, TUESDAY + 39 * HOUR_MS);
    assert_eq!(status(&d), Status::Executing);
}

#[rstest]
#[case::high_trust_proceeds("high", Status::Executing, say::PROCEEDING)]
#[case::medium_trust_cancels("medium", Status::Cancelled, say::NO_APPROVAL)]
#[case::low_trust_cancels("low", Status::Cancelled, say::NO_APPROVAL)]
fn an_approval_unanswered_for_24_hours_depends_on_trust(#[case] trust: &str, #[case] after: Status, #[case] message: &str) {
    let mut d = driver();
    d.feed(TOPIC, &key(), request(trust, true));
    let fired_at = TUESDAY + 40 * HOUR_MS;
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", fired_at));
    assert_eq!(status(&d), Status::WaitingApproval);
    assert_eq!(narratives(&d).last().unwrap().1["waiting_reason"]["type"], "approval");
    tick_at(&mut d, fired_at + 24 * HOUR_MS - 1);
    assert_eq!(status(&d), Status::WaitingApproval, "a millisecond before 24 h nothing happens");
    tick_at(&mut d, fired_at + 24 * HOUR_MS);
    assert_eq!(status(&d), after);
    assert!(narratives(&d).iter().any(|(_, c)| c["message"] == message), "{:?}", narratives(&d));
    assert_eq!(bundles(&d).len(), usize::from(after == Status::Executing));
}

#[test]
fn low_trust_always_asks_even_when_approval_is_not_required() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("low", false));
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", TUESDAY + 40 * HOUR_MS));
    assert_eq!(status(&d), Status::WaitingApproval);
}

#[rstest]
#[case::approved(true, Status::Executing)]
#[case::rejected(false, Status::Cancelled)]
fn the_users_answer_decides(#[case] approved: bool, #[case] after: Status) {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("medium", true));
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", TUESDAY + 40 * HOUR_MS));
    let answer = IntentDecided { envelope: Envelope::external("acme", "decide", TUESDAY + 41 * HOUR_MS), intent_id: "si1".into(), approved, actor: "u1".into() };
    d.feed(TOPIC, &key(), IntentInput::IntentDecided(answer.clone()));
    assert_eq!(status(&d), after);
    tick_at(&mut d, TUESDAY + 70 * HOUR_MS);
    assert_eq!(status(&d), after, "the approval timer is gone");
    d.feed(TOPIC, &key(), IntentInput::IntentDecided(IntentDecided { envelope: Envelope::external("acme", "decide-again", TUESDAY + 71 * HOUR_MS), ..answer }));
    assert!(d.rejections.is_empty(), "a late answer is recorded, not refused");
    assert_eq!(bundles(&d).len(), usize::from(approved));
}

#[test]
fn the_user_cancels_at_any_time_before_it_executes() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("medium", true));
    let cancel = IntentCancelRequested { envelope: Envelope::external("acme", "cancel", TUESDAY + HOUR_MS), intent_id: "si1".into(), actor: "u1".into() };
    d.feed(TOPIC, &key(), IntentInput::IntentCancelRequested(cancel));
    assert_eq!(status(&d), Status::Cancelled);
    assert_eq!(narratives(&d).last().unwrap().1["message"], say::AS_REQUESTED);
    d.feed(TOPIC, &key(), forecast("f1", "2026-12-03", "sunny", TUESDAY + 40 * HOUR_MS));
    assert_eq!(status(&d), Status::Cancelled, "a cancelled intent ignores the world");
}

#[test]
fn a_condition_that_never_holds_is_cancelled_after_30_days() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("high", false));
    for hour in 1..30 * 24 {
        tick_at(&mut d, TUESDAY + hour * HOUR_MS);
    }
    tick_at(&mut d, TUESDAY + 30 * DAY_MS - 1);
    assert_eq!(status(&d), Status::Active);
    tick_at(&mut d, TUESDAY + 30 * DAY_MS);
    assert_eq!(status(&d), Status::Cancelled);
    let intent = d.state(&key()).intent.unwrap();
    assert_eq!(intent.reason.as_deref(), Some("Intent cancelled - the conditions were not met within 30 days"));
    assert_eq!(intent.checks_count, 30 * 24, "one check an hour, the last at the end of the wait");
}

#[test]
fn a_redelivered_request_changes_nothing_and_a_second_one_is_refused() {
    let mut d = driver();
    d.feed(TOPIC, &key(), request("medium", true));
    let outputs = d.outputs.len();
    d.feed(TOPIC, &key(), request("medium", true));
    assert_eq!(d.outputs.len(), outputs);
    let IntentInput::StandingIntentRequested(mut other) = request("high", true) else { unreachable!() };
    other.envelope = Envelope::external("acme", "create-again", TUESDAY);
    d.feed(TOPIC, &key(), IntentInput::StandingIntentRequested(other));
    assert_eq!(d.rejections[0].3.code, "INTENT_EXISTS");
}

#[test]
fn a_malformed_request_is_refused_with_its_reason() {
    let mut d = driver();
    let IntentInput::StandingIntentRequested(mut r) = request("medium", true) else { unreachable!() };
    r.conditions.clear();
    d.feed(TOPIC, &key(), IntentInput::StandingIntentRequested(r));
    let rejection = &d.rejections[0].3;
    assert_eq!((rejection.code.as_str(), rejection.detail.as_str()), ("BAD_INTENT", "a standing intent needs at least one condition"));
}
