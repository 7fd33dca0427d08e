//! The order session's lifecycle with the owner, through the driver and the real inventory pool
//! (rules F3.1, F3.2, F3.3, F3.4, F3.7, F3.17, F3.22; A1, A3, A8, A11).

mod order_session_support;

use order_session_support::*;
use rust_decimal_macros::dec;
use souk_processors::order_session::{OrderSession, SessionOutput, NAME};
use souk_runtime::Processor;

const ANA: &str = "919800000001";

/// Ana ordered 20 m blue cotton (two 10 m rolls in stock at ₹120.50) and confirmed: waiting.
fn waiting_shop() -> Shop {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), Some(dec!(120.50)));
    shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120.50)))], vec![]));
    shop.send(ANA, says(ANA, "w2", 2_000, "CONFIRM", vec![], vec![]));
    assert_eq!(shop.state(ANA).session.unwrap().state.as_str(), "WAITING_OWNER_CONFIRMATION");
    shop
}

#[test]
fn name_and_output_routing() {
    assert_eq!(OrderSession.name(), NAME);
    let mut shop = waiting_shop();
    let order = shop.order_id(ANA);
    shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    for (output, key, event) in &shop.log {
        let expected = match event {
            SessionOutput::OrderUpdated(_) | SessionOutput::CommandOutcome(_) => ("events", "acme|919800000001"),
            SessionOutput::ReserveRequested(_) | SessionOutput::CommitRequested(_) | SessionOutput::ReleaseRequested(_) => ("inventory", "acme|cotton|blue"),
            SessionOutput::OutboundMessageRequested(_) => ("outbound", "acme|919800000001"),
            SessionOutput::EscalationRaised(_) => ("escalations", "acme|919800000001"),
            SessionOutput::InvoiceRequested(_) => ("billing", "acme"),
        };
        assert_eq!((*output, key.as_str()), expected, "{event:?}");
    }
}

#[test]
fn f3_1_golden_path_summary_confirm_hold_approve_commit_invoice() {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), Some(dec!(120.50)));
    let ordered = shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120.50)))], vec![]));
    assert_eq!(kinds(&ordered), ["OutboundMessageRequested", "OrderUpdated"]);
    let summary = replies(&ordered)[0];
    assert_eq!(summary.purpose, "summary");
    assert!(summary.text.contains("1. 20 m blue cotton @ ₹120.50/m = ₹2410.00"), "{}", summary.text);
    let update = updates(&ordered)[0];
    assert_eq!((update.state.as_str(), update.previous_state.as_deref()), ("FINAL_CUSTOMER_CONFIRMATION", None));
    assert_eq!(update.subtotal, Some(dec!(2410.00)));
    assert_eq!(update.cause_wamid.as_deref(), Some("w1"));

    let confirmed = shop.send(ANA, says(ANA, "w2", 2_000, "CONFIRM", vec![], vec![]));
    let SessionOutput::ReserveRequested(reserve) = &confirmed[0] else { panic!("{confirmed:?}") };
    assert_eq!((reserve.meters, reserve.ttl_ms, reserve.reply_to.as_deref()), (dec!(20), 86_400_000, Some("acme|919800000001")));
    let states: Vec<_> = updates(&confirmed).iter().map(|u| u.state.clone()).collect();
    assert_eq!(states, ["RESERVING", "WAITING_OWNER_CONFIRMATION"]);
    assert_eq!(replies(&confirmed).iter().map(|r| r.purpose.as_str()).collect::<Vec<_>>(), ["approval_pending"]);
    assert!(replies(&confirmed)[0].text.contains("sent to the owner for approval"));
    assert_eq!(shop.pool("cotton", "blue"), (dec!(20), dec!(20), dec!(0)));

    let order = shop.order_id(ANA);
    let approved = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    assert_eq!(kinds(&approved), ["CommitRequested", "OrderUpdated", "CommandOutcome", "InvoiceRequested", "OrderUpdated"]);
    let states: Vec<_> = updates(&approved).iter().map(|u| u.state.clone()).collect();
    assert_eq!(states, ["EXECUTING", "ORDER_COMPLETED"]);
    let outcome = outcomes(&approved)[0];
    assert!(outcome.accepted && outcome.command_id == "cmd-1" && outcome.order_id == order);
    let SessionOutput::InvoiceRequested(invoice) = &approved[3] else { unreachable!() };
    assert_eq!((invoice.order_id.as_str(), invoice.customer.as_str()), (order.as_str(), ANA));
    assert_eq!(invoice.lines.len(), 1);
    assert_eq!((invoice.lines[0].meters, invoice.lines[0].price_per_meter, invoice.lines[0].amount), (dec!(20), dec!(120.50), dec!(2410.00)));
    assert!(replies(&approved).is_empty(), "the invoicing processor announces the approval with the number");
    assert_eq!(shop.pool("cotton", "blue"), (dec!(0), dec!(0), dec!(0)), "two rolls deducted, nothing negative");
    assert!(shop.state(ANA).session.is_none());
}

