//! The invoicing processor through the broker-free driver (rules A5, F3.1 and F3.19):
//! one invoice per order, numbers per tenant, GST half-up to paise in Decimal, settings.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk_processors::invoicing::state::{IssuedInvoice, ISSUED_REMEMBERED};
use souk_processors::invoicing::{self, invoice_id, Invoicing, InvoicingOutput, InvoicingState};
use souk_runtime::{Processor, TestDriver};
use souk_schemas::billing::*;
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::Envelope;

const TOPIC: &str = "billing.commands";
const TENANT: &str = "acme";
const CUSTOMER: &str = "919800000001";

fn driver() -> TestDriver<Invoicing> {
    TestDriver::new(Invoicing, 4)
}

/// A line of `meters` × `price` with the amount the requester computes (half-up to paise).
fn line(id: &str, meters: Decimal, price: Decimal) -> InvoiceLine {
    let amount = invoicing::money::round_money(meters * price);
    InvoiceLine { line_id: id.into(), material: "cotton".into(), color: "blue".into(), meters, price_per_meter: price, amount }
}

fn request(id: &str, at: i64, order: &str, lines: Vec<InvoiceLine>) -> BillingCommand {
    BillingCommand::InvoiceRequested(InvoiceRequested { envelope: Envelope::external(TENANT, id, at), order_id: order.into(), customer: CUSTOMER.into(), lines })
}

fn settings(id: &str, rate: Decimal, days: i32) -> BillingCommand {
    BillingCommand::TenantSettingsChanged(TenantSettingsChanged { envelope: Envelope::external(TENANT, id, 500), gst_rate: rate, reminder_days: days })
}

/// Feeds a command for [`TENANT`] and splits what it emitted.
fn feed(d: &mut TestDriver<Invoicing>, command: BillingCommand) -> (Vec<InvoiceIssued>, Vec<OutboundMessageRequested>) {
    let (mut invoices, mut messages) = (Vec::new(), Vec::new());
    for out in d.feed(TOPIC, TENANT, command) {
        assert_eq!(out.key, format!("{TENANT}|{CUSTOMER}"));
        match out.event {
            InvoicingOutput::InvoiceIssued(i) => invoices.push(i),
            InvoicingOutput::OutboundMessageRequested(m) => messages.push(m),
        }
    }
    (invoices, messages)
}

/// The single invoice issued for `lines` in a fresh tenant.
fn issue(lines: Vec<InvoiceLine>) -> InvoiceIssued {
    let (invoices, _) = feed(&mut driver(), request("req", 1_000, "o1", lines));
    invoices.into_iter().next().expect("one invoice")
}

fn rejected(d: &TestDriver<Invoicing>) -> String {
    d.rejections.last().expect("rejected").3.code.clone()
}

/// rules F3.1: 20 m of blue cotton at ₹105.00 → subtotal 2100.00, GST 105.00, total 2205.00.
#[test]
fn golden_path_invoice_and_message() {
    let mut d = driver();
    let (invoices, messages) = feed(&mut d, request("req-1", 1_700_000_000_000, "o1", vec![line("l1", dec!(20), dec!(105.00))]));
    let [invoice] = invoices.as_slice() else { panic!("{invoices:?}") };
    assert_eq!(invoice.invoice_id, invoice_id("o1"));
    assert_eq!(invoice.invoice_id, uuid::Uuid::new_v5(&souk_schemas::envelope::SOUK_ID_NAMESPACE, b"o1").to_string());
    assert_eq!((invoice.invoice_number.as_str(), invoice.order_id.as_str(), invoice.customer.as_str()), ("INV-000001", "o1", CUSTOMER));
    assert_eq!((invoice.subtotal, invoice.gst_rate, invoice.gst_amount, invoice.total), (dec!(2100.00), dec!(0.05), dec!(105.00), dec!(2205.00)));
    assert_eq!((invoice.issued_at, invoice.reminder_days), (1_700_000_000_000, 7));
    let [message] = messages.as_slice() else { panic!("{messages:?}") };
    assert_eq!(message.text, "Order approved. Invoice #INV-000001. Total ₹2,205.00 (incl. GST ₹105.00).");
    assert_eq!((message.to.as_str(), message.order_id.as_deref(), message.purpose.as_str()), (CUSTOMER, Some("o1"), "approved"));
    assert!(message.buttons.is_empty());
    let outputs: Vec<&str> = d.outputs.iter().map(|o| o.output).collect();
    assert_eq!(outputs, ["invoices", "outbound"]);
    assert_eq!(Invoicing.name(), "invoicing");
}

