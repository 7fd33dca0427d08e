//! The customer ledger through the broker-free driver (rules A6, F3.20): append-only
//! entries, outstanding = Σ invoices − Σ payments, idempotent payments, receipts, and reminders on
//! the clock (ticks) at the terms and every terms after while unpaid.

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk_processors::ledger::{self, reminder_timer_id, CustomerKey, Ledger, LedgerOutput, LedgerState};
use souk_runtime::driver::DriverOutput;
use souk_runtime::partitioner::partition_for;
use souk_runtime::{Processor, TestDriver};
use souk_schemas::billing::*;
use souk_schemas::clock::Tick;
use souk_schemas::Envelope;

const TOPIC: &str = "ledger.inputs";
const PARTITIONS: i32 = 4;
const CUSTOMER: &str = "919800000001";
const KEY: &str = "acme|919800000001";
const DAY: i64 = ledger::DAY_MS;
/// Issue time of the invoices in these tests.
const T0: i64 = 1_700_000_000_000;

fn driver() -> TestDriver<Ledger> {
    TestDriver::new(Ledger, PARTITIONS)
}

/// Invoice `n` (`inv-<n>`, `INV-00000<n>`, order `o<n>`) of `total`, issued at `issued_at`, 7-day terms.
fn invoice(n: u32, total: Decimal, issued_at: i64) -> LedgerInput {
    LedgerInput::InvoiceIssued(InvoiceIssued {
        envelope: Envelope::external("acme", &format!("invoice-{n}-{issued_at}"), issued_at),
        invoice_id: format!("inv-{n}"),
        invoice_number: format!("INV-{n:06}"),
        order_id: format!("o{n}"),
        customer: CUSTOMER.into(),
        lines: Vec::new(),
        subtotal: total,
        gst_rate: dec!(0),
        gst_amount: dec!(0),
        total,
        issued_at,
        reminder_days: 7,
    })
}

fn payment(id: &str, amount: Decimal, at: i64) -> LedgerInput {
    LedgerInput::PaymentRecorded(PaymentRecorded {
        envelope: Envelope::external("acme", &format!("payment-{id}-{at}"), at),
        payment_id: id.into(),
        customer: CUSTOMER.into(),
        amount,
        method: Some("UPI".into()),
        reference: None,
    })
}

/// Feeds `input` for [`KEY`]; returns what it caused.
fn feed(d: &mut TestDriver<Ledger>, input: LedgerInput) -> Vec<DriverOutput<LedgerOutput>> {
    let before = d.outputs.len();
    d.feed(TOPIC, KEY, input);
    d.outputs[before..].to_vec()
}

/// A clock tick at `at` into [`KEY`]'s partition; returns what it caused.
fn tick(d: &mut TestDriver<Ledger>, at: i64) -> Vec<DriverOutput<LedgerOutput>> {
    let partition = partition_for(KEY.as_bytes(), PARTITIONS);
    let tick = LedgerInput::Tick(Tick { envelope: Envelope::external("*", &format!("tick-{at}"), at), partition });
    let before = d.outputs.len();
    d.feed_partition(TOPIC, partition, "", tick);
    d.outputs[before..].to_vec()
}

/// `(logical output, kind)` per output, to assert sequences.
fn kinds(out: &[DriverOutput<LedgerOutput>]) -> Vec<(&'static str, &'static str)> {
    out.iter()
        .map(|o| {
            assert_eq!(o.emitted.key, KEY);
            let kind = match &o.emitted.event {
                LedgerOutput::LedgerEntryAppended(_) => "LedgerEntryAppended",
                LedgerOutput::PaymentReminderDue(_) => "PaymentReminderDue",
                LedgerOutput::OutboundMessageRequested(_) => "OutboundMessageRequested",
                LedgerOutput::EscalationRaised(_) => "EscalationRaised",
            };
            (o.output, kind)
        })
        .collect()
}

