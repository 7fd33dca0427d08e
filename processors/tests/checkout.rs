//! The checkout saga in the negotiation processor through the broker-free driver (rules
//! CO1–CO8): reservations with each partner, authorise → confirm → capture, the split, the escrow
//! released leg by leg and on the time chain's completion, the affiliate paid last, and every
//! compensation (a refusal, a silent partner, a declined card, a failed capture) in reverse.

mod negotiation_support;

use negotiation_support::{at, reply};
use proptest::prelude::*;
use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk_processors::negotiation::checkout::Split;
use souk_processors::negotiation::{NegotiationOutput as Out, NegotiationProcessor, MINUTE_MS};
use souk_runtime::driver::DriverOutput;
use souk_runtime::TestDriver;
use souk_schemas::bundles::{BundleLeg, BundleRequested, ChatIntentResolved, Degrees};
use souk_schemas::clock::Tick;
use souk_schemas::orchestration::{AlternativeFound, NegotiationInput};
use souk_schemas::payments::{action, CheckoutRequested, CheckoutUpdated, LegDelivered, PaymentCommand, PaymentResult};
use souk_schemas::Envelope;

const TOPIC: &str = "negotiation.inputs";
const KEY: &str = "acme|b1";
const T0: i64 = 1_705_320_000_000;

fn leg(id: &str, partner: &str, price: Decimal, margin: Option<Decimal>) -> BundleLeg {
    BundleLeg {
        leg_id: id.into(),
        name: id.into(),
        partner_id: partner.into(),
        partner_name: format!("Shop {partner}"),
        partner_contact: format!("1555000{}", partner.len()),
        partner_lat: Degrees(40.7128),
        partner_lng: Degrees(-74.0060),
        preparation_minutes: 20,
        hard_locked: false,
        product_id: format!("{partner}-{id}"),
        item: if id == "leg-1" { "Red Flowers".into() } else { format!("Item {id}") },
        price,
        currency: "USD".into(),
        capabilities: vec![],
        is_jit: false,
        // Tomorrow: a leg starting within 2 hours would escalate its negotiations for urgency.
        starts_at: T0 + 24 * 60 * MINUTE_MS,
        deadline: T0 + 26 * 60 * MINUTE_MS,
        destination_lat: Degrees(40.7265),
        destination_lng: Degrees(-73.9950),
        arrives_at: None,
        partner_opted_in: true,
        margin_percent: margin,
        payout_account: Some(format!("acct_{partner}")),
    }
}

fn two_legs() -> Vec<BundleLeg> {
    vec![leg("leg-1", "a", dec!(33.33), Some(dec!(12.50))), leg("leg-2", "bb", dec!(66.67), Some(dec!(10)))]
}

fn checkout(id: &str, affiliate: Option<Decimal>) -> NegotiationInput {
    NegotiationInput::CheckoutRequested(CheckoutRequested {
        envelope: at(&format!("checkout-{id}"), T0 + 1_000),
        checkout_id: id.into(),
        bundle_id: "b1".into(),
        payment_method: "pm_card_visa".into(),
        affiliate_id: affiliate.map(|_| "aff-1".into()),
        affiliate_account: affiliate.map(|_| "acct_aff".into()),
        affiliate_percent: affiliate,
        intent_id: None,
    })
}

struct Run(TestDriver<NegotiationProcessor>, i64);

impl Run {
    fn with(legs: Vec<BundleLeg>) -> Run {
        let mut run = Run(TestDriver::new(NegotiationProcessor, 4), T0);
        run.feed(NegotiationInput::BundleRequested(BundleRequested { envelope: at("bundle-1", T0), bundle_id: "b1".into(), user_id: "u1".into(), thread_id: "thread-b1".into(), starts_at: T0, legs }));
        run
    }

    fn feed(&mut self, input: NegotiationInput) -> Vec<DriverOutput<Out>> {
        let before = self.0.outputs.len();
        self.0.feed(TOPIC, KEY, input);
        assert!(self.0.rejections.is_empty(), "{:?}", self.0.rejections);
        self.0.outputs[before..].to_vec()
    }

    fn button(&mut self, partner: &str, accept: bool) -> Vec<DriverOutput<Out>> {
        self.1 += 1_000;
        let NegotiationInput::PartnerReplied(mut r) = reply(partner, "", self.1) else { unreachable!() };
        r.text = None;
        r.button_id = Some(if accept { "neg:accept" } else { "neg:decline" }.into());
        self.feed(NegotiationInput::PartnerReplied(r))
    }