#[test]
fn f3_2_duplicate_wamid_and_redelivery_give_one_transition_and_one_reply() {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), Some(dec!(120)));
    let first = shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120)))], vec![]));
    assert_eq!(kinds(&first), ["OutboundMessageRequested", "OrderUpdated"]);
    // The same event redelivered (runtime dedup) and a re-extraction of the same wamid (session dedup).
    let same_event = shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120)))], vec![]));
    let mut reextracted = says(ANA, "w1", 1_500, "CONFIRM", vec![], vec![]);
    if let souk_schemas::orders::OrderInput::IntentResolved(i) = &mut reextracted {
        i.envelope = souk_schemas::Envelope::external(TENANT, "intent/w1/retry", 1_500);
    }
    let same_wamid = shop.send(ANA, reextracted.clone());
    assert!(same_event.is_empty() && same_wamid.is_empty());
    assert_eq!(shop.state(ANA).session.unwrap().state.as_str(), "FINAL_CUSTOMER_CONFIRMATION");
    // And after a restart from the changelog.
    let mut restored = restart(&shop, ANA);
    assert!(apply_restored(&mut restored, 100, ANA, &reextracted).is_empty());
}

#[test]
fn f3_2_redelivered_approval_does_not_deduct_or_invoice_twice() {
    let mut shop = waiting_shop();
    let order = shop.order_id(ANA);
    shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    let again = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    assert!(again.is_empty(), "the same command event is skipped");
    let invoices = shop.log.iter().filter(|(_, _, e)| matches!(e, SessionOutput::InvoiceRequested(_))).count();
    let commits = shop.inventory_commands().into_iter().filter(|e| matches!(e, SessionOutput::CommitRequested(_))).count();
    assert_eq!((invoices, commits), (1, 1));
}

#[test]
fn f3_3_double_approve_second_click_is_invalid_state() {
    let mut shop = waiting_shop();
    let order = shop.order_id(ANA);
    shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    let second = shop.send(ANA, owner(ANA, "cmd-2", 3_100, &order, "APPROVE"));
    assert_eq!(kinds(&second), ["CommandOutcome"]);
    let outcome = outcomes(&second)[0];
    assert_eq!((outcome.accepted, outcome.code.as_deref()), (false, Some("INVALID_STATE")));
    assert!(outcome.detail.contains("ORDER_COMPLETED"), "{}", outcome.detail);
    assert_eq!(shop.pool("cotton", "blue"), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn f3_3_double_click_while_executing_is_invalid_state() {
    let mut shop = waiting_shop();
    let order = shop.order_id(ANA);
    // Both clicks reach the session before the pool answers the first commit.
    shop.send_held(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    let second = shop.send_held(ANA, owner(ANA, "cmd-2", 3_001, &order, "APPROVE"));
    assert_eq!(kinds(&second), ["CommandOutcome"]);
    let outcome = outcomes(&second)[0];
    assert_eq!(outcome.code.as_deref(), Some("INVALID_STATE"));
    assert!(outcome.detail.contains("EXECUTING"));
}

#[rstest::rstest]
#[case::approve_in_negotiation("APPROVE", "negotiation")]
#[case::reject_in_final_confirmation("REJECT", "final")]
#[case::approve_after_reject("APPROVE", "rejected")]
#[case::reject_after_cancel("REJECT", "cancelled")]
#[case::approve_unknown_order("APPROVE", "unknown")]
fn f3_4_owner_commands_only_from_waiting(#[case] command: &str, #[case] situation: &str) {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), Some(dec!(120)));
    let available = if situation == "negotiation" { dec!(5) } else { dec!(20) };
    shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), available, Some(dec!(120)))], vec![]));
    let mut order = shop.order_id(ANA);
    match situation {
        "rejected" => {
            shop.send(ANA, says(ANA, "w2", 2_000, "CONFIRM", vec![], vec![]));
            shop.send(ANA, owner(ANA, "cmd-0", 2_500, &order, "REJECT"));
        }
        "cancelled" => {
            shop.send(ANA, says(ANA, "w2", 2_000, "CANCEL_ALL", vec![], vec![]));
        }
        "unknown" => order = "not-an-order".into(),
        _ => {}
    }
    let before = shop.state(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, command));
    assert_eq!(kinds(&out), ["CommandOutcome"], "nothing but the refusal");
    let expected = if situation == "unknown" { "UNKNOWN_ORDER" } else { "INVALID_STATE" };
    assert_eq!((outcomes(&out)[0].accepted, outcomes(&out)[0].code.as_deref()), (false, Some(expected)));
    assert_eq!(shop.state(ANA), before, "no state change");
}