fn entry(out: &[DriverOutput<LedgerOutput>]) -> &LedgerEntryAppended {
    out.iter()
        .find_map(|o| match &o.emitted.event {
            LedgerOutput::LedgerEntryAppended(e) => Some(e),
            _ => None,
        })
        .expect("an entry")
}

fn message(out: &[DriverOutput<LedgerOutput>]) -> &souk_schemas::whatsapp::OutboundMessageRequested {
    out.iter()
        .find_map(|o| match &o.emitted.event {
            LedgerOutput::OutboundMessageRequested(m) => Some(m),
            _ => None,
        })
        .expect("a message")
}

fn reminder(out: &[DriverOutput<LedgerOutput>]) -> Option<&PaymentReminderDue> {
    out.iter().find_map(|o| match &o.emitted.event {
        LedgerOutput::PaymentReminderDue(r) => Some(r),
        _ => None,
    })
}

const ENTRY: (&str, &str) = ("events", "LedgerEntryAppended");
const RECEIPT: (&str, &str) = ("outbound", "OutboundMessageRequested");
const REMINDER: [(&str, &str); 2] = [("events", "PaymentReminderDue"), ("outbound", "OutboundMessageRequested")];

/// One step of a ledger history.
#[derive(Debug, Clone, Copy)]
enum Op {
    Invoice(u32, Decimal),
    Pay(&'static str, Decimal),
}

#[rstest]
#[case::invoice_then_partial_payment(&[Op::Invoice(1, dec!(2205)), Op::Pay("p1", dec!(500))], dec!(2205), dec!(500), 1)]
#[case::payment_before_invoice(&[Op::Pay("p1", dec!(500)), Op::Invoice(1, dec!(2205))], dec!(2205), dec!(500), 1)]
#[case::two_invoices_paid_exactly(&[Op::Invoice(1, dec!(100)), Op::Invoice(2, dec!(50.50)), Op::Pay("p1", dec!(150.50))], dec!(150.50), dec!(150.50), 0)]
#[case::overpayment_is_a_credit(&[Op::Invoice(1, dec!(100)), Op::Pay("p1", dec!(150))], dec!(100), dec!(150), 0)]
#[case::duplicate_payment_counts_once(&[Op::Invoice(1, dec!(100)), Op::Pay("p1", dec!(30)), Op::Pay("p1", dec!(30))], dec!(100), dec!(30), 1)]
#[case::duplicate_invoice_counts_once(&[Op::Invoice(1, dec!(100)), Op::Invoice(1, dec!(100)), Op::Pay("p1", dec!(30))], dec!(100), dec!(30), 1)]
#[case::paise_exact(&[Op::Invoice(1, dec!(0.10)), Op::Invoice(2, dec!(0.20)), Op::Pay("p1", dec!(0.30))], dec!(0.30), dec!(0.30), 0)]
fn outstanding_is_invoiced_minus_paid(#[case] ops: &[Op], #[case] invoiced: Decimal, #[case] paid: Decimal, #[case] open_invoices: usize) {
    let mut d = driver();
    let mut last = None;
    for (i, op) in ops.iter().enumerate() {
        let at = T0 + i as i64 * 1_000;
        let out = match *op {
            Op::Invoice(n, total) => feed(&mut d, invoice(n, total, at)),
            Op::Pay(id, amount) => feed(&mut d, payment(id, amount, at)),
        };
        if !out.is_empty() {
            last = Some(entry(&out).clone());
        }
    }
    let state = d.state(KEY);
    assert_eq!((state.total_invoiced, state.total_paid, state.outstanding()), (invoiced, paid, invoiced - paid));
    assert_eq!(state.open.len(), open_invoices);
    let last = last.unwrap();
    assert_eq!((last.total_invoiced, last.total_paid, last.outstanding), (invoiced, paid, invoiced - paid));
    assert_eq!(d.entry(KEY).unwrap().timers.len(), open_invoices, "only unpaid invoices keep a reminder");
}

#[test]
fn an_invoice_becomes_one_entry() {
    let mut d = driver();
    let out = feed(&mut d, invoice(1, dec!(2205.00), T0));
    assert_eq!(kinds(&out), [ENTRY]);
    let e = entry(&out);
    let key = CustomerKey::parse(KEY).unwrap();
    assert_eq!(e.entry_id, ledger::entry_id(&key, "INVOICE", "inv-1"));
    assert_eq!((e.kind.as_str(), e.reference.as_str(), e.invoice_number.as_deref()), ("INVOICE", "inv-1", Some("INV-000001")));
    assert_eq!((e.customer.as_str(), e.amount, e.outstanding), (CUSTOMER, dec!(2205), dec!(2205)));
    assert_eq!(d.entry(KEY).unwrap().timers.get(&reminder_timer_id("inv-1")), Some(&(T0 + 7 * DAY)));
    // The same invoice again (re-issued by invoicing with a new event id): nothing, no second entry.
    assert!(feed(&mut d, invoice(1, dec!(2205.00), T0 + 5)).is_empty());
    assert_eq!(Ledger.name(), "ledger");
}

/// rules F3.20: a payment reduces the outstanding, once per payment_id, with a receipt.
#[test]
fn a_payment_is_entered_once_with_a_receipt() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(2205.00), T0));
    let out = feed(&mut d, payment("pay-1", dec!(500), T0 + DAY));
    assert_eq!(kinds(&out), [ENTRY, RECEIPT]);
    let e = entry(&out);
    assert_eq!((e.kind.as_str(), e.reference.as_str(), e.invoice_number.clone()), ("PAYMENT", "pay-1", None));
    assert_eq!((e.amount, e.total_invoiced, e.total_paid, e.outstanding), (dec!(500), dec!(2205), dec!(500), dec!(1705)));
    let m = message(&out);
    assert_eq!(m.text, "Payment of ₹500.00 received. Outstanding ₹1,705.00.");
    assert_eq!((m.to.as_str(), m.purpose.as_str(), m.order_id.clone(), m.buttons.len()), (CUSTOMER, "payment_receipt", None, 0));
    let state = d.state(KEY);
    assert!(feed(&mut d, payment("pay-1", dec!(500), T0 + 2 * DAY)).is_empty(), "a repeated payment_id: no entry, no receipt");
    assert_eq!(d.state(KEY), state);
}