/// rules F3.19: subtotal exact in Decimal, GST half-up to 2 dp.
#[rstest]
#[case::five_percent(vec![(dec!(20), dec!(105))], dec!(0.05), dec!(2100.00), dec!(105.00))]
#[case::half_paisa_rounds_up(vec![(dec!(1), dec!(0.10))], dec!(0.05), dec!(0.10), dec!(0.01))]
#[case::below_half_rounds_down(vec![(dec!(1), dec!(0.29))], dec!(0.05), dec!(0.29), dec!(0.01))]
#[case::point_0045_rounds_down(vec![(dec!(1), dec!(0.09))], dec!(0.05), dec!(0.09), dec!(0.00))]
#[case::thirds(vec![(dec!(1), dec!(33.33))], dec!(0.05), dec!(33.33), dec!(1.67))]
#[case::eighteen_percent(vec![(dec!(1), dec!(99.99))], dec!(0.18), dec!(99.99), dec!(18.00))]
#[case::zero_rate(vec![(dec!(2.5), dec!(40))], dec!(0), dec!(100.00), dec!(0))]
#[case::no_float_drift(vec![(dec!(0.1), dec!(0.10)), (dec!(0.2), dec!(0.10)), (dec!(3), dec!(0.10))], dec!(0.05), dec!(0.33), dec!(0.02))]
#[case::fractional_meters(vec![(dec!(12.345), dec!(10.00)), (dec!(7.5), dec!(99.99))], dec!(0.05), dec!(873.38), dec!(43.67))]
fn gst_is_half_up_to_paise(#[case] lines: Vec<(Decimal, Decimal)>, #[case] rate: Decimal, #[case] subtotal: Decimal, #[case] gst: Decimal) {
    let lines: Vec<InvoiceLine> = lines.iter().enumerate().map(|(i, (m, p))| line(&format!("l{i}"), *m, *p)).collect();
    let mut d = driver();
    feed(&mut d, settings("s", rate, 7));
    let (invoices, _) = feed(&mut d, request("req", 1_000, "o1", lines));
    let i = &invoices[0];
    assert_eq!((i.subtotal, i.gst_amount, i.total), (subtotal, gst, subtotal + gst));
    assert_eq!(i.gst_rate, rate);
}

/// A line whose meters × price has more than 2 decimals is rounded half-up per line by the
/// requester; the processor checks that rounding exactly.
#[rstest]
#[case::exact(dec!(1.005), dec!(10.00), dec!(10.05), None)]
#[case::rounded_down(dec!(0.333), dec!(10.01), dec!(3.33), None)]
#[case::rounded_up_at_half(dec!(0.5), dec!(0.01), dec!(0.01), None)]
#[case::not_rounded_half_up(dec!(0.5), dec!(0.01), dec!(0.00), Some("AMOUNT_MISMATCH"))]
#[case::wrong_amount(dec!(20), dec!(105), dec!(2000), Some("AMOUNT_MISMATCH"))]
#[case::amount_with_three_decimals(dec!(0.333), dec!(10.01), dec!(3.333), Some("TOO_MANY_DECIMALS"))]
#[case::zero_meters(dec!(0), dec!(10), dec!(0), Some("NON_POSITIVE_METERS"))]
#[case::negative_meters(dec!(-1), dec!(10), dec!(-10), Some("NON_POSITIVE_METERS"))]
#[case::four_decimal_meters(dec!(1.0001), dec!(10), dec!(10.00), Some("TOO_MANY_DECIMALS"))]
#[case::zero_price(dec!(1), dec!(0), dec!(0), Some("NON_POSITIVE_PRICE"))]
#[case::three_decimal_price(dec!(1), dec!(10.005), dec!(10.01), Some("TOO_MANY_DECIMALS"))]
fn line_checks(#[case] meters: Decimal, #[case] price: Decimal, #[case] amount: Decimal, #[case] code: Option<&str>) {
    let l = InvoiceLine { line_id: "l1".into(), material: "cotton".into(), color: "blue".into(), meters, price_per_meter: price, amount };
    let mut d = driver();
    let (invoices, _) = feed(&mut d, request("req", 1_000, "o1", vec![l]));
    match code {
        None => assert_eq!(invoices[0].subtotal, amount),
        Some(code) => {
            assert!(invoices.is_empty());
            assert_eq!(rejected(&d), code);
            assert_eq!(d.state(TENANT), InvoicingState::default(), "a rejection changes nothing");
        }
    }
}

