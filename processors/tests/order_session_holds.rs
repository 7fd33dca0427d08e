//! The hold saga against the real inventory pool (rules A3 reshaping rules F3.5 and
//! F3.6): the race between two customers is decided when the second confirms; approval-time
//! `INSUFFICIENT_STOCK` happens only for holds that expired, with zero deductions; expiry during
//! execution re-reserves.

mod order_session_support;

use order_session_support::*;
use rust_decimal_macros::dec;
use souk_processors::order_session::SessionOutput;
use souk_schemas::inventory::HoldCommandRejected;
use souk_schemas::orders::OrderInput;
use souk_schemas::Envelope;

const ANA: &str = "919800000001";
const BEN: &str = "919800000002";
const DAY: i64 = 24 * HOUR;

/// Ana and Ben see the same 20 m of blue cotton; Ana also wants 5 m of red silk (10 m in stock).
fn shop() -> Shop {
    let mut shop = Shop::default();
    shop.stock("cotton", "blue", 2, dec!(10), Some(dec!(120)));
    shop.stock("silk", "red", 1, dec!(10), Some(dec!(300)));
    shop
}

/// `customer` orders 20 m blue cotton (and 5 m red silk) and confirms at `at`.
fn order_and_confirm(shop: &mut Shop, customer: &str, with_silk: bool, at: i64) -> Vec<SessionOutput> {
    let mut lines = vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120)))];
    if with_silk {
        lines.push(line("silk", "red", dec!(5), dec!(10), Some(dec!(300))));
    }
    shop.send(customer, says(customer, &format!("{customer}-order"), at, "ORDER", lines, vec![]));
    shop.send(customer, says(customer, &format!("{customer}-confirm"), at + 1, "CONFIRM", vec![], vec![]))
}

/// Current state name of `customer`'s session.
fn state_of(shop: &Shop, customer: &str) -> String {
    shop.state(customer).session.map(|s| s.state.as_str().to_string()).unwrap_or_default()
}

#[test]
fn f3_5_race_is_decided_when_the_second_customer_confirms() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, false, 1_000);
    assert_eq!(state_of(&shop, ANA), "WAITING_OWNER_CONFIRMATION");
    let ben = order_and_confirm(&mut shop, BEN, false, 2_000);
    assert_eq!(updates(&ben).iter().map(|u| u.state.as_str()).collect::<Vec<_>>(), ["RESERVING", "CUSTOMER_NEGOTIATION"]);
    let reply = replies(&ben)[0];
    assert!(reply.text.starts_with("Sorry, some items sold out while we were reserving them."), "{}", reply.text);
    assert!(reply.text.contains("20 m blue cotton @ ₹120.00/m - out of stock"), "{}", reply.text);
    let line = &shop.state(BEN).session.unwrap().lines[0];
    assert_eq!((line.status.as_str(), line.inventory_status.as_deref(), line.available_meters), ("NEGOTIATING", Some("OUT_OF_STOCK"), Some(dec!(0))));

    let order = shop.order_id(ANA);
    let approved = shop.send(ANA, owner(ANA, "cmd-ana", 3_000, &order, "APPROVE"));
    assert_eq!(last_state(&approved).as_deref(), Some("ORDER_COMPLETED"));
    assert_eq!(shop.pool("cotton", "blue"), (dec!(0), dec!(0), dec!(0)), "never negative");
}

#[test]
fn f3_5_and_6_approval_after_expiry_fails_with_insufficient_stock_and_deducts_nothing() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, true, 1_000);
    let expired = shop.tick_pools(1_001 + DAY + 1);
    assert_eq!(escalations(&expired).iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["APPROVAL_OVERDUE"], "once for both holds");
    assert_eq!(state_of(&shop, ANA), "WAITING_OWNER_CONFIRMATION");
    order_and_confirm(&mut shop, BEN, false, 2 * DAY);
    assert_eq!(state_of(&shop, BEN), "WAITING_OWNER_CONFIRMATION", "Ben holds the cotton now");

    let order = shop.order_id(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-ana", 2 * DAY + 10, &order, "APPROVE"));
    let outcome = outcomes(&out)[0];
    assert_eq!((outcome.accepted, outcome.code.as_deref()), (false, Some("INSUFFICIENT_STOCK")));
    assert_eq!(escalations(&out).iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["INSUFFICIENT_STOCK"]);
    let states: Vec<_> = updates(&out).iter().map(|u| u.state.as_str()).collect();
    assert_eq!((states[0], states[states.len() - 1]), ("APPROVAL_RESERVING", "WAITING_OWNER_CONFIRMATION"));
    assert!(!out.iter().any(|o| matches!(o, SessionOutput::CommitRequested(_) | SessionOutput::InvoiceRequested(_))));
    assert_eq!(shop.pool("silk", "red"), (dec!(10), dec!(0), dec!(10)), "the silk re-reserved for Ana was released: atomic");
    assert_eq!(shop.pool("cotton", "blue"), (dec!(20), dec!(20), dec!(0)), "only Ben's hold, nothing deducted");
    assert!(replies(&out).is_empty(), "the customer is not told about the owner's problem");

    // Ben's order is rejected; Ana's next approval goes through.
    let ben_order = shop.order_id(BEN);
    shop.send(BEN, owner(BEN, "cmd-ben", 2 * DAY + 20, &ben_order, "REJECT"));
    let out = shop.send(ANA, owner(ANA, "cmd-ana-2", 2 * DAY + 30, &order, "APPROVE"));
    assert_eq!(last_state(&out).as_deref(), Some("ORDER_COMPLETED"));
    assert_eq!((shop.pool("cotton", "blue").0, shop.pool("silk", "red").0), (dec!(0), dec!(5)));
}