    /// The provider answers `cmd`.
    fn answer(&mut self, cmd: &PaymentCommand, ok: bool) -> Vec<DriverOutput<Out>> {
        let provider_id = match cmd.action.as_str() {
            action::REFUND => "re_1",
            action::TRANSFER => "tr_1",
            _ => "pi_1",
        };
        self.feed(NegotiationInput::PaymentResult(PaymentResult {
            envelope: Envelope::external("acme", &format!("result-{}", cmd.command_id), self.1),
            command_id: cmd.command_id.clone(),
            checkout_id: cmd.checkout_id.clone(),
            bundle_id: cmd.bundle_id.clone(),
            action: cmd.action.clone(),
            leg_id: cmd.leg_id.clone(),
            succeeded: ok,
            provider_id: ok.then(|| provider_id.to_string()),
            provider_status: if ok { "succeeded" } else { "failed" }.into(),
            failure_code: (!ok).then(|| "card_declined".into()),
            failure_reason: (!ok).then(|| "Your card was declined.".into()),
            amount: cmd.amount,
        }))
    }

    fn tick(&mut self, t: i64) -> Vec<DriverOutput<Out>> {
        let before = self.0.outputs.len();
        for partition in 0..4 {
            self.0.feed_partition(TOPIC, partition, "", NegotiationInput::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{t}"), t), partition }));
        }
        self.0.outputs[before..].to_vec()
    }
}

fn commands(out: &[DriverOutput<Out>]) -> Vec<PaymentCommand> {
    out.iter().filter_map(|o| if let Out::PaymentCommand(c) = &o.emitted.event { Some(c.clone()) } else { None }).collect()
}

fn last_snapshot(out: &[DriverOutput<Out>]) -> CheckoutUpdated {
    out.iter().rev().find_map(|o| if let Out::CheckoutUpdated(c) = &o.emitted.event { Some(c.clone()) } else { None }).expect("a checkout snapshot")
}

fn sends(out: &[DriverOutput<Out>]) -> Vec<(String, String, usize)> {
    out.iter().filter_map(|o| if let Out::OutboundMessageRequested(m) = &o.emitted.event { Some((m.to.clone(), m.purpose.clone(), m.buttons.len())) } else { None }).collect()
}

fn notes(out: &[DriverOutput<Out>]) -> Vec<String> {
    out.iter().filter_map(|o| if let Out::UserNotified(n) = &o.emitted.event { Some(n.kind.clone()) } else { None }).collect()
}

/// CO4: the commission is the margin of the price, the affiliate's share comes out of it, each
/// rounded once; the parts add up to the price.
#[rstest]
#[case(dec!(33.33), Some(dec!(12.50)), None, dec!(29.16), dec!(4.17), dec!(0))]
#[case(dec!(66.67), Some(dec!(10)), Some(dec!(30)), dec!(60.00), dec!(6.67), dec!(2.00))]
#[case(dec!(55.00), None, Some(dec!(50)), dec!(55.00), dec!(0), dec!(0))]
#[case(dec!(0.01), Some(dec!(50)), None, dec!(0.00), dec!(0.01), dec!(0))]
#[case(dec!(10.00), Some(dec!(100)), Some(dec!(100)), dec!(0), dec!(10.00), dec!(10.00))]
#[case(dec!(19.99), Some(dec!(15)), Some(dec!(33.33)), dec!(16.99), dec!(3.00), dec!(1.00))]
fn a_price_is_split_to_the_cent(#[case] price: Decimal, #[case] margin: Option<Decimal>, #[case] affiliate: Option<Decimal>, #[case] partner: Decimal, #[case] fee: Decimal, #[case] aff: Decimal) {
    let s = Split::of(price, margin, affiliate);
    assert_eq!((s.partner_share, s.platform_fee, s.affiliate_commission), (partner, fee, aff));
}

proptest! {
    #[test]
    fn splits_always_add_up(cents in 0i64..10_000_000, margin in 0i64..=10_000, affiliate in 0i64..=10_000) {
        let price = Decimal::new(cents, 2);
        let s = Split::of(price, Some(Decimal::new(margin, 2)), Some(Decimal::new(affiliate, 2)));
        prop_assert_eq!(s.partner_share + s.platform_fee, price);
        prop_assert!(s.partner_share >= Decimal::ZERO && s.affiliate_commission >= Decimal::ZERO && s.affiliate_commission <= s.platform_fee);
        prop_assert!(s.platform_fee.scale() <= 2 && s.affiliate_commission.scale() <= 2);
    }
}

/// CO1–CO7 in order: reserve both, authorise the total, confirm, capture, hold; delivery pays one
/// partner, the time chain's completion the other, then the affiliate; every cent accounted for.
#[test]
fn a_checkout_reserves_authorises_confirms_captures_and_releases_leg_by_leg() {
    let mut run = Run::with(two_legs());
    let out = run.feed(checkout("co-1", Some(dec!(30))));
    assert_eq!(sends(&out), vec![("15550001".into(), "order_reservation".into(), 2), ("15550002".into(), "order_reservation".into(), 2)]);
    assert!(commands(&out).is_empty(), "nothing is authorised before every leg is reserved");
    assert!(commands(&run.button("a", true)).is_empty());
    let auth = commands(&run.button("bb", true));
    assert_eq!(auth.iter().map(|c| (c.action.as_str(), c.amount)).collect::<Vec<_>>(), vec![(action::AUTHORIZE, dec!(100.00))]);
    assert_eq!(auth[0].payment_method.as_deref(), Some("pm_card_visa"));
    let out = run.answer(&auth[0], true);
    assert_eq!(sends(&out).iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), vec!["order_confirmed", "order_confirmed"]);
    let capture = commands(&out);
    assert_eq!((capture[0].action.as_str(), capture[0].payment_intent_id.as_deref(), capture[0].amount), (action::CAPTURE, Some("pi_1"), dec!(100.00)));
    assert!(run.answer(&auth[0], true).is_empty(), "a redelivered answer is applied once");
    let out = run.answer(&capture[0], true);
    let paid = last_snapshot(&out);
    assert_eq!((paid.status.as_str(), paid.payment_status.as_str(), paid.escrow_status.as_str()), ("paid", "captured", "held"));
    assert_eq!((paid.platform_fee, paid.affiliate_commission), (dec!(4.17) + dec!(6.67), dec!(1.25) + dec!(2.00)));
    assert!(notes(&out).contains(&"checkout_paid".to_string()));

