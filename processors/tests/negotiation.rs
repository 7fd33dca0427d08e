//! Negotiations with a bundle leg's partner through the broker-free driver (rules N1–N8, B1–B4,
//! B7): the live demo's recovery, every timer on stream time, counter-offers and deadlock,
//! frustration, hard locks, the user's decisions, and what is refused. The last test runs the
//! processor from topology.toml through the real codec.

use proptest::prelude::*;
mod negotiation_support;

use negotiation_support::{at, reply};
use rstest::rstest;
use rust_decimal_macros::dec;
use souk_processors::negotiation::{classify::ACCEPT_BUTTON, timer, NegotiationOutput as Out, NegotiationProcessor, Status, MINUTE_MS};
use souk_runtime::driver::DriverOutput;
use souk_runtime::partitioner::partition_for;
use souk_runtime::TestDriver;
use souk_schemas::clock::Tick;
use souk_schemas::orchestration::*;
use souk_schemas::Envelope;

const TOPIC: &str = "negotiation.inputs";
const PARTITIONS: i32 = 4;
const KEY: &str = "acme|b1";
const T0: i64 = 1_705_320_000_000;
const HOUR: i64 = 60 * MINUTE_MS;

/// Partner A's Red Flowers leg of bundle b1 (seed-000 §6.1), asked to become pink.
fn request(is_jit: bool, leg_in: i64, hard_locked: bool) -> NegotiationRequested {
    NegotiationRequested {
        envelope: at("req-1", T0),
        negotiation_id: "n1".into(),
        bundle_id: "b1".into(),
        leg_id: "leg-flowers".into(),
        negotiation_type: "product_change".into(),
        partner_id: "partner-a".into(),
        partner_name: "Flower Shop A".into(),
        partner_contact: "1234567890".into(),
        original_item: "Red Flowers".into(),
        requested_item: "Pink Flowers".into(),
        original_price: dec!(50.00),
        currency: "USD".into(),
        capabilities: vec!["florist".into()],
        is_jit,
        leg_starts_at: T0 + leg_in,
        deadline: T0 + leg_in + HOUR,
        hard_locked,
        thread_id: "thread-1".into(),
    }
}

fn decide(approved: bool, t: i64) -> NegotiationInput {
    NegotiationInput::UserDecided(UserDecided { envelope: at(&format!("decide-{t}"), t), bundle_id: "b1".into(), negotiation_id: "n1".into(), approved, actor: "user".into() })
}

fn partner_b(price: rust_decimal::Decimal, delay_minutes: i64, t: i64) -> NegotiationInput {
    NegotiationInput::AlternativeFound(AlternativeFound {
        envelope: at(&format!("alt-{t}"), t),
        bundle_id: "b1".into(),
        negotiation_id: "n1".into(),
        partner_id: "partner-b".into(),
        partner_name: "Flower Shop B".into(),
        partner_contact: "1234567891".into(),
        product_id: "pink-flowers-b".into(),
        item: "Pink Flowers".into(),
        price,
        delay_minutes,
        partner_lat: None,
        partner_lng: None,
        preparation_minutes: None,
        capabilities: vec!["florist".into()],
        margin_percent: None,
        payout_account: None,
    })
}

struct Run {
    d: TestDriver<NegotiationProcessor>,
}

impl Run {
    fn new() -> Run {
        Run { d: TestDriver::new(NegotiationProcessor, PARTITIONS) }
    }

    fn open(r: NegotiationRequested) -> (Run, Vec<DriverOutput<Out>>) {
        let mut run = Run::new();
        let out = run.feed(NegotiationInput::NegotiationRequested(r));
        (run, out)
    }

    fn feed(&mut self, input: NegotiationInput) -> Vec<DriverOutput<Out>> {
        let before = self.d.outputs.len();
        self.d.feed(TOPIC, KEY, input);
        self.d.outputs[before..].to_vec()
    }