#[test]
fn an_overpayment_leaves_a_credit_that_pays_the_next_invoice() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(2205), T0));
    let out = feed(&mut d, payment("pay-1", dec!(3000), T0 + DAY));
    assert_eq!(message(&out).text, "Payment of ₹3,000.00 received. Credit ₹795.00.");
    assert_eq!(entry(&out).outstanding, dec!(-795));
    let out = feed(&mut d, invoice(2, dec!(795), T0 + 2 * DAY));
    assert_eq!(entry(&out).outstanding, dec!(0));
    assert!(d.state(KEY).open.is_empty());
    assert!(d.entry(KEY).unwrap().timers.is_empty(), "a prepaid invoice needs no reminder");
    assert!(tick(&mut d, T0 + 30 * DAY).is_empty());
}

#[rstest]
#[case::zero(payment("p", dec!(0), T0), KEY, "NON_POSITIVE_AMOUNT")]
#[case::negative(payment("p", dec!(-5), T0), KEY, "NON_POSITIVE_AMOUNT")]
#[case::three_decimals(payment("p", dec!(10.005), T0), KEY, "TOO_MANY_DECIMALS")]
#[case::empty_payment_id(payment("", dec!(10), T0), KEY, "BAD_PAYMENT_ID")]
#[case::other_customer(payment("p", dec!(10), T0), "acme|919800000002", "CUSTOMER_MISMATCH")]
#[case::other_tenant(payment("p", dec!(10), T0), "globex|919800000001", "TENANT_MISMATCH")]
#[case::bad_key(payment("p", dec!(10), T0), "acme", "BAD_KEY")]
#[case::invoice_for_other_customer(invoice(1, dec!(10), T0), "acme|919800000002", "CUSTOMER_MISMATCH")]
#[case::invoice_without_total(invoice(1, dec!(0), T0), KEY, "NON_POSITIVE_AMOUNT")]
fn bad_inputs_are_rejected(#[case] input: LedgerInput, #[case] key: &str, #[case] code: &str) {
    let mut d = driver();
    assert!(d.feed(TOPIC, key, input).is_empty());
    assert_eq!(d.rejections.last().expect("rejected").3.code, code);
    assert_eq!(d.state(key), LedgerState::default());
}