#[rstest]
#[case::no_lines(vec![], CUSTOMER, "o1", "NO_LINES")]
#[case::duplicate_line(vec![line("l1", dec!(1), dec!(1)), line("l1", dec!(2), dec!(1))], CUSTOMER, "o1", "DUPLICATE_LINE")]
#[case::customer_with_separator(vec![line("l1", dec!(1), dec!(1))], "91|98", "o1", "BAD_CUSTOMER")]
#[case::empty_customer(vec![line("l1", dec!(1), dec!(1))], "", "o1", "BAD_CUSTOMER")]
#[case::empty_order(vec![line("l1", dec!(1), dec!(1))], CUSTOMER, "", "BAD_ORDER_ID")]
#[case::empty_line_id(vec![line("", dec!(1), dec!(1))], CUSTOMER, "o1", "BAD_LINE_ID")]
fn bad_requests_are_rejected(#[case] lines: Vec<InvoiceLine>, #[case] customer: &str, #[case] order: &str, #[case] code: &str) {
    let mut d = driver();
    let mut command = request("req", 1_000, order, lines);
    if let BillingCommand::InvoiceRequested(r) = &mut command {
        r.customer = customer.into();
    }
    assert!(d.feed(TOPIC, TENANT, command).is_empty());
    assert_eq!(rejected(&d), code);
}

#[test]
fn numbers_are_sequential_per_tenant() {
    let mut d = driver();
    let numbers: Vec<String> = (1..=3).map(|n| feed(&mut d, request(&format!("req-{n}"), 1_000 + n, &format!("o{n}"), vec![line("l1", dec!(1), dec!(10))])).0[0].invoice_number.clone()).collect();
    assert_eq!(numbers, ["INV-000001", "INV-000002", "INV-000003"]);
    let other = BillingCommand::InvoiceRequested(InvoiceRequested {
        envelope: Envelope::external("globex", "g1", 1_000),
        order_id: "g-o1".into(),
        customer: CUSTOMER.into(),
        lines: vec![line("l1", dec!(1), dec!(10))],
    });
    let out = d.feed(TOPIC, "globex", other);
    let InvoicingOutput::InvoiceIssued(i) = &out[0].event else { panic!("{out:?}") };
    assert_eq!((i.invoice_number.as_str(), out[0].key.as_str()), ("INV-000001", "globex|919800000001"));
    assert_eq!(d.state(TENANT).last_number, 3);
}

/// A5 / rules F3.2: a repeated request (a retry with a new event id) re-emits the same invoice —
/// same number and amounts even after the settings changed — and sends no second message.
#[test]
fn a_repeated_request_gets_the_same_invoice_and_no_second_message() {
    let mut d = driver();
    let lines = vec![line("l1", dec!(20), dec!(105)), line("l2", dec!(2.5), dec!(80))];
    let (first, _) = feed(&mut d, request("req-1", 1_000, "o1", lines.clone()));
    feed(&mut d, request("req-2", 1_100, "o2", vec![line("l1", dec!(1), dec!(10))]));
    feed(&mut d, settings("s", dec!(0.18), 14));
    let (again, messages) = feed(&mut d, request("req-1-retry", 5_000, "o1", lines));
    assert!(messages.is_empty());
    let (a, mut b) = (first[0].clone(), again[0].clone());
    assert_ne!(a.envelope.event_id, b.envelope.event_id);
    b.envelope = a.envelope.clone();
    assert_eq!(a, b);
    assert_eq!((a.invoice_number.as_str(), a.gst_rate, a.reminder_days, a.issued_at), ("INV-000001", dec!(0.05), 7, 1_000));
    assert_eq!(d.state(TENANT).last_number, 2);
    // The same event id again is dropped by the runtime.
    assert!(d.feed(TOPIC, TENANT, request("req-1-retry", 5_000, "o1", vec![])).is_empty());
    assert_eq!(d.skipped, 1);
}