    fn tick(&mut self, t: i64) -> Vec<DriverOutput<Out>> {
        let partition = partition_for(KEY.as_bytes(), PARTITIONS);
        let before = self.d.outputs.len();
        self.d.feed_partition(TOPIC, partition, "", NegotiationInput::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{t}"), t), partition }));
        self.d.outputs[before..].to_vec()
    }

    fn status(&self) -> Status {
        self.d.state(KEY).negotiations["n1"].status
    }
}

fn last_snapshot(out: &[DriverOutput<Out>]) -> Option<&NegotiationUpdated> {
    out.iter().rev().find_map(|o| match &o.emitted.event {
        Out::NegotiationUpdated(u) => Some(u),
        _ => None,
    })
}

fn escalation(out: &[DriverOutput<Out>]) -> Option<&souk_schemas::orders::EscalationRaised> {
    out.iter().find_map(|o| match &o.emitted.event {
        Out::EscalationRaised(e) => Some(e),
        _ => None,
    })
}

fn to_partner(out: &[DriverOutput<Out>]) -> Vec<(String, String, usize)> {
    out.iter()
        .filter_map(|o| match &o.emitted.event {
            Out::OutboundMessageRequested(m) => Some((m.to.clone(), m.text.clone(), m.buttons.len())),
            _ => None,
        })
        .collect()
}

fn to_user(out: &[DriverOutput<Out>]) -> Vec<(String, String)> {
    out.iter()
        .filter_map(|o| match &o.emitted.event {
            Out::UserNotified(n) => Some((n.kind.clone(), n.text.clone())),
            _ => None,
        })
        .collect()
}

/// seed-000 §6.1: Partner A refuses pink, re-sourcing is asked for 40.00–60.00 excluding A,
/// Partner B at 55.00 is proposed with its 5-minute delay, the user says yes, A is cancelled only
/// then, B confirms, and the leg moves: `recovered_autonomously`.
#[test]
fn live_demo_rejection_is_recovered_with_partner_b() {
    let (mut run, out) = Run::open(request(false, 6 * HOUR, false));
    assert_eq!(to_partner(&out), vec![("1234567890".into(), "Hello Flower Shop A, a customer would like Pink Flowers instead of Red Flowers for their order. Can you provide it?".into(), 3)]);
    assert_eq!(out.iter().find(|o| matches!(o.emitted.event, Out::OutboundMessageRequested(_))).unwrap().emitted.key, "acme|1234567890");

    let out = run.feed(reply("partner-a", "No, we don't have pink flowers available", T0 + 2 * MINUTE_MS));
    let classified = out.iter().find_map(|o| if let Out::PartnerReplyClassified(c) = &o.emitted.event { Some(c) } else { None }).expect("logged");
    assert_eq!((classified.classification.as_str(), classified.classifier.as_str()), ("reject", "offline-1"));
    let asked = out.iter().find_map(|o| if let Out::ResourcingRequested(r) = &o.emitted.event { Some(r) } else { None }).expect("re-sourcing asked");
    assert_eq!((asked.min_price, asked.max_price, asked.exclude_partner_id.as_str()), (dec!(40.00), dec!(60.00), "partner-a"));
    assert!(to_partner(&out).is_empty(), "nothing is cancelled before an alternative is found");
    assert_eq!(run.status(), Status::Resourcing);

    let out = run.feed(partner_b(dec!(55.00), 5, T0 + 3 * MINUTE_MS));
    assert_eq!(
        to_user(&out),
        vec![("recovery_proposal".into(), "I've found pink flowers from a different vendor to replace red flowers. The new timeline shows a 5-minute delay. Should I proceed?".into())]
    );

    let out = run.feed(decide(true, T0 + 4 * MINUTE_MS));
    let sent = to_partner(&out);
    assert_eq!(sent[0].0, "1234567890");
    assert!(sent[0].1.contains("Partner unable to fulfill change request"), "{sent:?}");
    assert_eq!((sent[1].0.as_str(), sent[1].1.as_str(), sent[1].2), ("1234567891", "Hello Flower Shop B, new order: Pink Flowers at 55.00 USD. Can you confirm?", 3));
    assert_eq!(run.status(), Status::OrderingAlternative);

    let out = run.feed(reply("partner-b", "Yes, I have pink flowers available!", T0 + 5 * MINUTE_MS));
    let replaced = out.iter().find_map(|o| if let Out::LegReplaced(l) = &o.emitted.event { Some(l) } else { None }).expect("leg replaced");
    assert_eq!((replaced.new_partner_id.as_str(), replaced.price, replaced.delay_minutes), ("partner-b", dec!(55.00), 5));
    assert_eq!(last_snapshot(&out).unwrap().status, "recovered_autonomously");
    assert!(run.tick(T0 + 3 * HOUR).is_empty(), "every timer was cancelled");
}

#[rstest]
#[case::improves(-7, "Great news! I found pink flowers from a different vendor, and it actually improves your timeline by 7 minutes! Should I proceed?")]
#[case::unchanged(0, "I've found pink flowers from a different vendor to replace red flowers. Your timeline remains unchanged. Should I proceed?")]
fn the_recovery_narrative_follows_the_timeline(#[case] delay: i64, #[case] text: &str) {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    run.feed(reply("partner-a", "No, we don't have pink flowers", T0 + MINUTE_MS));
    assert_eq!(to_user(&run.feed(partner_b(dec!(55.00), delay, T0 + 2 * MINUTE_MS))), vec![("recovery_proposal".into(), text.into())]);
}

/// Rules B4/B7: the partner's reply timer, on stream time only.
#[rstest]
#[case::jit(true, 15, "high")]
#[case::not_jit(false, 60, "medium")]
fn a_silent_partner_times_out(#[case] is_jit: bool, #[case] minutes: i64, #[case] priority: &str) {
    let (mut run, _) = Run::open(request(is_jit, 6 * HOUR, false));
    assert!(run.tick(T0 + minutes * MINUTE_MS - 1).is_empty(), "one ms early: nothing");
    let out = run.tick(T0 + minutes * MINUTE_MS);
    let e = escalation(&out).expect("escalated");
    assert_eq!((e.kind.as_str(), e.priority.as_str()), ("TIMEOUT", priority));
    assert!(e.detail.ends_with(&format!("No reply within {minutes} minutes")), "{}", e.detail);
    assert_eq!(run.status(), Status::Escalated);
    assert!(run.tick(T0 + 10 * HOUR).is_empty(), "escalates once");
}

/// Rules B4: a leg less than 2 h away without a partner reply is urgent; a reply defuses it.
#[rstest]
#[case::silent(false, true)]
#[case::replied(true, false)]
fn a_leg_two_hours_away_without_a_reply_is_urgent(#[case] replied: bool, #[case] urgent: bool) {
    let (mut run, _) = Run::open(request(false, 2 * HOUR + 30 * MINUTE_MS, false));
    if replied {
        run.feed(reply("partner-a", "I don't have pink, but I have red roses", T0 + 10 * MINUTE_MS));
    }
    let out = run.tick(T0 + 30 * MINUTE_MS);
    assert_eq!(escalation(&out).map(|e| (e.kind.as_str(), e.priority.as_str())), urgent.then_some(("URGENCY", "high")));
}

/// Rules B1: counter-offers go to the user until the third, which is a deadlock.
#[test]
fn the_third_counter_offer_is_a_deadlock() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    let first = run.feed(reply("partner-a", "I don't have pink, but I have red roses", T0 + MINUTE_MS));
    assert_eq!(to_user(&first), vec![("counter_offer".into(), "Flower Shop A can't provide Pink Flowers, but offers red roses. Should I accept?".into())]);
    assert_eq!((run.status(), last_snapshot(&first).unwrap().counter_offer_count), (Status::AwaitingUserApproval, 1));
    let second = run.feed(reply("partner-a", "I can do it for 10% more", T0 + 2 * MINUTE_MS));
    assert_eq!(last_snapshot(&second).unwrap().proposal_price, Some(dec!(55.00)), "10% more than 50.00");
    let third = run.feed(reply("partner-a", "How about white lilies?", T0 + 3 * MINUTE_MS));
    let e = escalation(&third).expect("deadlock");
    assert_eq!((e.kind.as_str(), e.priority.as_str()), ("DEADLOCK", "high"));
    assert!(e.detail.ends_with("3 counter-offers without resolution"));
}

