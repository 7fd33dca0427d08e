//! Negotiation and final confirmation through the driver (rules F3.8–F3.15, F3.23;
//! A7, A9, A12, B6): shortfalls resolved item by item, nothing skipped, replacement chains that
//! survive a restart, the loop bound and one call to action per reply.

mod order_session_support;

use order_session_support::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use souk_processors::order_session::SessionOutput;
use souk_schemas::orders::{IntentLine, ItemDecision};

const RAVI: &str = "919800000002";

/// 20 m blue cotton (fully available) + 10 m green linen (out of stock, two alternatives).
fn cotton_and_oos_linen() -> Vec<IntentLine> {
    let mut linen = line("linen", "green", dec!(10), dec!(0), Some(dec!(200)));
    linen.alternatives = vec![alternative("linen", "white", dec!(50)), alternative("cotton", "green", dec!(30))];
    vec![line("cotton", "blue", dec!(20), dec!(40), Some(dec!(120))), linen]
}

/// 20 m blue cotton (fully available) + 20 m red silk of which 15 m are available.
fn cotton_and_partial_silk() -> Vec<IntentLine> {
    vec![line("cotton", "blue", dec!(20), dec!(40), Some(dec!(120))), line("silk", "red", dec!(20), dec!(15), Some(dec!(300)))]
}

/// A replacement decision for item `index`.
fn replace(index: i32, material: &str, color: &str, available: Decimal) -> ItemDecision {
    let mut d = decide("REPLACE", Some(index));
    let mut r = line(material, color, dec!(0), available, Some(dec!(150)));
    r.requested_meters = None;
    d.replacement = Some(r);
    d
}

/// Every reply the shop sent so far.
fn all_replies(shop: &Shop) -> Vec<souk_schemas::whatsapp::OutboundMessageRequested> {
    shop.log
        .iter()
        .filter_map(|(_, _, e)| match e {
            SessionOutput::OutboundMessageRequested(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn f3_8_confirm_with_an_oos_item_unresolved_stays_in_negotiation() {
    let mut shop = Shop::default();
    let opened = shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", cotton_and_oos_linen(), vec![]));
    assert_eq!(last_state(&opened).as_deref(), Some("CUSTOMER_NEGOTIATION"));
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "CONFIRM", vec![], vec![]));
    assert_eq!(last_state(&out).as_deref(), Some("CUSTOMER_NEGOTIATION"));
    let reply = replies(&out)[0];
    assert_eq!(reply.purpose, "negotiation");
    assert!(reply.text.starts_with("Before I can confirm, please decide on item 2 (green linen)."), "{}", reply.text);
    assert!(reply.text.contains("10 m green linen @ ₹200.00/m - out of stock"), "{}", reply.text);
    assert!(!out.iter().any(|o| matches!(o, SessionOutput::ReserveRequested(_))));
    assert!(all_replies(&shop).iter().all(|r| r.purpose != "summary"), "never a summary listing the OOS item as ordered");
}

#[test]
fn f3_9_alternatives_only_for_out_of_stock_items() {
    let mut shop = Shop::default();
    let mut lines = cotton_and_oos_linen();
    lines.push(line("silk", "red", dec!(20), dec!(15), Some(dec!(300))));
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", lines, vec![]));
    let oos = shop.send(RAVI, says(RAVI, "w2", 2_000, "REQUEST_ALTERNATIVE", vec![], vec![decide("REQUEST_ALTERNATIVE", Some(2))]));
    let reply = replies(&oos)[0];
    assert_eq!(reply.purpose, "alternatives");
    let ids: Vec<_> = reply.buttons.iter().map(|b| b.id.as_str()).collect();
    assert_eq!(ids, ["replace:2:linen|white", "replace:2:cotton|green"], "same material first, as ranked, at most 3");
    let partial = shop.send(RAVI, says(RAVI, "w3", 3_000, "REQUEST_ALTERNATIVE", vec![], vec![decide("REQUEST_ALTERNATIVE", Some(3))]));
    let reply = replies(&partial)[0];
    assert_eq!(reply.purpose, "negotiation");
    assert!(reply.text.starts_with("Alternatives are only offered for items that are out of stock."), "{}", reply.text);
    assert!(reply.buttons.iter().all(|b| !b.id.starts_with("replace:")));
}

#[test]
fn f3_10_partial_accept_keeps_the_demand_and_invoices_the_available_meters() {
    let mut shop = Shop::default();
    shop.stock("silk", "red", 3, dec!(5), Some(dec!(300)));
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", vec![line("silk", "red", dec!(20), dec!(15), Some(dec!(300)))], vec![]));
    let negotiation = replies(&shop.log.iter().map(|(_, _, e)| e.clone()).collect::<Vec<_>>())[0].clone();
    assert_eq!(negotiation.buttons.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["accept_available:1", "cancel_item:1"]);
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "ACCEPT_AVAILABLE", vec![], vec![]));
    let line = &updates(&out)[0].lines[0];
    assert_eq!((line.requested_meters, line.normalized_meters, line.status.as_str()), (dec!(20), dec!(15), "ACCEPTED"));
    assert_eq!(last_state(&out).as_deref(), Some("FINAL_CUSTOMER_CONFIRMATION"));
    shop.send(RAVI, says(RAVI, "w3", 3_000, "CONFIRM", vec![], vec![]));
    let order = shop.order_id(RAVI);
    let approved = shop.send(RAVI, owner(RAVI, "cmd-1", 4_000, &order, "APPROVE"));
    let invoice = approved
        .iter()
        .find_map(|o| match o {
            SessionOutput::InvoiceRequested(i) => Some(i),
            _ => None,
        })
        .expect("an invoice request");
    assert_eq!((invoice.lines[0].meters, invoice.lines[0].amount), (dec!(15), dec!(4500.00)));
    assert_eq!(shop.pool("silk", "red"), (dec!(0), dec!(0), dec!(0)));
}

