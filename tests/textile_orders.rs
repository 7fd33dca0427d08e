//! rules F3.2, F3.3, F3.4, F3.6 and F3.7 end to end on the real stack (`souk run` child, recording Cloud API):
//! duplicate webhooks and repeated approve commands (also across a kill -9 restart), double
//! approval, approve/reject outside WAITING_OWNER_CONFIRMATION, the impossibility of a partial
//! deduction when a multi-line order's second line is taken by someone else's hold, and reject.
//! Driven only over HTTP; checked on the read API, the recorded sends and the raw topics.

mod support;

use serde_json::Value;
use souk::demo::meta::CustomerAction;
use souk_schemas::billing::{BillingCommand, LedgerEvent};
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::orders::OrderInput;
use souk_schemas::whatsapp::InboundEvent;
use souk_schemas::StreamEvent;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::textile::json::{d, dec, lines, order_id};
use support::textile::Textile;

fn history_states(detail: &Value) -> Vec<String> {
    detail["history"].as_array().unwrap().iter().filter_map(|h| h["state"].as_str().map(str::to_string)).collect()
}

/// The pool row of (material, color) in `/v1/stock`.
async fn pool(t: &Textile, material: &str, color: &str) -> Value {
    let stock = t.client.get("/v1/stock").await.unwrap();
    stock["pools"].as_array().unwrap().iter().find(|p| p["material"] == material && p["color"] == color).cloned().unwrap_or_else(|| panic!("no pool {material}/{color}: {stock}"))
}

/// Waits until the pool shows `on_hand` and `held` meters.
async fn pool_is(t: &Textile, material: &str, color: &str, on_hand: &str, held: &str) -> Value {
    let result = t
        .client
        .wait(&format!("{color} {material}: on hand {on_hand}, held {held}"), || async {
            let p = pool(t, material, color).await;
            Ok((dec(&p["on_hand_meters"]) == d(on_hand) && dec(&p["held_meters"]) == d(held)).then_some(p))
        })
        .await;
    match result {
        Ok(p) => p,
        Err(e) => panic!("{e:#}\nlast: {}\n{}", pool(t, material, color).await, t.log_tail()),
    }
}

/// Owner command outcome, polled.
async fn outcome(t: &Textile, command_id: &str) -> Value {
    t.client.wait_command(command_id).await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()))
}

fn assert_refused_invalid_state(outcome: &Value) {
    assert_eq!(outcome["accepted"], false, "refused: {outcome}");
    assert_eq!(outcome["code"], "INVALID_STATE", "{outcome}");
}

/// What the raw topics say about one order, counted once per distinct event id (copies re-emitted
/// after a crash count once).
#[derive(Debug, Default, PartialEq, Eq)]
struct Facts {
    reserved: usize,
    reserve_rejected: usize,
    committed: usize,
    released: usize,
    expired: usize,
    invoice_requests: usize,
    ledger_entries: usize,
}

async fn facts(t: &Textile, order_id: &str, customer: &str) -> Facts {
    let mut f = Facts::default();
    let mut seen = BTreeSet::new();
    for r in t.pipeline.read("inventory.events").await {
        let Ok(e) = t.pipeline.codec.decode::<InventoryEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if !seen.insert(e.envelope().event_id.clone()) {
            continue;
        }
        match &e {
            InventoryEvent::Reserved(x) if x.order_id == order_id => f.reserved += 1,
            InventoryEvent::ReserveRejected(x) if x.order_id == order_id => f.reserve_rejected += 1,
            InventoryEvent::Committed(x) if x.order_id == order_id => f.committed += 1,
            InventoryEvent::Released(x) if x.order_id == order_id => f.released += 1,
            InventoryEvent::HoldExpired(x) if x.order_id == order_id => f.expired += 1,
            _ => {}
        }
    }
    for r in t.pipeline.read("billing.commands").await {
        let Ok(e) = t.pipeline.codec.decode::<BillingCommand>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if let BillingCommand::InvoiceRequested(x) = &e {
            if x.order_id == order_id && seen.insert(x.envelope.event_id.clone()) {
                f.invoice_requests += 1;
            }
        }
    }
    for r in t.pipeline.read("ledger.events").await {
        let Ok(e) = t.pipeline.codec.decode::<LedgerEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if let LedgerEvent::LedgerEntryAppended(x) = &e {
            if x.customer == customer && seen.insert(x.entry_id.clone()) {
                f.ledger_entries += 1;
            }
        }
    }
    f
}

