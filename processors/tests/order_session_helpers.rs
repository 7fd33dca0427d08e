//! rstest tables for the order session's pure helpers: stock classification, target resolution,
//! implied state, money, and the reply texts and buttons (rules A9, A12, BUG-1).

use rstest::rstest;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk_processors::order_session::lines::{amount, classify, implied_state, resolve_target, subtotal, TargetError};
use souk_processors::order_session::text::{alternatives, line_label, negotiation, summary};
use souk_processors::order_session::WorkflowState;
use souk_schemas::orders::{ItemDecision, OrderLine, StockAlternative};

/// A line with a status and stock status; price 120.
fn order_line(material: &str, color: &str, meters: Decimal, status: &str, stock: &str, available: Option<Decimal>) -> OrderLine {
    OrderLine {
        line_id: format!("{color}-{material}"),
        material: material.into(),
        color: color.into(),
        requested_meters: meters,
        normalized_meters: meters,
        status: status.into(),
        replaced_by: None,
        inventory_status: Some(stock.into()),
        available_meters: available,
        price_per_meter: Some(dec!(120)),
        hold_id: None,
        hold_status: None,
        allocations: vec![],
        alternatives: vec![],
    }
}

/// blue cotton (accepted), red silk (replaced), red silk → green silk (negotiating, partial),
/// white linen (cancelled), black wool (negotiating, out of stock).
fn lines() -> Vec<OrderLine> {
    vec![
        order_line("cotton", "blue", dec!(20), "ACCEPTED", "FULL_AVAILABLE", Some(dec!(40))),
        order_line("silk", "red", dec!(10), "REPLACED", "OUT_OF_STOCK", Some(dec!(0))),
        order_line("silk", "green", dec!(10), "NEGOTIATING", "PARTIAL_AVAILABLE", Some(dec!(4))),
        order_line("linen", "white", dec!(5), "CANCELLED", "FULL_AVAILABLE", Some(dec!(9))),
        order_line("wool", "black", dec!(3), "NEGOTIATING", "OUT_OF_STOCK", None),
    ]
}

/// A decision naming a line by number and/or material/color.
fn target(index: Option<i32>, material: Option<&str>, color: Option<&str>) -> ItemDecision {
    ItemDecision { action: "CANCEL_ITEM".into(), material: material.map(Into::into), color: color.map(Into::into), index, meters: None, replacement: None }
}

#[rstest]
#[case::covered(dec!(20), Some(dec!(20)), "FULL_AVAILABLE")]
#[case::more_than_enough(dec!(20), Some(dec!(35.5)), "FULL_AVAILABLE")]
#[case::partial(dec!(20), Some(dec!(15)), "PARTIAL_AVAILABLE")]
#[case::a_sliver(dec!(20), Some(dec!(0.001)), "PARTIAL_AVAILABLE")]
#[case::none(dec!(20), Some(dec!(0)), "OUT_OF_STOCK")]
#[case::unknown(dec!(20), None, "OUT_OF_STOCK")]
fn inventory_status_classification(#[case] meters: Decimal, #[case] available: Option<Decimal>, #[case] expected: &str) {
    assert_eq!(classify(meters, available), expected);
}

#[rstest]
#[case::first_active(target(Some(1), None, None), Ok(0))]
#[case::numbering_skips_replaced(target(Some(2), None, None), Ok(2))]
#[case::numbering_skips_cancelled(target(Some(3), None, None), Ok(4))]
#[case::no_fourth_item(target(Some(4), None, None), Err(TargetError::NoSuchNumber(4)))]
#[case::zero_is_no_item(target(Some(0), None, None), Err(TargetError::NoSuchNumber(0)))]
#[case::by_material(target(None, Some("WOOL"), None), Ok(4))]
#[case::by_material_and_color(target(None, Some("silk"), Some("green")), Ok(2))]
#[case::replaced_line_is_not_a_target(target(None, Some("silk"), Some("red")), Err(TargetError::NoMatch))]
#[case::cancelled_line_is_not_a_target(target(None, Some("linen"), None), Err(TargetError::NoMatch))]
#[case::untargeted_with_two_unresolved_is_ambiguous(target(None, None, None), Err(TargetError::Ambiguous))]
fn target_resolution(#[case] decision: ItemDecision, #[case] expected: Result<usize, TargetError>) {
    assert_eq!(resolve_target(&lines(), &decision), expected);
}