#[test]
fn f3_11_several_decisions_in_one_message_are_all_applied() {
    let mut shop = Shop::default();
    let mut lines = cotton_and_partial_silk();
    lines[0].available_meters = Some(dec!(12));
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", lines, vec![]));
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "ACCEPT_AVAILABLE", vec![], vec![decide("ACCEPT_AVAILABLE", Some(1)), decide("CANCEL_ITEM", Some(2))]));
    assert_eq!(last_state(&out).as_deref(), Some("FINAL_CUSTOMER_CONFIRMATION"));
    assert_eq!(line_statuses(&shop, RAVI), [("blue cotton".into(), "ACCEPTED".into(), "12".into()), ("red silk".into(), "CANCELLED".into(), "20".into())]);
    let summary = replies(&out)[0];
    assert_eq!(summary.purpose, "summary");
    assert!(summary.text.contains("1. 12 m blue cotton") && !summary.text.contains("silk"), "{}", summary.text);
}

#[rstest::rstest]
#[case::cancel_each_item_in_negotiation(vec![decide("CANCEL_ITEM", Some(1)), decide("CANCEL_ITEM", Some(2))], "CANCEL_ITEM", false)]
#[case::cancel_whole_order_in_negotiation(vec![], "CANCEL_ALL", false)]
#[case::cancel_whole_order_at_final_confirmation(vec![], "CANCEL_ALL", true)]
fn f3_12_all_cancelled_is_terminal_without_financial_events(#[case] decisions: Vec<ItemDecision>, #[case] decision: &str, #[case] at_final: bool) {
    let mut shop = Shop::default();
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", cotton_and_partial_silk(), vec![]));
    if at_final {
        shop.send(RAVI, says(RAVI, "w2", 1_500, "ACCEPT_AVAILABLE", vec![], vec![]));
        assert_eq!(shop.state(RAVI).session.unwrap().state.as_str(), "FINAL_CUSTOMER_CONFIRMATION");
    }
    let out = shop.send(RAVI, says(RAVI, "w3", 2_000, decision, vec![], decisions));
    assert_eq!(last_state(&out).as_deref(), Some("ORDER_CANCELLED"));
    assert_eq!(replies(&out)[0].purpose, "cancelled");
    assert!(shop.state(RAVI).session.is_none());
    assert!(!shop.log.iter().any(|(o, _, _)| *o == "inventory" || *o == "billing"), "no holds, commits or invoices");
}