/// `IntentResolved` records on `orders.inputs` for the customer message `wamid`: every record, not
/// distinct ids (a copy re-extracted from a redelivery carries the same id, since the id derives
/// from the message's), so this counts extractions.
async fn intents_of(t: &Textile, wamid: &str) -> usize {
    let mut n = 0;
    for r in t.pipeline.read("orders.inputs").await {
        let Ok(e) = t.pipeline.codec.decode::<OrderInput>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if matches!(&e, OrderInput::IntentResolved(x) if x.wamid == wamid) {
            n += 1;
        }
    }
    n
}

/// `InboundMessage` records on `whatsapp.inbound` for `wamid` (each delivery the gateway took).
async fn deliveries_of(t: &Textile, wamid: &str) -> usize {
    let mut n = 0;
    for r in t.pipeline.read("whatsapp.inbound").await {
        let Ok(InboundEvent::InboundMessage(m)) = t.pipeline.codec.decode::<InboundEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        n += usize::from(m.wamid == wamid);
    }
    n
}

/// `GET /v1/ledger/{customer}` status.
async fn ledger_status(t: &Textile, customer: &str) -> (u16, Value) {
    let (status, body) = t.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{customer}"), None).await.unwrap();
    (status.as_u16(), body)
}

/// Posts an approve for `order_id` with `command_id` and returns the gateway's status (a retry with
/// the same command id must be accepted again: it is the same event).
async fn approve_raw(t: &Textile, order_id: &str, command_id: &str) -> u16 {
    let (status, body) = t.client.owner(reqwest::Method::POST, &format!("/v1/orders/{order_id}/approve"), Some(serde_json::json!({ "command_id": command_id, "actor": "owner" }))).await.unwrap();
    assert!(status.is_success(), "approve {command_id}: {status} {body}");
    status.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_02_duplicate_webhook_and_repeated_approve_have_one_effect() {
    const C: &str = "919802020001";
    let mut t = Textile::start("f3-02").await;
    // The same delivery (same wamid, same body) twice, as Meta redelivers.
    let first = t.client.message(C, "wamid.f02.1", CustomerAction::Text("20m blue cotton".into()));
    t.client.deliver(std::slice::from_ref(&first)).await.unwrap();
    t.client.deliver(std::slice::from_ref(&first)).await.unwrap();
    let sent = t.wait_sent(C, 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"]);
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let id = order_id(&detail);
    // Once more after a kill -9 restart (Meta retries deliveries it thinks failed).
    t.restart();
    t.client.deliver(std::slice::from_ref(&first)).await.unwrap();
    // The next message of the same customer is handled after the redelivery (same key, same
    // partition), so its one reply means the redelivery was seen.
    t.press(C, "wamid.f02.2", "confirm", 1).await;
    let waiting = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    assert_eq!(order_id(&waiting), id, "the same order");
    let orders = t.client.get(&format!("/v1/orders?customer={C}")).await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 1, "one order: {orders}");
    let states = history_states(&waiting);
    assert_eq!(states.iter().filter(|s| *s == "FINAL_CUSTOMER_CONFIRMATION").count(), 1, "one transition for the duplicated message: {states:?}");
    assert_eq!(lines(&waiting).len(), 1, "one line: {:?}", lines(&waiting));
    assert_eq!(deliveries_of(&t, "wamid.f02.1").await, 3, "the gateway took all three deliveries");
    assert_eq!(intents_of(&t, "wamid.f02.1").await, 1, "one extraction for the duplicated wamid");
    assert_eq!(t.sends_to(C).len(), 2, "one reply per distinct message: {:?}", t.sent_to(C));

    // Approve, then the same command again while the approval executes, plus a redelivery of the
    // confirm in the middle; and once more after completion.
    assert_eq!(approve_raw(&t, &id, "approve-f02").await, 202);
    assert_eq!(approve_raw(&t, &id, "approve-f02").await, 202);
    t.client.press(C, "wamid.f02.2", "confirm", "confirm").await.unwrap();
    assert_eq!(outcome(&t, "approve-f02").await["accepted"], true);
    t.order_in(C, "ORDER_COMPLETED").await;
    let detail = t.invoiced(&id).await;
    assert_eq!(approve_raw(&t, &id, "approve-f02").await, 202);
    t.wait_sent(C, 3).await;
    t.settle().await;

    let o = outcome(&t, "approve-f02").await;
    assert_eq!(o["accepted"], true, "the repeated command is the same command: its outcome stays accepted: {o}");
    let invoice = &detail["invoice"];
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("2400.00"), Some("120.00"), Some("2520.00")));
    let ledger = t.ledger_outstanding(C, "2520.00").await;
    assert_eq!(ledger["entries"].as_array().unwrap().len(), 1, "one ledger entry: {ledger}");
    let f = facts(&t, &id, C).await;
    assert_eq!((f.committed, f.invoice_requests, f.ledger_entries), (1, 1, 1), "deducted, invoiced and booked once: {f:?}");
    // Stock deducted once: the two 10 m rolls of CB-001, nothing else.
    pool_is(&t, "cotton", "blue", "79", "0").await;
    let stock = t.client.get("/v1/stock").await.unwrap();
    let batch = |b: &str| stock["batches"].as_array().unwrap().iter().find(|x| x["batch_id"] == b).cloned().unwrap();
    assert_eq!((batch("CB-001")["rolls"].as_i64(), batch("CB-002")["rolls"].as_i64()), (Some(0), Some(3)), "{stock}");
    let approvals = t.sent_to(C).iter().filter(|m| m.starts_with("Order approved.")).count();
    assert_eq!(approvals, 1, "{:?}", t.sent_to(C));
    assert_eq!(t.sends_to(C).len(), 3, "summary, sent for approval, approved — nothing for the duplicates: {:?}", t.sent_to(C));
    let ids: BTreeSet<_> = t.sends_to(C).iter().map(|r| r.request_id().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3, "each outbound event sent once");
    let final_detail = t.client.order(&id).await.unwrap();
    assert_eq!(history_states(&final_detail).iter().filter(|s| *s == "ORDER_COMPLETED").count(), 1, "{:?}", history_states(&final_detail));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_03_double_approve_and_approve_after_reject_or_cancel_are_invalid_state() {
    const C: &str = "919803030001";
    const R: &str = "919803030002";
    const X: &str = "919803030003";
    let t = Textile::start("f3-03").await;
    t.say(C, "wamid.f03.c1", "5m red polyester", 1).await;
    t.press(C, "wamid.f03.c2", "confirm", 1).await;
    let id = order_id(&t.order_in(C, "WAITING_OWNER_CONFIRMATION").await);
    // Double click: two commands back to back.
    let first = t.client.approve(&id, "approve-f03-1").await.unwrap();
    let second = t.client.approve(&id, "approve-f03-2").await.unwrap();
    assert_eq!(outcome(&t, &first).await["accepted"], true);
    assert_refused_invalid_state(&outcome(&t, &second).await);
    t.order_in(C, "ORDER_COMPLETED").await;
    let detail = t.invoiced(&id).await;
    assert_eq!(detail["invoice"]["subtotal"], "427.50", "5 × 85.50");
    t.wait_sent(C, 3).await;
    t.settle().await;
    let f = facts(&t, &id, C).await;
    assert_eq!((f.committed, f.invoice_requests, f.ledger_entries), (1, 1, 1), "{f:?}");
    pool_is(&t, "polyester", "red", "31", "0").await;
    assert_eq!(t.sends_to(C).len(), 3, "{:?}", t.sent_to(C));

    // Approve after a reject.
    t.say(R, "wamid.f03.r1", "6m red cotton", 1).await;
    t.press(R, "wamid.f03.r2", "confirm", 1).await;
    let rid = order_id(&t.order_in(R, "WAITING_OWNER_CONFIRMATION").await);
    let rej = t.client.reject(&rid, "reject-f03-r", "no credit").await.unwrap();
    assert_eq!(outcome(&t, &rej).await["accepted"], true);
    t.order_in(R, "ORDER_REJECTED").await;
    let late = t.client.approve(&rid, "approve-f03-r").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &late).await);

    // Approve after the customer cancelled at the summary.
    t.say(X, "wamid.f03.x1", "12m white cotton", 1).await;
    t.press(X, "wamid.f03.x2", "cancel_order", 1).await;
    let xid = order_id(&t.order_in(X, "ORDER_CANCELLED").await);
    let late = t.client.approve(&xid, "approve-f03-x").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &late).await);

    t.settle().await;
    assert_eq!(t.client.order(&rid).await.unwrap()["order"]["state"], "ORDER_REJECTED");
    assert_eq!(t.client.order(&xid).await.unwrap()["order"]["state"], "ORDER_CANCELLED");
    for (oid, who) in [(&rid, R), (&xid, X)] {
        let f = facts(&t, oid, who).await;
        assert_eq!((f.committed, f.invoice_requests, f.ledger_entries), (0, 0, 0), "{who}: {f:?}");
        assert!(t.client.order(oid).await.unwrap()["invoice"].is_null());
        assert_eq!(ledger_status(&t, who).await.0, 404, "no ledger for {who}");
    }
    pool_is(&t, "cotton", "red", "100", "0").await;
    pool_is(&t, "cotton", "white", "72.5", "0").await;
    assert_eq!(t.sends_to(R).len(), 3, "summary, sent for approval, rejected — nothing for the late approve: {:?}", t.sent_to(R));
    assert_eq!(t.sends_to(X).len(), 2, "summary, cancelled: {:?}", t.sent_to(X));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_04_approve_and_reject_outside_waiting_are_invalid_state() {
    const C: &str = "919804040001";
    let t = Textile::start("f3-04").await;
    t.say(C, "wamid.f04.1", "20m blue cotton", 1).await;
    let before = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let id = order_id(&before);
    let a = t.client.approve(&id, "approve-f04-final").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &a).await);
    let r = t.client.reject(&id, "reject-f04-final", "test").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &r).await);
    t.settle().await;
    let after = t.client.order(&id).await.unwrap();
    assert_eq!(after["order"]["state"], "FINAL_CUSTOMER_CONFIRMATION");
    assert_eq!(after["order"]["last_event_id"], before["order"]["last_event_id"], "no order update at all");
    assert_eq!(lines(&after), lines(&before));

    // Into negotiation (an out-of-stock item added at the summary).
    t.say(C, "wamid.f04.2", "add 10m green silk", 1).await;
    let before = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&before), id);
    let a = t.client.approve(&id, "approve-f04-neg").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &a).await);
    let r = t.client.reject(&id, "reject-f04-neg", "test").await.unwrap();
    assert_refused_invalid_state(&outcome(&t, &r).await);
    t.settle().await;
    let after = t.client.order(&id).await.unwrap();
    assert_eq!(after["order"]["state"], "CUSTOMER_NEGOTIATION");
    assert_eq!(after["order"]["last_event_id"], before["order"]["last_event_id"], "no order update at all");
    assert_eq!(lines(&after), lines(&before));
    let f = facts(&t, &id, C).await;
    assert_eq!(f, Facts::default(), "no hold, deduction, invoice or ledger effect: {f:?}");
    assert!(after["invoice"].is_null());
    assert_eq!(t.sends_to(C).len(), 2, "the refused commands send nothing to the customer: {:?}", t.sent_to(C));
    pool_is(&t, "cotton", "blue", "99", "0").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_06_second_line_taken_by_another_hold_no_partial_deduction() {
    const X: &str = "919806060001";
    const Y: &str = "919806060002";
    let t = Textile::start("f3-06").await;
    let sent = t.say(X, "wamid.f06.x1", "10m red cotton and 40m white linen", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"], "both lines available: {:?}", sent[0].text());
    let id = order_id(&t.order_in(X, "FINAL_CUSTOMER_CONFIRMATION").await);
    // Someone else holds 40 of the 50 m of white linen before X confirms.
    t.say(Y, "wamid.f06.y1", "40m white linen", 1).await;
    t.press(Y, "wamid.f06.y2", "confirm", 1).await;
    t.order_in(Y, "WAITING_OWNER_CONFIRMATION").await;
    pool_is(&t, "linen", "white", "50", "40").await;

    // Watch the stock while X confirms: on hand never moves.
    let watcher = souk::demo::client::SoukClient::new(t.client.base(), t.client.tenant.clone(), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::SeqCst) {
                if let Ok(stock) = watcher.get("/v1/stock").await {
                    for p in stock["pools"].as_array().cloned().unwrap_or_default() {
                        if (p["material"] == "cotton" && p["color"] == "red") || (p["material"] == "linen" && p["color"] == "white") {
                            samples.push((format!("{}/{}", p["material"].as_str().unwrap(), p["color"].as_str().unwrap()), dec(&p["on_hand_meters"])));
                        }
                    }
                    for b in stock["batches"].as_array().cloned().unwrap_or_default() {
                        assert!(!b["rolls"].as_i64().unwrap().is_negative() && !b["loose_meters"].as_str().unwrap().starts_with('-'), "never negative: {b}");
                    }
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let sent = t.press(X, "wamid.f06.x2", "confirm", 1).await;
    let reply = sent.last().unwrap();
    let text = reply.text().unwrap_or_default();
    assert!(text.contains("sold out"), "the reply says the stock went: {text:?}");
    assert!(text.contains("only 10 m"), "with the fresh availability: {text:?}");
    assert_eq!(reply.button_ids(), vec!["accept_available:2", "cancel_item:2"], "{text:?}");
    let detail = t.order_in(X, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&detail), id);
    let ls = lines(&detail);
    assert_eq!(ls.len(), 2, "{ls:?}");
    assert_eq!((ls[0]["material"].as_str(), ls[0]["hold_status"].as_str()), (Some("cotton"), Some("RELEASED")), "the first line's hold is given back: {ls:#?}");
    assert_eq!((ls[1]["material"].as_str(), ls[1]["hold_status"].as_str(), ls[1]["status"].as_str()), (Some("linen"), Some("REJECTED"), Some("NEGOTIATING")), "{ls:#?}");
    assert_eq!((ls[1]["inventory_status"].as_str(), dec(&ls[1]["available_meters"])), (Some("PARTIAL_AVAILABLE"), d("10")));
    pool_is(&t, "cotton", "red", "100", "0").await;
    pool_is(&t, "linen", "white", "50", "40").await;
    t.settle().await;
    stop.store(true, Ordering::SeqCst);
    let samples = sampler.await.unwrap();
    assert!(!samples.is_empty());
    for (pool, on_hand) in &samples {
        let want = if pool == "cotton/red" { d("100") } else { d("50") };
        assert_eq!(*on_hand, want, "{pool}: the projections never show a deduction: {samples:?}");
    }
    let f = facts(&t, &id, X).await;
    assert_eq!((f.reserved, f.reserve_rejected, f.released, f.committed, f.invoice_requests, f.ledger_entries), (1, 1, 1, 0, 0, 0), "{f:?}");
    assert!(t.client.order(&id).await.unwrap()["invoice"].is_null());
    assert_eq!(ledger_status(&t, X).await.0, 404);
    let states = history_states(&t.client.order(&id).await.unwrap());
    assert!(!states.iter().any(|s| s == "WAITING_OWNER_CONFIRMATION"), "never waited for the owner: {states:?}");
    assert_eq!(t.sends_to(X).len(), 2, "{:?}", t.sent_to(X));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_07_reject_notifies_and_has_no_inventory_or_money_effect() {
    const C: &str = "919807070001";
    let t = Textile::start("f3-07").await;
    t.say(C, "wamid.f07.1", "5m red polyester", 1).await;
    t.press(C, "wamid.f07.2", "confirm", 1).await;
    let waiting = t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    let id = order_id(&waiting);
    assert_eq!(lines(&waiting)[0]["hold_status"], "HELD");
    pool_is(&t, "polyester", "red", "36", "5").await;

    let cmd = t.client.reject(&id, "reject-f07", "customer owes too much").await.unwrap();
    let o = outcome(&t, &cmd).await;
    assert_eq!((o["accepted"].as_bool(), o["command"].as_str()), (Some(true), Some("REJECT")), "{o}");
    let sent = t.wait_sent(C, 3).await;
    let text = sent[2].text().unwrap_or_default();
    assert!(text.contains("could not accept your order") && text.contains("customer owes too much"), "the customer is told, with the reason: {text:?}");
    assert!(sent[2].button_ids().is_empty());
    let detail = t.order_in(C, "ORDER_REJECTED").await;
    assert_eq!(order_id(&detail), id);
    assert_eq!(lines(&detail)[0]["hold_status"], "RELEASED", "{:?}", lines(&detail));
    pool_is(&t, "polyester", "red", "36", "0").await;
    t.settle().await;
    let f = facts(&t, &id, C).await;
    assert_eq!((f.reserved, f.released, f.committed, f.invoice_requests, f.ledger_entries), (1, 1, 0, 0, 0), "{f:?}");
    assert!(t.client.order(&id).await.unwrap()["invoice"].is_null());
    assert_eq!(ledger_status(&t, C).await.0, 404, "no ledger");
    let stock = t.client.get("/v1/stock").await.unwrap();
    let pr = stock["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == "PR-001").cloned().unwrap();
    assert_eq!((pr["rolls"].as_i64(), dec(&pr["loose_meters"])), (Some(1), d("6")), "no roll cut: {pr}");
    let pending = t.client.get("/v1/orders/pending-approval").await.unwrap();
    assert!(pending["orders"].as_array().unwrap().iter().all(|o| o["order_id"] != id.as_str()), "{pending}");
    assert_eq!(t.sends_to(C).len(), 3, "{:?}", t.sent_to(C));
}