#[rstest]
#[case::single_unresolved_line_wins("NEGOTIATING", Ok(1))]
#[case::single_active_line_when_all_resolved("CANCELLED", Ok(0))]
fn untargeted_decision_applies_to_the_single_candidate(#[case] second_status: &str, #[case] expected: Result<usize, TargetError>) {
    let two = vec![order_line("cotton", "blue", dec!(20), "ACCEPTED", "FULL_AVAILABLE", Some(dec!(40))), order_line("silk", "green", dec!(10), second_status, "PARTIAL_AVAILABLE", Some(dec!(4)))];
    assert_eq!(resolve_target(&two, &target(None, None, None)), expected);
}

#[rstest]
#[case::anything_unresolved_negotiates(&["ACCEPTED", "NEGOTIATING"], WorkflowState::CustomerNegotiation)]
#[case::resolved_with_something_accepted(&["ACCEPTED", "CANCELLED", "REPLACED"], WorkflowState::FinalCustomerConfirmation)]
#[case::nothing_left(&["CANCELLED", "REPLACED"], WorkflowState::OrderCancelled)]
fn state_implied_by_the_lines(#[case] statuses: &[&str], #[case] expected: WorkflowState) {
    let lines: Vec<_> = statuses.iter().map(|s| order_line("cotton", "blue", dec!(1), s, "FULL_AVAILABLE", Some(dec!(1)))).collect();
    assert_eq!(implied_state(&lines), expected);
}

#[rstest]
#[case::whole_meters(dec!(20), dec!(120.50), dec!(2410.00))]
#[case::three_decimals_exact(dec!(12.5), dec!(99.99), dec!(1249.88))]
#[case::half_paisa_rounds_up(dec!(0.5), dec!(0.01), dec!(0.01))]
#[case::gaj(dec!(18.288), dec!(100), dec!(1828.80))]
fn money_is_decimal_half_up_to_paise(#[case] meters: Decimal, #[case] price: Decimal, #[case] expected: Decimal) {
    assert_eq!(amount(meters, price), expected);
}

#[test]
fn subtotal_counts_accepted_priced_lines_only() {
    assert_eq!(subtotal(&lines()), Some(dec!(2400.00)));
    let mut unpriced = lines();
    unpriced[0].price_per_meter = None;
    assert_eq!(subtotal(&unpriced), None);
}

#[rstest]
#[case::priced(Some(dec!(120)), "1. 20 m blue cotton @ ₹120.00/m")]
#[case::unpriced(None, "1. 20 m blue cotton")]
fn line_label_format(#[case] price: Option<Decimal>, #[case] expected: &str) {
    let mut line = order_line("cotton", "blue", dec!(20.000), "ACCEPTED", "FULL_AVAILABLE", None);
    line.price_per_meter = price;
    assert_eq!(line_label(1, &line), expected);
}

#[test]
fn summary_lists_only_accepted_lines_with_one_call_to_action() {
    let reply = summary(&lines());
    assert_eq!(reply.text, "Your order:\n1. 20 m blue cotton @ ₹120.00/m = ₹2400.00\nSubtotal: ₹2400.00\nConfirm to send it to the shop for approval.");
    let buttons: Vec<_> = reply.buttons.iter().map(|b| (b.id.as_str(), b.title.as_str())).collect();
    assert_eq!(buttons, [("confirm", "Confirm"), ("edit", "Edit"), ("cancel_order", "Cancel")]);
}

#[test]
fn negotiation_asks_about_the_first_unresolved_item_only() {
    let reply = negotiation(&lines());
    assert_eq!(
        reply.text,
        "Your order so far:\n1. 20 m blue cotton @ ₹120.00/m - ok\n2. 10 m green silk @ ₹120.00/m - only 4 m available\n3. 3 m black wool @ ₹120.00/m - out of stock\nItem 2: only 4 m of green silk is available. Take 4 m or remove it?"
    );
    let ids: Vec<_> = reply.buttons.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["accept_available:2", "cancel_item:2"]);
}

#[test]
fn alternatives_are_buttons_with_the_contract_ids_and_short_titles() {
    let mut wool = lines().remove(4);
    wool.alternatives = ["merino superfine extra long", "cashmere", "alpaca"]
        .iter()
        .map(|m| StockAlternative { material: m.to_string(), color: "black".into(), available_meters: dec!(5), price_per_meter: None })
        .collect();
    let reply = alternatives(3, &wool);
    let ids: Vec<_> = reply.buttons.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["replace:3:merino superfine extra long|black", "replace:3:cashmere|black", "replace:3:alpaca|black"]);
    assert_eq!(reply.buttons[0].title, "black merino superfi");
    assert!(reply.buttons.iter().all(|b| b.title.chars().count() <= 20));
}
