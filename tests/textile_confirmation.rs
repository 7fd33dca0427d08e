//! rules F3.13–F3.17 end to end on the real stack (`souk run` child, recording Cloud API): edits and
//! additions at the final summary, a line replaced three times across kill -9 restarts, a restart in
//! the middle of a negotiation, and the session lookup (one active session per phone, a new session
//! after a terminal state, a status reply while the owner decides).

mod support;

use rust_decimal::Decimal;
use serde_json::Value;
use std::collections::BTreeSet;
use support::textile::json::{dec, lines, order_id};
use support::textile::Textile;

fn active(lines: &[Value]) -> Vec<&Value> {
    lines.iter().filter(|l| l["status"] == "ACCEPTED" || l["status"] == "NEGOTIATING").collect()
}

/// Polls the order until `probe` holds for its detail; returns the detail.
async fn order_where(t: &Textile, order_id: &str, what: &str, probe: impl Fn(&Value) -> bool) -> Value {
    let result = t.client.wait(what, || async { Ok(Some(t.client.order(order_id).await?).filter(|d| probe(d))) }).await;
    match result {
        Ok(detail) => detail,
        Err(e) => panic!("{e:#}\nlast: {:#}\n{}", t.client.order(order_id).await.unwrap_or_default(), t.log_tail()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_13_edit_at_summary_refreshes_or_falls_back_to_negotiation() {
    const C: &str = "919813130001";
    let t = Textile::start("f3-13").await;
    let sent = t.say(C, "wamid.f13.1", "20m blue cotton", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"]);
    let id = order_id(&t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await);

    // An edit the stock covers (99 m of blue cotton): still the summary, refreshed to 30 m.
    let sent = t.say(C, "wamid.f13.2", "make the blue cotton 30m", 1).await;
    let summary = sent.last().unwrap();
    let text = summary.text().unwrap_or_default();
    assert!(text.contains("30 m blue cotton") && text.contains("₹3600.00"), "refreshed summary with the new meters: {text:?}");
    assert!(!text.contains("20 m blue cotton"), "the old meters are gone from the summary: {text:?}");
    assert_eq!(summary.button_ids(), vec!["confirm", "edit", "cancel_order"], "still the summary's one call to action");
    let detail = order_where(&t, &id, "the edit to 30 m", |d| lines(d).first().is_some_and(|l| dec(&l["normalized_meters"]) == Decimal::from(30))).await;
    assert_eq!(detail["order"]["state"], "FINAL_CUSTOMER_CONFIRMATION", "an edit without shortfall stays at the summary");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 1, "the edit changed the line, it did not add one: {ls:?}");
    assert_eq!((ls[0]["status"].as_str(), ls[0]["inventory_status"].as_str()), (Some("ACCEPTED"), Some("FULL_AVAILABLE")));
    assert_eq!(dec(&ls[0]["requested_meters"]), Decimal::from(30));
    assert_eq!(dec(&detail["order"]["subtotal"]), Decimal::new(360000, 2));

    // An edit beyond the stock: back to negotiation about the shortfall, same order.
    let sent = t.say(C, "wamid.f13.3", "make the blue cotton 200m", 1).await;
    let reply = sent.last().unwrap();
    assert_eq!(reply.button_ids(), vec!["accept_available:1", "cancel_item:1"], "negotiation about item 1: {:?}", reply.text());
    assert!(reply.text().unwrap_or_default().contains("only 99 m"), "{:?}", reply.text());
    let detail = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&detail), id, "the same order");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 1, "{ls:?}");
    assert_eq!((ls[0]["status"].as_str(), ls[0]["inventory_status"].as_str()), (Some("NEGOTIATING"), Some("PARTIAL_AVAILABLE")));
    assert_eq!((dec(&ls[0]["requested_meters"]), dec(&ls[0]["available_meters"])), (Decimal::from(200), Decimal::from(99)));
    let states: Vec<String> = detail["history"].as_array().unwrap().iter().filter_map(|h| h["state"].as_str().map(str::to_string)).collect();
    assert!(!states.iter().any(|s| s == "WAITING_OWNER_CONFIRMATION" || s == "RESERVING"), "nothing was reserved: {states:?}");
    t.settle().await;
    assert_eq!(t.sends_to(C).len(), 3, "one reply per message: {:?}", t.sent_to(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_14_add_item_at_summary_is_checked_and_short_goes_to_negotiation() {
    const C: &str = "919814140001";
    let t = Textile::start("f3-14").await;
    t.say(C, "wamid.f14.1", "20m blue cotton", 1).await;
    let id = order_id(&t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await);

    let sent = t.say(C, "wamid.f14.2", "add 10m green silk", 1).await;
    let reply = sent.last().unwrap();
    assert_eq!(reply.button_ids(), vec!["alternatives:2", "cancel_item:2"], "negotiation about the added, out-of-stock item 2: {:?}", reply.text());
    let detail = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&detail), id, "added to the same order");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 2, "{ls:?}");
    assert_eq!((ls[0]["material"].as_str(), ls[0]["color"].as_str(), ls[0]["status"].as_str()), (Some("cotton"), Some("blue"), Some("ACCEPTED")));
    let added = &ls[1];
    assert_eq!((added["material"].as_str(), added["color"].as_str()), (Some("silk"), Some("green")), "extracted: {added}");
    assert_eq!(dec(&added["requested_meters"]), Decimal::from(10));
    assert_eq!((added["status"].as_str(), added["inventory_status"].as_str()), (Some("NEGOTIATING"), Some("OUT_OF_STOCK")), "checked against stock: {added}");
    assert_eq!(dec(&added["available_meters"]), Decimal::ZERO);
    let alternatives = added["alternatives"].as_array().cloned().unwrap_or_default();
    assert!(!alternatives.is_empty() && alternatives.len() <= 3, "≤ 3 alternatives for the out-of-stock line: {alternatives:?}");

    // Removing the added item brings the summary back, without the green silk.
    let sent = t.press(C, "wamid.f14.3", "cancel_item:2", 1).await;
    let summary = sent.last().unwrap();
    assert_eq!(summary.button_ids(), vec!["confirm", "edit", "cancel_order"]);
    assert!(!summary.text().unwrap_or_default().contains("green silk"), "{:?}", summary.text());
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    assert_eq!(order_id(&detail), id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_15_replace_three_times_across_restarts_keeps_one_chain() {
    const C: &str = "919815150001";
    let mut t = Textile::start("f3-15").await;
    let sent = t.say(C, "wamid.f15.1", "10m green silk", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["alternatives:1", "cancel_item:1"]);
    let id = order_id(&t.order_in(C, "CUSTOMER_NEGOTIATION").await);

    // green silk → blue polyester (also out of stock) → green silk → white silk (in stock).
    let steps = [("wamid.f15.2", "replace:1:polyester|blue", "polyester", "blue"), ("wamid.f15.3", "replace:1:silk|green", "silk", "green"), ("wamid.f15.4", "replace:1:silk|white", "silk", "white")];
    for (n, (wamid, button, material, color)) in steps.iter().enumerate() {
        t.press(C, wamid, button, 1).await;
        let detail = order_where(&t, &id, &format!("replacement {} ({color} {material})", n + 1), |d| lines(d).len() == n + 2).await;
        let ls = lines(&detail);
        let last = ls.last().unwrap();
        assert_eq!((last["material"].as_str(), last["color"].as_str()), (Some(*material), Some(*color)), "{ls:?}");
        assert_eq!(dec(&last["normalized_meters"]), Decimal::from(10), "the replacement keeps the meters");
        assert_eq!(active(&ls).len(), 1, "exactly one active line after replacement {}: {ls:?}", n + 1);
        // kill -9 and restart between the replacements.
        if n + 1 < steps.len() {
            t.restart();
        }
    }
    // A redelivery of an earlier replacement after the restarts changes nothing (no duplicates);
    // the confirm after it is handled after it (same customer key, same partition), so once the
    // confirm is answered the redelivery has been seen.
    t.client.press(C, "wamid.f15.3", "replace:1:silk|green", "replace:1:silk|green").await.unwrap();
    t.press(C, "wamid.f15.5", "confirm", 1).await;
    let detail = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    assert_eq!(order_id(&detail), id, "still the same order");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 4, "original + 3 replacements, no duplicates: {ls:#?}");
    let ids: BTreeSet<&str> = ls.iter().map(|l| l["line_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "distinct line ids");
    let want = [("silk", "green"), ("polyester", "blue"), ("silk", "green"), ("silk", "white")];
    for (i, l) in ls.iter().enumerate() {
        assert_eq!((l["material"].as_str().unwrap(), l["color"].as_str().unwrap()), want[i], "line {i}: {l}");
        if i < 3 {
            assert_eq!(l["status"], "REPLACED", "line {i}: {l}");
            assert_eq!(l["replaced_by"], ls[i + 1]["line_id"], "line {i} links to the next one");
        } else {
            assert_eq!(l["status"], "ACCEPTED", "the last line is the active one: {l}");
            assert!(l["replaced_by"].is_null(), "{l}");
        }
    }
    assert_eq!(active(&ls).len(), 1);
    // The chain works after the restarts: the confirm held only the last line.
    let held: Vec<_> = ls.iter().filter(|l| l["hold_status"] == "HELD").collect();
    assert_eq!(held.len(), 1, "{ls:#?}");
    assert_eq!(held[0]["line_id"], ls[3]["line_id"]);
    t.settle().await;
    let ids: BTreeSet<String> = t.sends_to(C).iter().map(|r| r.request_id().unwrap().to_string()).collect();
    assert_eq!(ids.len(), t.sends_to(C).len(), "no reply sent twice across the restarts: {:?}", t.sent_to(C));
    assert_eq!(t.sends_to(C).len(), 5, "one reply per message, none for the redelivery: {:?}", t.sent_to(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_16_restart_mid_negotiation_continues_the_same_order() {
    const C: &str = "919816160001";
    let mut t = Textile::start("f3-16").await;
    let sent = t.say(C, "wamid.f16.1", "20m red silk and 10m green silk", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["accept_available:1", "cancel_item:1"]);
    let id = order_id(&t.order_in(C, "CUSTOMER_NEGOTIATION").await);

    t.restart();
    let sent = t.press(C, "wamid.f16.2", "accept_available:1", 1).await;
    assert_eq!(sent.last().unwrap().button_ids(), vec!["alternatives:2", "cancel_item:2"], "the session continued: {:?}", sent.last().unwrap().text());
    // The state stays CUSTOMER_NEGOTIATION, so wait for the projection to show the accepted line
    // (the reply and the order projection are written by different sinks).
    let detail = order_where(&t, &id, "line 1 accepted at 15 m", |d| lines(d).first().is_some_and(|l| l["status"] == "ACCEPTED")).await;
    assert_eq!(detail["order"]["state"].as_str(), Some("CUSTOMER_NEGOTIATION"), "still negotiating item 2");
    assert_eq!(order_id(&t.order_in(C, "CUSTOMER_NEGOTIATION").await), id, "the next message after the restart continues the same order");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 2, "{ls:?}");
    assert_eq!((ls[0]["status"].as_str(), dec(&ls[0]["normalized_meters"]), dec(&ls[0]["requested_meters"])), (Some("ACCEPTED"), Decimal::from(15), Decimal::from(20)));

    t.press(C, "wamid.f16.3", "cancel_item:2", 1).await;
    t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    t.press(C, "wamid.f16.4", "confirm", 1).await;
    let detail = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    assert_eq!(order_id(&detail), id);

    // Restart again while the owner decides: approval still works (rules BUG-4).
    t.restart();
    let cmd = t.client.approve(&id, "approve-f16").await.unwrap();
    let outcome = t.client.wait_command(&cmd).await.unwrap();
    assert_eq!(outcome["accepted"], true, "{outcome}");
    t.order_in(C, "ORDER_COMPLETED").await;
    let invoice = t.invoiced(&id).await["invoice"].clone();
    // 15 m × ₹450.00 = 6750.00; GST 5 % = 337.50; total 7087.50.
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("6750.00"), Some("337.50"), Some("7087.50")));
    let orders = t.client.get(&format!("/v1/orders?customer={C}")).await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1, "one order for the whole conversation: {orders}");
    t.wait_sent(C, 5).await;
    t.settle().await;
    assert_eq!(t.sends_to(C).len(), 5, "{:?}", t.sent_to(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_17_session_lookup_new_order_after_completion_status_reply_while_waiting() {
    const C: &str = "919817170001";
    let t = Textile::start("f3-17").await;
    t.say(C, "wamid.f17.1", "5m red polyester", 1).await;
    t.press(C, "wamid.f17.2", "confirm", 1).await;
    let first = order_id(&t.order_in(C, "WAITING_OWNER_CONFIRMATION").await);
    let cmd = t.client.approve(&first, "approve-f17-1").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    t.wait_sent(C, 3).await;
    t.order_in(C, "ORDER_COMPLETED").await;

    // A new message after the completed order opens a new session.
    t.say(C, "wamid.f17.3", "6m red cotton", 1).await;
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let second = order_id(&detail);
    assert_ne!(second, first, "a terminal order is never reused");
    assert_eq!(t.client.order(&first).await.unwrap()["order"]["state"], "ORDER_COMPLETED", "the old order is untouched");
    let ls = lines(&detail);
    assert_eq!(ls.len(), 1, "the new order has only the new line: {ls:?}");
    assert_eq!((ls[0]["material"].as_str(), ls[0]["color"].as_str()), (Some("cotton"), Some("red")));

    // While the owner decides, a message gets a status reply and changes nothing.
    t.press(C, "wamid.f17.4", "confirm", 1).await;
    let waiting = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    assert_eq!(order_id(&waiting), second);
    let sent = t.say(C, "wamid.f17.5", "add 5m red silk", 1).await;
    let reply = sent.last().unwrap();
    assert!(reply.text().unwrap_or_default().contains("waiting for the owner"), "a status reply: {:?}", reply.text());
    assert!(reply.button_ids().is_empty(), "nothing to choose while waiting");
    let sent = t.say(C, "wamid.f17.6", "make the cotton 50m", 1).await;
    assert!(sent.last().unwrap().text().unwrap_or_default().contains("waiting for the owner"));
    t.settle().await;
    let after = t.client.order(&second).await.unwrap();
    assert_eq!(after["order"]["state"], "WAITING_OWNER_CONFIRMATION");
    assert_eq!(lines(&after), lines(&waiting), "no line changed");
    assert_eq!(after["order"]["last_event_id"], waiting["order"]["last_event_id"], "no order update at all");
    let orders = t.client.get(&format!("/v1/orders?customer={C}")).await.unwrap();
    let orders = orders["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "{orders:?}");
    let open: Vec<_> = orders.iter().filter(|o| !["ORDER_COMPLETED", "ORDER_REJECTED", "ORDER_CANCELLED"].contains(&o["state"].as_str().unwrap())).collect();
    assert_eq!(open.len(), 1, "one active session per phone: {orders:?}");
    assert_eq!(t.sends_to(C).len(), 7, "{:?}", t.sent_to(C));
}