#[test]
fn f3_13_edit_at_final_confirmation_shortfall_goes_back_otherwise_refreshes_the_summary() {
    let mut shop = Shop::default();
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(40), Some(dec!(120)))], vec![]));
    let mut small = decide("EDIT_ITEM", Some(1));
    small.meters = Some(dec!(30));
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "EDIT", vec![], vec![small]));
    assert_eq!(last_state(&out).as_deref(), Some("FINAL_CUSTOMER_CONFIRMATION"));
    assert!(replies(&out)[0].text.contains("1. 30 m blue cotton @ ₹120.00/m = ₹3600.00"), "{}", replies(&out)[0].text);
    let mut big = decide("EDIT_ITEM", None);
    big.meters = Some(dec!(50));
    let out = shop.send(RAVI, says(RAVI, "w3", 3_000, "EDIT", vec![], vec![big]));
    assert_eq!(last_state(&out).as_deref(), Some("CUSTOMER_NEGOTIATION"));
    assert_eq!(line_statuses(&shop, RAVI), [("blue cotton".into(), "NEGOTIATING".into(), "50".into())]);
    assert!(replies(&out)[0].text.contains("only 40 m of blue cotton is available"), "{}", replies(&out)[0].text);
    let vague = shop.send(RAVI, says(RAVI, "w4", 4_000, "EDIT", vec![], vec![]));
    assert_eq!(replies(&vague)[0].purpose, "ask_edit");
}

#[test]
fn f3_14_add_item_at_final_confirmation_short_goes_to_negotiation() {
    let mut shop = Shop::default();
    shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(40), Some(dec!(120)))], vec![]));
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "ADD", vec![line("silk", "red", dec!(20), dec!(15), Some(dec!(300)))], vec![]));
    let update = updates(&out)[0];
    assert_eq!((update.state.as_str(), update.previous_state.as_deref()), ("CUSTOMER_NEGOTIATION", Some("FINAL_CUSTOMER_CONFIRMATION")));
    assert_eq!(update.lines.len(), 2);
    let reply = replies(&out)[0];
    assert_eq!(reply.buttons.iter().map(|b| b.id.as_str()).collect::<Vec<_>>(), ["accept_available:2", "cancel_item:2"]);
}

#[test]
fn f3_15_replace_chain_keeps_one_active_line_and_survives_a_restart() {
    let mut shop = Shop::default();
    let opened = shop.send(RAVI, says(RAVI, "w1", 1_000, "ORDER", vec![line("linen", "green", dec!(10), dec!(0), Some(dec!(200)))], vec![]));
    assert_eq!(last_state(&opened).as_deref(), Some("CUSTOMER_NEGOTIATION"));
    shop.send(RAVI, says(RAVI, "w2", 2_000, "REQUEST_ALTERNATIVE", vec![], vec![replace(1, "linen", "white", dec!(0))]));
    // A stale tap on the same button again: no duplicate replacement.
    shop.send(RAVI, says(RAVI, "w3", 2_500, "REQUEST_ALTERNATIVE", vec![], vec![replace(1, "linen", "white", dec!(0))]));
    let chain = line_statuses(&shop, RAVI);
    assert_eq!(chain, [("green linen".into(), "REPLACED".into(), "10".into()), ("white linen".into(), "NEGOTIATING".into(), "10".into())]);

    let mut restored = restart(&shop, RAVI);
    let out = apply_restored(&mut restored, 100, RAVI, &says(RAVI, "w4", 3_000, "REQUEST_ALTERNATIVE", vec![], vec![replace(1, "cotton", "green", dec!(30))]));
    let lines = &updates(&out)[0].lines;
    let statuses: Vec<_> = lines.iter().map(|l| (l.color.as_str(), l.material.as_str(), l.status.as_str())).collect();
    assert_eq!(statuses, [("green", "linen", "REPLACED"), ("white", "linen", "REPLACED"), ("green", "cotton", "ACCEPTED")]);
    assert_eq!(lines[0].replaced_by.as_deref(), Some(lines[1].line_id.as_str()));
    assert_eq!(lines[1].replaced_by.as_deref(), Some(lines[2].line_id.as_str()));
    assert_eq!(lines.iter().filter(|l| l.status == "ACCEPTED" || l.status == "NEGOTIATING").count(), 1);
    assert_eq!(lines[2].normalized_meters, dec!(10), "meters carried over from the replaced line");
    assert_eq!(last_state(&out).as_deref(), Some("FINAL_CUSTOMER_CONFIRMATION"));
    assert_eq!(replies(&out)[0].text.lines().filter(|l| l.starts_with("1.")).count(), 1, "one line in the summary");
}