/// Rules N4 (§6.4): frustration hands the partner to a human; the machine stops answering them.
#[test]
fn frustration_escalates_and_pauses_the_machine() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    let out = run.feed(reply("partner-a", "I already told you no pink!", T0 + MINUTE_MS));
    assert_eq!(escalation(&out).map(|e| (e.kind.clone(), e.priority.clone())), Some(("SENTIMENT".into(), "high".into())));
    assert!(last_snapshot(&out).unwrap().paused);
    let later = run.feed(reply("partner-a", "Hello?", T0 + 2 * MINUTE_MS));
    assert!(to_partner(&later).is_empty() && escalation(&later).is_none(), "logged only: {later:?}");
    assert!(later.iter().any(|o| matches!(o.emitted.event, Out::PartnerReplyClassified(_))));
}

#[test]
fn a_hard_locked_partner_is_never_swapped() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, true));
    let out = run.feed(reply("partner-a", "No, we don't have pink flowers", T0 + MINUTE_MS));
    assert!(!out.iter().any(|o| matches!(o.emitted.event, Out::ResourcingRequested(_))));
    let e = escalation(&out).expect("escalated");
    assert!(e.detail.contains("No alternative found for requested change") && e.detail.contains("hard-locked"), "{}", e.detail);
}

/// Rules B3a, B3: the user's answers and silences.
#[rstest]
#[case::counter_rejected(false, false, Status::RejectedByUser, None)]
#[case::counter_accepted(false, true, Status::Accepted, None)]
#[case::recovery_rejected(true, false, Status::Escalated, Some("STALLED"))]
fn the_users_decision_settles_the_proposal(#[case] recovery: bool, #[case] approved: bool, #[case] status: Status, #[case] escalated: Option<&str>) {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    if recovery {
        run.feed(reply("partner-a", "No, we don't have pink flowers", T0 + MINUTE_MS));
        run.feed(partner_b(dec!(55.00), 5, T0 + 2 * MINUTE_MS));
    } else {
        run.feed(reply("partner-a", "I don't have pink, but I have red roses", T0 + MINUTE_MS));
    }
    let out = run.feed(decide(approved, T0 + 3 * MINUTE_MS));
    assert_eq!(run.status(), status);
    assert_eq!(escalation(&out).map(|e| e.kind.clone()).as_deref(), escalated);
    if status == Status::RejectedByUser {
        assert_eq!(to_user(&out), vec![("kept".into(), "OK, your order stays as it was: Red Flowers from Flower Shop A.".into())]);
    }
}