    let out = run.feed(NegotiationInput::LegDelivered(LegDelivered { envelope: at("delivered-1", T0 + 5_000), bundle_id: "b1".into(), leg_id: "leg-1".into(), confirmed_by: "owner".into() }));
    let transfer = commands(&out);
    assert_eq!(transfer.iter().map(|c| (c.amount, c.destination.as_deref())).collect::<Vec<_>>(), vec![(dec!(29.16), Some("acct_a"))]);
    run.answer(&transfer[0], true);
    assert!(
        commands(&run.feed(NegotiationInput::LegDelivered(LegDelivered { envelope: at("delivered-1b", T0 + 6_000), bundle_id: "b1".into(), leg_id: "leg-1".into(), confirmed_by: "owner".into() })))
            .is_empty(),
        "delivered twice pays once"
    );

    let out = run.tick(T0 + 48 * 60 * MINUTE_MS);
    let rest = commands(&out);
    assert_eq!(rest.iter().map(|c| (c.amount, c.destination.as_deref())).collect::<Vec<_>>(), vec![(dec!(60.00), Some("acct_bb"))]);
    let affiliate = commands(&run.answer(&rest[0], true));
    assert_eq!(affiliate.iter().map(|c| (c.amount, c.destination.as_deref(), c.recipient_kind.as_deref())).collect::<Vec<_>>(), vec![(dec!(3.25), Some("acct_aff"), Some("affiliate"))]);
    let done = last_snapshot(&run.answer(&affiliate[0], true));
    assert_eq!((done.status.as_str(), done.escrow_status.as_str(), done.affiliate_status.as_str()), ("completed", "released", "transferred"));
    assert_eq!(done.legs.iter().map(|l| l.release_trigger.as_deref()).collect::<Vec<_>>(), vec![Some("delivery_confirmed"), Some("time_chain_complete")]);
    assert_eq!(done.released + (done.platform_fee - done.affiliate_commission), done.captured, "partners + affiliate + the platform's net = what was captured");
}