#[test]
fn f3_6_second_item_short_at_confirm_releases_the_first_and_never_commits() {
    let mut shop = shop();
    // The NLU's snapshot said 20 m of silk; the pool has 10.
    shop.send(ANA, says(ANA, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(20), Some(dec!(120))), line("silk", "red", dec!(20), dec!(20), Some(dec!(300)))], vec![]));
    let out = shop.send(ANA, says(ANA, "w2", 2_000, "CONFIRM", vec![], vec![]));
    assert_eq!(kinds(&out).iter().filter(|k| **k == "ReleaseRequested").count(), 1);
    assert_eq!(last_state(&out).as_deref(), Some("CUSTOMER_NEGOTIATION"));
    let statuses = line_statuses(&shop, ANA);
    assert_eq!(statuses[1], ("red silk".into(), "NEGOTIATING".into(), "20".into()));
    assert_eq!(replies(&out)[0].buttons[0].id, "accept_available:2", "fresh availability: 10 m partial");
    assert_eq!(shop.pool("cotton", "blue"), (dec!(20), dec!(0), dec!(20)));
    assert!(!shop.log.iter().any(|(_, _, e)| matches!(e, SessionOutput::CommitRequested(_) | SessionOutput::InvoiceRequested(_))));
}

#[test]
fn a3_approve_after_expiry_with_stock_left_reserves_again_then_commits() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, false, 1_000);
    shop.tick_pools(1_001 + DAY + 1);
    let order = shop.order_id(ANA);
    let out = shop.send(ANA, owner(ANA, "cmd-1", 2 * DAY, &order, "APPROVE"));
    assert_eq!(kinds(&out), ["ReserveRequested", "OrderUpdated", "CommitRequested", "OrderUpdated", "CommandOutcome", "InvoiceRequested", "OrderUpdated"]);
    assert!(outcomes(&out)[0].accepted);
    assert_eq!(shop.pool("cotton", "blue"), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn a3_hold_expiring_while_the_commit_travels_is_reserved_again_and_committed() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, false, 1_000);
    let order = shop.order_id(ANA);
    // The approval's commit is stuck; the pool's clock passes the hold's expiry first.
    shop.send_held(ANA, owner(ANA, "cmd-1", 2_000, &order, "APPROVE"));
    let out = shop.tick_pools(1_001 + DAY + 1);
    assert_eq!(last_state(&out).as_deref(), Some("ORDER_COMPLETED"));
    assert!(escalations(&out).is_empty());
    assert_eq!(shop.pool("cotton", "blue"), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn a3_commit_refused_and_stock_gone_during_execution_goes_back_to_waiting_with_insufficient_stock() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, false, 1_000);
    let order = shop.order_id(ANA);
    let hold_id = shop.state(ANA).session.unwrap().lines[0].hold_id.clone().unwrap();
    shop.send_held(ANA, owner(ANA, "cmd-1", 2_000, &order, "APPROVE"));
    // The pool refused the commit (its hold is gone) while the stock is still claimed elsewhere.
    let refused =
        OrderInput::HoldCommandRejected(HoldCommandRejected { envelope: Envelope::external(TENANT, "refused-commit", 2_100), hold_id, command: "commit".into(), reason: "HOLD_EXPIRED".into() });
    let out = shop.send(ANA, refused);
    assert_eq!(outcomes(&out)[0].code.as_deref(), Some("INSUFFICIENT_STOCK"));
    assert_eq!(escalations(&out)[0].kind, "INSUFFICIENT_STOCK");
    assert_eq!(state_of(&shop, ANA), "WAITING_OWNER_CONFIRMATION");
    assert!(!out.iter().any(|o| matches!(o, SessionOutput::InvoiceRequested(_))));
}

#[test]
fn answers_about_unknown_holds_are_ignored() {
    let mut shop = shop();
    order_and_confirm(&mut shop, ANA, false, 1_000);
    let before = shop.state(ANA);
    let stale = OrderInput::HoldCommandRejected(HoldCommandRejected {
        envelope: Envelope::external(TENANT, "stale", 2_000),
        hold_id: "some-other-hold".into(),
        command: "commit".into(),
        reason: "UNKNOWN_HOLD".into(),
    });
    assert!(shop.send(ANA, stale).is_empty());
    assert_eq!(shop.state(ANA), before);
}