#[test]
fn f3_23_six_negotiation_turns_escalate_once_and_every_reply_has_one_call_to_action() {
    let mut shop = Shop::default();
    shop.send(RAVI, says(RAVI, "w0", 1_000, "ORDER", cotton_and_oos_linen(), vec![]));
    let mut escalated_at = Vec::new();
    for turn in 1..=8 {
        // Turn 3 adds an item without saying how much: the session must ask for the meters, and
        // that question is then the reply's one call to action.
        let message = if turn == 3 {
            let mut silk = line("silk", "red", dec!(0), dec!(15), Some(dec!(300)));
            silk.requested_meters = None;
            says(RAVI, "w3", 1_300, "ADD", vec![silk], vec![])
        } else {
            says(RAVI, &format!("w{turn}"), 1_000 + turn * 100, "GREETING", vec![], vec![])
        };
        let out = shop.send(RAVI, message);
        if !escalations(&out).is_empty() {
            escalated_at.push(turn);
            assert_eq!(escalations(&out)[0].kind, "NEGOTIATION_STALLED");
            assert!(replies(&out)[0].text.ends_with("I've also asked the shop owner to help you finish this order."));
        }
        assert_eq!(replies(&out).len(), 1, "one reply per message");
        if turn == 3 {
            assert!(replies(&out)[0].text.contains("How many meters of red silk do you need?"), "{}", replies(&out)[0].text);
        }
        assert_eq!(cta::assert_at_most_one_call_to_action(replies(&out)[0]), 1, "turn {turn}: a negotiation reply asks exactly one thing: {}", replies(&out)[0].text);
    }
    assert_eq!(escalated_at, [6]);
    assert_eq!(shop.state(RAVI).session.unwrap().negotiation_turns, 8);
    for reply in all_replies(&shop) {
        cta::assert_at_most_one_call_to_action(&reply);
    }
}

#[rstest::rstest]
#[case::below_default_threshold("ORDER", dec!(0.79), None, true)]
#[case::default_threshold_itself_passes("ORDER", dec!(0.80), None, false)]
#[case::unknown_decision("UNKNOWN", dec!(0.99), None, true)]
#[case::below_a_raised_tenant_threshold("ORDER", dec!(0.85), Some(dec!(0.900)), true)]
#[case::raised_tenant_threshold_itself_passes("ORDER", dec!(0.90), Some(dec!(0.900)), false)]
#[case::above_a_lowered_tenant_threshold("ORDER", dec!(0.65), Some(dec!(0.600)), false)]
#[case::unknown_whatever_the_threshold("UNKNOWN", dec!(0.99), Some(dec!(0.100)), true)]
fn b6_low_confidence_asks_once_then_escalates_once(#[case] decision: &str, #[case] confidence: Decimal, #[case] threshold: Option<Decimal>, #[case] unclear: bool) {
    let mut shop = Shop::default();
    shop.send(RAVI, says(RAVI, "w0", 1_000, "ORDER", vec![line("cotton", "blue", dec!(20), dec!(40), Some(dec!(120)))], vec![]));
    let purposes: Vec<(String, usize)> = (1..=3)
        .map(|n| {
            let out = shop.send(RAVI, judged_against(says_with(RAVI, &format!("w{n}"), 2_000 + n, decision, confidence, vec![], vec![]), threshold));
            (replies(&out)[0].purpose.clone(), escalations(&out).len())
        })
        .collect();
    let expected: Vec<(String, usize)> = if unclear { vec![("clarify".into(), 0), ("handover".into(), 1), ("handover".into(), 0)] } else { vec![("summary".into(), 0); 3] };
    assert_eq!(purposes, expected);
    let kinds: Vec<_> = shop
        .log
        .iter()
        .filter_map(|(_, _, e)| match e {
            SessionOutput::EscalationRaised(x) => Some(x.kind.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, if unclear { vec!["LOW_CONFIDENCE".to_string()] } else { vec![] });
}

#[test]
fn messages_without_a_session_get_help_or_a_question_and_open_nothing() {
    let mut shop = Shop::default();
    let greeting = shop.send(RAVI, says(RAVI, "w1", 1_000, "GREETING", vec![], vec![]));
    assert_eq!(kinds(&greeting), ["OutboundMessageRequested"]);
    assert_eq!(replies(&greeting)[0].purpose, "help");
    let mut rolls = line("cotton", "blue", dec!(2), dec!(40), None);
    rolls.requested_meters = None;
    let out = shop.send(RAVI, says(RAVI, "w2", 2_000, "ORDER", vec![rolls], vec![]));
    assert_eq!(replies(&out)[0].text, "How many meters of blue cotton do you need?");
    assert!(shop.state(RAVI).session.is_none());
}