#[test]
fn a_trailing_zero_amount_is_accepted() {
    let mut d = driver();
    feed(&mut d, payment("p", dec!(10.500), T0));
    assert!(d.rejections.is_empty());
    assert_eq!(d.state(KEY).total_paid, dec!(10.5));
}

/// A6: reminded at day 7 (not before), again at day 14 (with the owner escalation), then every 7 days.
#[test]
fn reminders_at_the_terms_and_every_terms_after_while_unpaid() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(2205), T0));
    feed(&mut d, payment("pay-1", dec!(500), T0 + DAY));
    assert!(tick(&mut d, T0 + 7 * DAY - 1).is_empty());
    let out = tick(&mut d, T0 + 7 * DAY);
    assert_eq!(kinds(&out), REMINDER);
    let r = reminder(&out).unwrap();
    assert_eq!((r.customer.as_str(), r.outstanding, r.oldest_unpaid_invoice.as_str(), r.days_overdue), (CUSTOMER, dec!(1705), "INV-000001", 7));
    let m = message(&out);
    assert_eq!(m.text, "Reminder: ₹1,705.00 is outstanding. Invoice #INV-000001 was issued 7 days ago.");
    assert_eq!((m.purpose.as_str(), m.order_id.as_deref()), ("payment_reminder", Some("o1")));

    assert!(tick(&mut d, T0 + 14 * DAY - 1).is_empty());
    let out = tick(&mut d, T0 + 14 * DAY);
    assert_eq!(kinds(&out), [REMINDER[0], REMINDER[1], ("escalations", "EscalationRaised")]);
    assert_eq!(reminder(&out).unwrap().days_overdue, 14);
    let LedgerOutput::EscalationRaised(x) = &out[2].emitted.event else { unreachable!() };
    assert_eq!((x.kind.as_str(), x.priority.as_str(), x.customer.as_deref(), x.order_id.as_deref()), ("PAYMENT_OVERDUE", "medium", Some(CUSTOMER), Some("o1")));
    assert!(x.detail.contains("INV-000001"), "{}", x.detail);

    let out = tick(&mut d, T0 + 21 * DAY);
    assert_eq!(kinds(&out), REMINDER, "the escalation is raised once");
}

#[test]
fn no_reminder_once_paid() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(2205), T0));
    feed(&mut d, payment("pay-1", dec!(2000), T0 + DAY));
    feed(&mut d, payment("pay-2", dec!(205), T0 + 2 * DAY));
    assert!(d.entry(KEY).unwrap().timers.is_empty());
    assert!(tick(&mut d, T0 + 7 * DAY).is_empty());
    assert!(tick(&mut d, T0 + 14 * DAY).is_empty());
}

/// Paid between two reminders: the next one does not come.
#[test]
fn reminders_stop_when_paid_after_the_first() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(100), T0));
    assert_eq!(kinds(&tick(&mut d, T0 + 7 * DAY)), REMINDER);
    feed(&mut d, payment("pay-1", dec!(100), T0 + 8 * DAY));
    assert!(tick(&mut d, T0 + 14 * DAY).is_empty());
}