#[test]
fn f3_7_reject_releases_holds_notifies_customer_and_has_no_financial_effect() {
    let mut shop = waiting_shop();
    let order = shop.order_id(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "REJECT"));
    assert_eq!(kinds(&out), ["ReleaseRequested", "OutboundMessageRequested", "CommandOutcome", "OrderUpdated"]);
    assert_eq!(replies(&out)[0].purpose, "rejected");
    assert!(outcomes(&out)[0].accepted);
    assert_eq!(last_state(&out).as_deref(), Some("ORDER_REJECTED"));
    assert_eq!(shop.pool("cotton", "blue"), (dec!(20), dec!(0), dec!(20)), "no deduction, hold released");
    assert!(!shop.log.iter().any(|(_, _, e)| matches!(e, SessionOutput::InvoiceRequested(_) | SessionOutput::CommitRequested(_))));
}

#[test]
fn f3_17_waiting_gets_status_reply_only_and_a_completed_order_lets_a_new_session_start() {
    let mut shop = waiting_shop();
    let before = shop.state(ANA);
    let out = shop.send(ANA, says(ANA, "w3", 2_500, "EDIT", vec![line("cotton", "blue", dec!(5), dec!(0), None)], vec![]));
    assert_eq!(kinds(&out), ["OutboundMessageRequested"]);
    assert_eq!(replies(&out)[0].purpose, "status");
    let after = shop.state(ANA);
    assert_eq!(after.session, before.session, "no item mutation (A8)");

    let first_order = shop.order_id(ANA);
    shop.send(ANA, owner(ANA, "cmd-1", 3_000, &first_order, "APPROVE"));
    let out = shop.send(ANA, says(ANA, "w4", 4_000, "ORDER", vec![line("silk", "red", dec!(3), dec!(10), Some(dec!(300)))], vec![]));
    let update = updates(&out)[0];
    assert_ne!(update.order_id, first_order, "a new session after the terminal one (A11)");
    assert_eq!((update.state.as_str(), update.previous_state.as_deref()), ("FINAL_CUSTOMER_CONFIRMATION", None));
    assert_eq!(shop.state(ANA).closed_state(&first_order).map(|s| s.as_str()), Some("ORDER_COMPLETED"));
}

#[test]
fn f3_22_pending_approval_is_exactly_the_waiting_snapshot_until_a_decision() {
    let mut shop = waiting_shop();
    let waiting: Vec<_> = shop
        .log
        .iter()
        .filter_map(|(_, _, e)| match e {
            SessionOutput::OrderUpdated(u) => Some(u.state.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(waiting.last().map(String::as_str), Some("WAITING_OWNER_CONFIRMATION"));
    let order = shop.order_id(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    let left = updates(&out)[0];
    assert_eq!((left.state.as_str(), left.previous_state.as_deref()), ("EXECUTING", Some("WAITING_OWNER_CONFIRMATION")));
    assert_eq!(left.cause, "OwnerDecision");
}

#[test]
fn missing_price_refuses_the_approval_and_changes_nothing() {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), None);
    shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), None)], vec![]));
    shop.send(ANA, says(ANA, "w2", 2_000, "CONFIRM", vec![], vec![]));
    let before = shop.state(ANA);
    let order = shop.order_id(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-1", 3_000, &order, "APPROVE"));
    assert_eq!(kinds(&out), ["CommandOutcome"]);
    assert_eq!(outcomes(&out)[0].code.as_deref(), Some("MISSING_PRICE"));
    assert_eq!(shop.state(ANA), before);
}