/// CO5: the second partner declines ⇒ the first's reservation is released, nothing is charged.
#[test]
fn the_second_partner_refusing_releases_the_first_and_charges_nothing() {
    let mut run = Run::with(two_legs());
    run.feed(checkout("co-1", None));
    run.button("a", true);
    let out = run.button("bb", false);
    assert!(commands(&out).is_empty());
    assert_eq!(sends(&out), vec![("15550001".into(), "order_released".into(), 0)]);
    let c = last_snapshot(&out);
    assert_eq!((c.status.as_str(), c.payment_status.as_str()), ("cancelled", "pending"));
    assert_eq!(c.reason.as_deref(), Some("Shop bb declined the order"));
    assert_eq!(c.legs.iter().map(|l| l.status.as_str()).collect::<Vec<_>>(), vec!["released", "refused"]);
    assert!(notes(&out).contains(&"checkout_cancelled".to_string()));
}

/// CO5: a partner who never answers fails the checkout at their reply timer.
#[test]
fn a_silent_partner_times_the_reservation_out() {
    let mut run = Run::with(two_legs());
    run.feed(checkout("co-1", None));
    run.button("bb", true);
    let out = run.tick(T0 + 1_000 + 61 * MINUTE_MS);
    let c = last_snapshot(&out);
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("cancelled", Some("Shop a did not answer within 60 minutes")));
    assert_eq!(sends(&out), vec![("15550001".into(), "order_released".into(), 0), ("15550002".into(), "order_released".into(), 0)]);
}

/// CO5: a declined card releases every reservation; a failed capture voids the authorisation and
/// cancels the confirmed legs, in reverse.
#[rstest]
#[case::declined(false)]
#[case::capture_failed(true)]
fn a_payment_failure_compensates_in_reverse(#[case] authorised: bool) {
    let mut run = Run::with(two_legs());
    run.feed(checkout("co-1", None));
    run.button("a", true);
    let auth = commands(&run.button("bb", true));
    if !authorised {
        let out = run.answer(&auth[0], false);
        assert!(commands(&out).is_empty());
        assert_eq!(sends(&out).iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), vec!["order_released", "order_released"]);
        assert_eq!(last_snapshot(&out).reason.as_deref(), Some("the payment was not authorised: Your card was declined. (card_declined)"));
        return;
    }
    let capture = commands(&run.answer(&auth[0], true));
    let out = run.answer(&capture[0], false);
    assert_eq!(sends(&out), vec![("15550002".into(), "order_cancelled".into(), 0), ("15550001".into(), "order_cancelled".into(), 0)]);
    let void = commands(&out);
    assert_eq!((void[0].action.as_str(), void[0].payment_intent_id.as_deref()), (action::VOID, Some("pi_1")));
    assert_eq!(last_snapshot(&out).status, "cancelling");
    let c = last_snapshot(&run.answer(&void[0], true));
    assert_eq!((c.status.as_str(), c.payment_status.as_str()), ("cancelled", "voided"));
}

/// CO2: the legs are locked while the checkout runs; a cancelled checkout can be retried.
#[test]
fn changes_wait_for_the_payment_and_a_failed_checkout_can_be_retried() {
    let mut run = Run::with(two_legs());
    run.feed(checkout("co-1", None));
    let chat = NegotiationInput::ChatIntentResolved(ChatIntentResolved {
        envelope: at("chat-1", T0 + 2_000),
        bundle_id: "b1".into(),
        user_id: "u1".into(),
        text: "I want pink flowers instead".into(),
        intent: "change_item".into(),
        original_item: None,
        requested_item: Some("Item leg-1 pink".into()),
        parser: "test".into(),
    });
    assert_eq!(notes(&run.feed(chat)), vec!["clarify"]);
    run.button("a", false);
    assert!(run.feed(checkout("co-1", None)).is_empty(), "a redelivered request changes nothing");
    let out = run.feed(NegotiationInput::CheckoutRequested(CheckoutRequested {
        envelope: at("checkout-again", T0 + 9_000),
        checkout_id: "co-2".into(),
        ..match checkout("co-2", None) {
            NegotiationInput::CheckoutRequested(c) => c,
            _ => unreachable!(),
        }
    }));
    assert_eq!(sends(&out).len(), 2, "a new checkout asks both partners again");
}

/// CO1: a bundle that cannot be paid out is refused with the reason, before anyone is asked.
#[test]
fn a_partner_without_a_payout_account_stops_the_checkout_before_it_starts() {
    let mut legs = two_legs();
    legs[1].payout_account = None;
    let mut run = Run::with(legs);
    let out = run.feed(checkout("co-1", None));
    assert!(sends(&out).is_empty());
    assert_eq!(last_snapshot(&out).reason.as_deref(), Some("Shop bb has no payout account, so they could not be paid"));
}