/// One cadence per customer: only the oldest unpaid invoice's timer reminds; payments pay the
/// oldest invoice first, and then the next one's timer takes over.
#[test]
fn the_oldest_unpaid_invoice_carries_the_reminders() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(100), T0));
    feed(&mut d, invoice(2, dec!(50), T0 + 3 * DAY));
    let r = reminder(&tick(&mut d, T0 + 7 * DAY)).cloned().unwrap();
    assert_eq!((r.oldest_unpaid_invoice.as_str(), r.outstanding), ("INV-000001", dec!(150)));
    assert!(tick(&mut d, T0 + 10 * DAY).is_empty(), "invoice 2 is due but invoice 1 is older and unpaid");
    feed(&mut d, payment("pay-1", dec!(120), T0 + 11 * DAY));
    assert!(tick(&mut d, T0 + 14 * DAY).is_empty(), "invoice 1 is paid");
    let out = tick(&mut d, T0 + 17 * DAY);
    assert_eq!(kinds(&out), REMINDER, "invoice 2's first reminder, no escalation");
    let r = reminder(&out).unwrap();
    assert_eq!((r.oldest_unpaid_invoice.as_str(), r.outstanding, r.days_overdue), ("INV-000002", dec!(30), 14));
}

/// A clock that jumps past several due dates sends one reminder and re-arms after now.
#[test]
fn a_jump_in_time_sends_one_reminder() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(100), T0));
    let out = tick(&mut d, T0 + 20 * DAY);
    assert_eq!(kinds(&out), REMINDER);
    assert_eq!(reminder(&out).unwrap().days_overdue, 20);
    assert_eq!(d.entry(KEY).unwrap().timers.get(&reminder_timer_id("inv-1")), Some(&(T0 + 21 * DAY)));
    assert_eq!(kinds(&tick(&mut d, T0 + 21 * DAY)).len(), 3, "second reminder + escalation");
}

/// The terms travel with the invoice (tenant setting at issue).
#[test]
fn the_invoice_terms_set_the_cadence() {
    let mut d = driver();
    let mut fourteen = invoice(1, dec!(100), T0);
    if let LedgerInput::InvoiceIssued(i) = &mut fourteen {
        i.reminder_days = 14;
    }
    feed(&mut d, fourteen);
    assert!(tick(&mut d, T0 + 13 * DAY).is_empty());
    assert_eq!(kinds(&tick(&mut d, T0 + 14 * DAY)), REMINDER);
    assert!(tick(&mut d, T0 + 27 * DAY).is_empty());
    assert_eq!(kinds(&tick(&mut d, T0 + 28 * DAY)).len(), 3);
}

/// A payment arriving after the due date sees the reminder first (timers fire before the event).
#[test]
fn a_late_payment_finds_the_reminder_already_sent() {
    let mut d = driver();
    feed(&mut d, invoice(1, dec!(100), T0));
    let out = feed(&mut d, payment("pay-1", dec!(100), T0 + 8 * DAY));
    assert_eq!(kinds(&out), [REMINDER[0], REMINDER[1], ENTRY, RECEIPT]);
}

#[test]
fn state_round_trips_and_replay_is_deterministic() {
    let run = || {
        let mut d = driver();
        feed(&mut d, invoice(1, dec!(100), T0));
        feed(&mut d, payment("pay-1", dec!(40.25), T0 + DAY));
        tick(&mut d, T0 + 7 * DAY);
        tick(&mut d, T0 + 14 * DAY);
        (d.outputs.clone(), d.state(KEY))
    };
    let (outputs, state) = run();
    assert_eq!(run(), (outputs, state.clone()));
    let json = serde_json::to_string(&state).unwrap();
    assert_eq!(serde_json::from_str::<LedgerState>(&json).unwrap(), state);
    assert_eq!(state.open[0].reminders_sent, 2);
}

#[test]
fn the_memory_of_ids_is_bounded() {
    let mut ids = ledger::state::RecentIds::default();
    for n in 0..=ledger::state::IDS_REMEMBERED {
        ids.remember(&format!("p{n}"));
    }
    assert_eq!(ids.ids.len(), ledger::state::IDS_REMEMBERED);
    assert!(!ids.contains("p0") && ids.contains("p1"));
}