#[rstest]
#[case::counter_offer(false, "TIMEOUT", "No user approval within 24 hours")]
#[case::recovery(true, "STALLED", "No alternative accepted: no user approval within 24 hours")]
fn an_unanswered_proposal_escalates_after_24_hours(#[case] recovery: bool, #[case] kind: &str, #[case] detail: &str) {
    let (mut run, _) = Run::open(request(false, 48 * HOUR, false));
    let asked_at = T0 + MINUTE_MS;
    if recovery {
        run.feed(reply("partner-a", "No, we don't have pink flowers", asked_at));
        run.feed(partner_b(dec!(55.00), 5, asked_at));
    } else {
        run.feed(reply("partner-a", "I don't have pink, but I have red roses", asked_at));
    }
    assert!(escalation(&run.tick(asked_at + 24 * HOUR - 1)).is_none());
    let e = escalation(&run.tick(asked_at + 24 * HOUR)).cloned().expect("escalated");
    assert_eq!((e.kind.as_str(), e.priority.as_str()), (kind, "medium"));
    assert!(e.detail.ends_with(detail), "{}", e.detail);
}

#[test]
fn no_alternative_escalates_with_the_sources_reason() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    run.feed(reply("partner-a", "No, we don't have pink flowers", T0 + MINUTE_MS));
    let out = run.feed(NegotiationInput::NoAlternativeFound(NoAlternativeFound {
        envelope: at("none", T0 + 2 * MINUTE_MS),
        bundle_id: "b1".into(),
        negotiation_id: "n1".into(),
        reason: "nothing within 40.00–60.00".into(),
    }));
    assert!(escalation(&out).unwrap().detail.contains("No alternative found for requested change (nothing within 40.00–60.00)"));
}