fn chat(id: &str, intent: &str, requested: Option<&str>, t: i64) -> NegotiationInput {
    NegotiationInput::ChatIntentResolved(ChatIntentResolved {
        envelope: at(id, t),
        bundle_id: "b1".into(),
        user_id: "u1".into(),
        text: String::new(),
        intent: intent.into(),
        original_item: None,
        requested_item: requested.map(str::to_string),
        parser: "test".into(),
    })
}

/// CO8: a paid leg re-sourced to another partner is refunded in full, its replacement charged on
/// its own and held for its partner; the time chain's completion pays the replacement, never the
/// original partner.
#[test]
fn a_paid_leg_swapped_by_resourcing_is_refunded_and_its_replacement_charged() {
    let mut run = Run::with(two_legs());
    run.feed(checkout("co-1", None));
    run.button("a", true);
    let auth = commands(&run.button("bb", true));
    let capture = commands(&run.answer(&auth[0], true));
    run.answer(&capture[0], true);

    let asked = run.feed(chat("chat-1", "change_item", Some("Pink Flowers"), T0 + 10_000));
    assert_eq!(sends(&asked).iter().map(|s| s.1.as_str()).collect::<Vec<_>>(), vec!["negotiation_request"], "{:?}", notes(&asked));
    run.1 = T0 + 20_000;
    let NegotiationInput::PartnerReplied(mut no) = reply("a", "No, we don't have pink flowers available", run.1) else { unreachable!() };
    no.envelope = at("reply-no", run.1);
    run.feed(NegotiationInput::PartnerReplied(no));
    let negotiation_id = asked.iter().find_map(|o| if let Out::NegotiationUpdated(n) = &o.emitted.event { Some(n.negotiation_id.clone()) } else { None }).expect("the change's negotiation");
    let proposed = run.feed(NegotiationInput::AlternativeFound(AlternativeFound {
        envelope: at("alt-1", T0 + 30_000),
        bundle_id: "b1".into(),
        negotiation_id: negotiation_id.clone(),
        partner_id: "c".into(),
        partner_name: "Shop c".into(),
        partner_contact: "15550009".into(),
        product_id: "pink".into(),
        item: "Pink Flowers".into(),
        price: dec!(36.00),
        delay_minutes: 0,
        partner_lat: None,
        partner_lng: None,
        preparation_minutes: None,
        capabilities: vec![],
        margin_percent: Some(dec!(10)),
        payout_account: Some("acct_c".into()),
    }));
    // A note is told after the snapshot showing the state it describes (a projection never shows
    // "should I proceed?" beside a negotiation still resourcing).
    let kinds: Vec<&str> = proposed
        .iter()
        .filter(|o| o.output == "events")
        .map(|o| match &o.emitted.event {
            Out::NegotiationUpdated(_) => "snapshot",
            Out::UserNotified(_) => "note",
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, vec!["snapshot", "note"]);
    run.feed(chat("chat-2", "approve", None, T0 + 40_000));
    let out = run.button("c", true);
    let cmds = commands(&out);
    assert_eq!(
        cmds.iter().map(|c| (c.action.as_str(), c.amount, c.payment_intent_id.as_deref())).collect::<Vec<_>>(),
        vec![(action::REFUND, dec!(33.33), Some("pi_1")), (action::CHARGE, dec!(36.00), None)]
    );
    assert_eq!(cmds[1].payment_method.as_deref(), Some("pm_card_visa"));
    run.answer(&cmds[0], true);
    let c = last_snapshot(&run.answer(&cmds[1], true));
    let legs: Vec<(&str, &str, &str)> = c.legs.iter().map(|l| (l.partner_id.as_str(), l.status.as_str(), l.escrow_status.as_str())).collect();
    assert_eq!(legs, vec![("a", "replaced", "refunded"), ("bb", "confirmed", "held"), ("c", "confirmed", "held")]);
    assert_eq!((c.captured, c.refunded, c.payment_status.as_str()), (dec!(136.00), dec!(33.33), "partially_refunded"));

    let transfers = commands(&run.tick(T0 + 48 * 60 * MINUTE_MS));
    assert_eq!(transfers.iter().map(|c| (c.destination.as_deref(), c.amount)).collect::<Vec<_>>(), vec![(Some("acct_bb"), dec!(60.00)), (Some("acct_c"), dec!(32.40))]);
}