#[test]
fn the_same_order_with_other_lines_is_a_conflict() {
    let mut d = driver();
    feed(&mut d, request("req-1", 1_000, "o1", vec![line("l1", dec!(20), dec!(105))]));
    let before = d.state(TENANT);
    let (invoices, _) = feed(&mut d, request("req-2", 2_000, "o1", vec![line("l1", dec!(21), dec!(105))]));
    assert!(invoices.is_empty());
    assert_eq!(rejected(&d), "INVOICE_CONFLICT");
    assert_eq!(d.state(TENANT), before);
    // Trailing zeros are not a difference.
    let same = InvoiceLine { meters: dec!(20.000), price_per_meter: dec!(105.00), amount: dec!(2100.00), ..line("l1", dec!(20), dec!(105)) };
    let (invoices, _) = feed(&mut d, request("req-3", 3_000, "o1", vec![same]));
    assert_eq!(invoices[0].invoice_number, "INV-000001");
}

#[test]
fn settings_apply_to_later_invoices() {
    let mut d = driver();
    feed(&mut d, settings("s", dec!(0.18), 14));
    let i = issue_in(&mut d, "o1");
    assert_eq!((i.gst_rate, i.gst_amount, i.total, i.reminder_days), (dec!(0.18), dec!(18.00), dec!(118.00), 14));
    assert_eq!(issue(vec![line("l1", dec!(1), dec!(100))]).reminder_days, 7, "defaults: 5 %, 7 days");
}

fn issue_in(d: &mut TestDriver<Invoicing>, order: &str) -> InvoiceIssued {
    feed(d, request(&format!("req-{order}"), 1_000, order, vec![line("l1", dec!(1), dec!(100))])).0.remove(0)
}

#[rstest]
#[case::negative_rate(dec!(-0.01), 7, Some("BAD_GST_RATE"))]
#[case::rate_of_one(dec!(1), 7, Some("BAD_GST_RATE"))]
#[case::rate_above_one(dec!(1.5), 7, Some("BAD_GST_RATE"))]
#[case::five_decimals(dec!(0.12345), 7, Some("BAD_GST_RATE"))]
#[case::zero_days(dec!(0.05), 0, Some("BAD_REMINDER_DAYS"))]
#[case::negative_days(dec!(0.05), -7, Some("BAD_REMINDER_DAYS"))]
#[case::zero_rate(dec!(0), 1, None)]
#[case::four_decimals(dec!(0.9999), 30, None)]
#[case::trailing_zeros(dec!(0.180000), 7, None)]
fn settings_are_validated(#[case] rate: Decimal, #[case] days: i32, #[case] code: Option<&str>) {
    let mut d = driver();
    assert!(d.feed(TOPIC, TENANT, settings("s", rate, days)).is_empty(), "settings emit nothing");
    match code {
        Some(code) => {
            assert_eq!(rejected(&d), code);
            assert_eq!(d.state(TENANT), InvoicingState::default());
        }
        None => {
            assert!(d.rejections.is_empty());
            assert_eq!((d.state(TENANT).settings.gst_rate, d.state(TENANT).settings.reminder_days), (rate, days));
        }
    }
}

#[rstest]
#[case::other_tenant("globex")]
#[case::customer_key("acme|919800000001")]
fn commands_under_a_wrong_key_are_rejected(#[case] key: &str) {
    let mut d = driver();
    assert!(d.feed(TOPIC, key, settings("s", dec!(0.05), 7)).is_empty());
    assert_eq!(rejected(&d), "BAD_KEY");
}

#[test]
fn the_memory_of_issued_invoices_is_bounded() {
    let mut state = InvoicingState::default();
    let invoice = |n| IssuedInvoice { number: n, request_digest: String::new(), gst_rate: dec!(0.05), reminder_days: 7, issued_at: 0 };
    for n in 1..=(ISSUED_REMEMBERED as u64 + 1) {
        state.remember(&format!("o{n}"), invoice(n));
    }
    assert_eq!((state.issued.len(), state.issued_order.len()), (ISSUED_REMEMBERED, ISSUED_REMEMBERED));
    assert!(!state.issued.contains_key("o1") && state.issued.contains_key("o2"));
}

#[test]
fn state_round_trips_through_json_and_replay_is_deterministic() {
    let run = || {
        let mut d = driver();
        feed(&mut d, settings("s", dec!(0.12), 10));
        issue_in(&mut d, "o1");
        issue_in(&mut d, "o2");
        (d.outputs.clone(), d.state(TENANT))
    };
    let (outputs, state) = run();
    assert_eq!(run(), (outputs, state.clone()));
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<InvoicingState>(&json).unwrap(), state);
    // A state written before settings existed loads with the defaults.
    let old: InvoicingState = serde_json::from_str(r#"{"last_number": 4}"#).unwrap();
    assert_eq!((old.last_number, old.settings.gst_rate, old.settings.reminder_days), (4, dec!(0.05), 7));
}