#[test]
fn an_unreadable_reply_is_asked_again_once_then_escalated() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    let once = run.feed(reply("partner-a", "let me know tomorrow", T0 + MINUTE_MS));
    assert_eq!(to_partner(&once).len(), 1, "asked again with the buttons");
    assert_eq!(run.status(), Status::AwaitingPartnerReply);
    let twice = run.feed(reply("partner-a", "hmm", T0 + 2 * MINUTE_MS));
    assert_eq!(escalation(&twice).map(|e| e.kind.clone()).as_deref(), Some("STALLED"));
}

#[rstest]
#[case::other_tenant("globex|b1", "TENANT_MISMATCH")]
#[case::other_bundle("acme|b2", "BUNDLE_MISMATCH")]
#[case::bad_key("acme", "BAD_KEY")]
fn misaddressed_requests_are_dead_letters(#[case] key: &str, #[case] code: &str) {
    let mut d = TestDriver::new(NegotiationProcessor, PARTITIONS);
    d.feed(TOPIC, key, NegotiationInput::NegotiationRequested(request(false, HOUR, false)));
    assert_eq!(d.rejections.iter().map(|r| r.3.code.as_str()).collect::<Vec<_>>(), vec![code]);
    assert!(d.outputs.is_empty());
}

#[test]
fn a_reply_nobody_waits_for_and_an_unknown_type_are_dead_letters() {
    let mut run = Run::new();
    run.feed(reply("partner-z", "Yes", T0));
    let mut odd = request(false, HOUR, false);
    odd.negotiation_type = "bidding".into();
    run.feed(NegotiationInput::NegotiationRequested(odd));
    let codes: Vec<&str> = run.d.rejections.iter().map(|r| r.3.code.as_str()).collect();
    assert_eq!(codes, vec!["NO_OPEN_NEGOTIATION", "BAD_NEGOTIATION_TYPE"]);
}

#[test]
fn a_redelivered_request_changes_nothing() {
    let (mut run, _) = Run::open(request(false, 6 * HOUR, false));
    let mut again = request(false, 6 * HOUR, false);
    again.envelope = at("req-1-copy", T0 + 1);
    assert!(run.feed(NegotiationInput::NegotiationRequested(again)).is_empty());
    assert_eq!(run.d.entry(KEY).map(|e| e.timers.contains_key(&timer::id(timer::REPLY, "n1"))), Some(true));
}

#[derive(Debug, Clone)]
enum Step {
    Reply(usize),
    Button,
    Decide(bool),
    Alternative(i64),
    Tick(i64),
}

const TEXTS: [&str; 6] =
    ["No, we don't have pink flowers", "Yes, I have pink flowers available!", "I don't have pink, but I have red roses", "I already told you no pink!", "hmm", "I can do it for 10% more"];

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![(0..TEXTS.len()).prop_map(Step::Reply), Just(Step::Button), any::<bool>().prop_map(Step::Decide), (-20i64..20).prop_map(Step::Alternative), (1i64..1_500).prop_map(Step::Tick),]
}

proptest! {
    /// Whatever happens: a negotiation escalates at most once, nothing is sent to a partner or
    /// asked of the user after it ended, and the same inputs give the same outputs.
    #[test]
    fn negotiations_end_once_and_stay_ended(steps in proptest::collection::vec(step(), 1..25)) {
        let play = || {
            let (mut run, mut all) = Run::open(request(steps.len() % 2 == 0, 3 * HOUR, false));
            let mut t = T0;
            let mut ended_at = None;
            for (i, s) in steps.iter().enumerate() {
                t += MINUTE_MS;
                let out = match s {
                    Step::Reply(k) => run.feed(reply(if i % 3 == 0 { "partner-b" } else { "partner-a" }, TEXTS[*k], t)),
                    Step::Button => run.feed(NegotiationInput::PartnerReplied(PartnerReplied { envelope: at(&format!("btn-{i}"), t), bundle_id: "b1".into(), partner_id: "partner-a".into(), negotiation_id: Some("n1".into()), text: None, button_id: Some(ACCEPT_BUTTON.into()) })),
                    Step::Decide(a) => run.feed(decide(*a, t)),
                    Step::Alternative(delay) => run.feed(partner_b(dec!(55.00), *delay, t)),
                    Step::Tick(minutes) => { t += minutes * MINUTE_MS; run.tick(t) }
                };
                if ended_at.is_some() {
                    prop_assert!(out.iter().all(|o| matches!(o.emitted.event, Out::PartnerReplyClassified(_))), "after the end only paused replies are logged: {out:?}");
                }
                if ended_at.is_none() && run.status().is_final() { ended_at = Some(i); }
                all.extend(out);
            }
            let escalations = all.iter().filter(|o| matches!(o.emitted.event, Out::EscalationRaised(_))).count();
            prop_assert!(escalations <= 1, "{escalations} escalations");
            Ok(all.into_iter().map(|o| o.emitted).collect::<Vec<_>>())
        };
        let first = play()?;
        prop_assert_eq!(first, play()?);
    }
}

/// The processor as topology.toml declares it, fed Avro bytes through the real codec: its outputs
/// land on `negotiation.events`, `whatsapp.outbound` and `escalations`, readable by their consumers.
#[test]
fn the_declared_processor_runs_through_the_codec() {
    let topology = souk_runtime::topology::Topology::parse(include_str!("../../topology.toml"), "").expect("topology");
    let catalog = souk_schemas::Catalog::builtin().expect("catalog");
    let mut driver = souk_runtime::topology_driver::TopologyDriver::new(topology, &catalog).unwrap().with_processor("negotiation", NegotiationProcessor).unwrap();
    driver.pipe(TOPIC, KEY, &NegotiationInput::NegotiationRequested(request(true, 6 * HOUR, false))).unwrap();
    driver.tick(TOPIC, T0 + 15 * MINUTE_MS).unwrap();
    let events: Vec<(String, NegotiationEvent)> = driver.read("negotiation.events").unwrap();
    assert!(events.iter().all(|(k, _)| k == KEY));
    // The escalation's snapshot, then the note that tells the user (notes follow their snapshot).
    let tail: Vec<&NegotiationEvent> = events[events.len() - 2..].iter().map(|(_, e)| e).collect();
    assert!(matches!(tail[..], [NegotiationEvent::NegotiationUpdated(u), NegotiationEvent::UserNotified(n)] if u.status == "escalated" && n.kind == "escalated"), "{tail:?}");
    let outbound: Vec<(String, souk_schemas::whatsapp::OutboundEvent)> = driver.read("whatsapp.outbound").unwrap();
    assert_eq!(outbound.len(), 1);
    let escalations: Vec<(String, souk_schemas::orders::EscalationEvent)> = driver.read("escalations").unwrap();
    assert!(matches!(&escalations[..], [(_, souk_schemas::orders::EscalationEvent::EscalationRaised(e))] if e.kind == "TIMEOUT" && e.priority == "high"));
}
