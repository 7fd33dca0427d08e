//! rules F3.8–F3.12 end to end on the real stack (`souk run` child, recording Cloud API): an
//! out-of-stock line cannot be skipped by confirming (rules BUG-1), alternatives (A9), accepting a partial
//! quantity, mixed decisions in one message, and cancelling everything (in negotiation and at the
//! summary). Driven only over HTTP; checked on the read API, the recorded sends and raw topics.

mod support;

use rust_decimal::Decimal;
use souk::demo::client::BatchSpec;
use souk_schemas::billing::{BillingCommand, LedgerEvent};
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::StreamEvent;
use std::collections::BTreeSet;
use support::textile::json::{d, dec, lines, order_id};
use support::textile::Textile;

fn is_summary(r: &souk_sinks::whatsapp::RecordedRequest) -> bool {
    r.button_ids() == vec!["confirm", "edit", "cancel_order"]
}

/// Hold, deduction and money events of one order (and the customer's ledger), distinct by id.
async fn effects(t: &Textile, order_id: &str, customer: &str) -> (usize, usize, usize, usize) {
    let (mut reserved, mut committed, mut invoices, mut ledger) = (0, 0, 0, 0);
    let mut seen = BTreeSet::new();
    for r in t.pipeline.read("inventory.events").await {
        let Ok(e) = t.pipeline.codec.decode::<InventoryEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if !seen.insert(e.envelope().event_id.clone()) {
            continue;
        }
        match &e {
            InventoryEvent::Reserved(x) if x.order_id == order_id => reserved += 1,
            InventoryEvent::Committed(x) if x.order_id == order_id => committed += 1,
            _ => {}
        }
    }
    for r in t.pipeline.read("billing.commands").await {
        if let Ok(BillingCommand::InvoiceRequested(x)) = t.pipeline.codec.decode::<BillingCommand>(r.payload.as_deref().unwrap_or_default()).await {
            if x.order_id == order_id && seen.insert(x.envelope.event_id.clone()) {
                invoices += 1;
            }
        }
    }
    for r in t.pipeline.read("ledger.events").await {
        if let Ok(LedgerEvent::LedgerEntryAppended(x)) = t.pipeline.codec.decode::<LedgerEvent>(r.payload.as_deref().unwrap_or_default()).await {
            if x.customer == customer && seen.insert(x.entry_id.clone()) {
                ledger += 1;
            }
        }
    }
    (reserved, committed, invoices, ledger)
}

/// On-hand meters of every pool, by `material/color`.
async fn on_hand(t: &Textile) -> Vec<(String, Decimal)> {
    let stock = t.client.get("/v1/stock").await.unwrap();
    let mut pools: Vec<(String, Decimal)> =
        stock["pools"].as_array().unwrap().iter().map(|p| (format!("{}/{}", p["material"].as_str().unwrap(), p["color"].as_str().unwrap()), dec(&p["on_hand_meters"]))).collect();
    pools.sort();
    pools
}

async fn ledger_status(t: &Textile, customer: &str) -> u16 {
    t.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{customer}"), None).await.unwrap().0.as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_08_out_of_stock_line_cannot_be_skipped_by_confirming() {
    const C: &str = "919808080001";
    let t = Textile::start("f3-08").await;
    let sent = t.say(C, "wamid.f08.1", "10m blue cotton and 10m green silk", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["alternatives:2", "cancel_item:2"], "negotiation about the out-of-stock item 2: {:?}", sent[0].text());
    let before = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    let id = order_id(&before);
    let ls = lines(&before);
    assert_eq!((ls[0]["status"].as_str(), ls[0]["inventory_status"].as_str()), (Some("ACCEPTED"), Some("FULL_AVAILABLE")));
    assert_eq!((ls[1]["status"].as_str(), ls[1]["inventory_status"].as_str()), (Some("NEGOTIATING"), Some("OUT_OF_STOCK")));

    let sent = t.say(C, "wamid.f08.2", "ok confirm", 1).await;
    let reply = sent.last().unwrap();
    let text = reply.text().unwrap_or_default();
    assert!(text.contains("Before I can confirm") && text.contains("green silk"), "the open item is named: {text:?}");
    assert!(!is_summary(reply), "no summary while item 2 is open: {text:?}");
    // The Confirm button id too (a stale summary button) does not skip it.
    let sent = t.press(C, "wamid.f08.3", "confirm", 1).await;
    assert!(!is_summary(sent.last().unwrap()), "{:?}", sent.last().unwrap().text());
    t.settle().await;
    let after = t.client.order(&id).await.unwrap();
    assert_eq!(after["order"]["state"], "CUSTOMER_NEGOTIATION", "stays in negotiation");
    let ls = lines(&after);
    assert_eq!((ls[1]["status"].as_str(), ls[1]["inventory_status"].as_str()), (Some("NEGOTIATING"), Some("OUT_OF_STOCK")), "the OOS line is still open: {ls:?}");
    let states: Vec<String> = after["history"].as_array().unwrap().iter().filter_map(|h| h["state"].as_str().map(str::to_string)).collect();
    assert!(!states.iter().any(|s| s == "FINAL_CUSTOMER_CONFIRMATION" || s == "RESERVING" || s == "WAITING_OWNER_CONFIRMATION"), "{states:?}");
    assert_eq!(effects(&t, &id, C).await, (0, 0, 0, 0), "nothing reserved");
    assert!(t.sends_to(C).iter().all(|r| !is_summary(r)), "no summary yet: {:?}", t.sent_to(C));

    // Resolving it (remove) gives the summary, which never lists the green silk as ordered.
    let sent = t.press(C, "wamid.f08.4", "cancel_item:2", 1).await;
    let summary = sent.last().unwrap();
    assert!(is_summary(summary), "{:?}", summary.text());
    let text = summary.text().unwrap_or_default();
    assert!(text.contains("10 m blue cotton") && !text.contains("green silk"), "{text:?}");
    t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    for r in t.sends_to(C).iter().filter(|r| is_summary(r)) {
        assert!(!r.text().unwrap_or_default().contains("green silk"), "a summary listed the OOS line: {:?}", r.text());
    }
    assert_eq!(t.sends_to(C).len(), 4, "{:?}", t.sent_to(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_09_alternatives_at_most_three_same_material_first_none_for_partial() {
    const C: &str = "919809090001";
    let t = Textile::start("f3-09").await;
    // Two more pools so both A9 groups and the cap of 3 matter: white polyester (50 m, more than the
    // red polyester's 36) and blue silk (120 m, more than the blue cotton's 99).
    t.client.catalog("polyester", "white", "80.00", &["poly"]).await.unwrap();
    t.client.catalog("silk", "blue", "440.00", &["resham"]).await.unwrap();
    t.client
        .stock_in(&BatchSpec { batch_id: "PW-001", material: "polyester", color: "white", rolls: 1, meters_per_roll: "50.000", loose_meters: "0.000", received_at: "2026-02-07T09:00:00Z" })
        .await
        .unwrap();
    t.client
        .stock_in(&BatchSpec { batch_id: "SB-001", material: "silk", color: "blue", rolls: 2, meters_per_roll: "60.000", loose_meters: "0.000", received_at: "2026-02-08T09:00:00Z" })
        .await
        .unwrap();
    t.client
        .wait("the new pools in stock", || async {
            let stock = t.client.get("/v1/stock").await?;
            let has = |m: &str, c: &str, avail: &str| {
                stock["pools"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|p| p["material"] == m && p["color"] == c && p["available_meters"].as_str().and_then(|a| a.parse::<Decimal>().ok()) == Some(d(avail)) && !p["price_per_meter"].is_null())
            };
            Ok((has("polyester", "white", "50") && has("silk", "blue", "120")).then_some(()))
        })
        .await
        .unwrap();

    let sent = t.say(C, "wamid.f09.1", "20m red silk and 10m blue polyester", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["accept_available:1", "cancel_item:1"], "a partial line gets no alternatives button: {:?}", sent[0].text());
    let detail = t.order_in(C, "CUSTOMER_NEGOTIATION").await;
    let ls = lines(&detail);
    assert_eq!(ls[0]["inventory_status"], "PARTIAL_AVAILABLE");
    assert_eq!(ls[0]["alternatives"].as_array().map(Vec::len).unwrap_or(0), 0, "none for a PARTIAL line: {}", ls[0]);
    assert_eq!(ls[1]["inventory_status"], "OUT_OF_STOCK");
    let alts: Vec<(String, String)> = ls[1]["alternatives"].as_array().unwrap().iter().map(|a| (a["material"].as_str().unwrap().to_string(), a["color"].as_str().unwrap().to_string())).collect();
    let want = [("polyester", "white"), ("polyester", "red"), ("silk", "blue")].map(|(m, c)| (m.to_string(), c.to_string())).to_vec();
    assert_eq!(alts, want, "same material other colors by availability, then same color other materials; at most 3");

    let sent = t.press(C, "wamid.f09.2", "accept_available:1", 1).await;
    assert_eq!(sent.last().unwrap().button_ids(), vec!["alternatives:2", "cancel_item:2"], "{:?}", sent.last().unwrap().text());
    let sent = t.press(C, "wamid.f09.3", "alternatives:2", 1).await;
    let reply = sent.last().unwrap();
    assert_eq!(reply.button_ids(), vec!["replace:2:polyester|white", "replace:2:polyester|red", "replace:2:silk|blue"], "{:?}", reply.text());
    assert!(!reply.text().unwrap_or_default().contains("blue cotton"), "the 4th candidate is not offered: {:?}", reply.text());
    // Every reply had at most 3 buttons, and no alternatives were ever offered for the silk.
    for r in t.sends_to(C) {
        assert!(r.button_ids().len() <= 3, "{:?}", r.button_ids());
        assert!(!r.button_ids().iter().any(|b| b.starts_with("alternatives:1") || b.starts_with("replace:1:")), "{:?}", r.button_ids());
    }
    assert_eq!(t.sends_to(C).len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_10_partial_accept_invoices_the_available_meters() {
    const C: &str = "919810100001";
    let t = Textile::start("f3-10").await;
    let sent = t.say(C, "wamid.f10.1", "20m red silk", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["accept_available:1", "cancel_item:1"]);
    assert!(sent[0].text().unwrap_or_default().contains("only 15 m"), "{:?}", sent[0].text());
    let sent = t.press(C, "wamid.f10.2", "accept_available:1", 1).await;
    let summary = sent.last().unwrap();
    assert!(is_summary(summary), "{:?}", summary.text());
    assert!(summary.text().unwrap_or_default().contains("15 m red silk"), "{:?}", summary.text());
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    let id = order_id(&detail);
    let l = &lines(&detail)[0];
    assert_eq!((dec(&l["normalized_meters"]), dec(&l["requested_meters"]), l["status"].as_str()), (d("15"), d("20"), Some("ACCEPTED")), "{l}");

    t.press(C, "wamid.f10.3", "confirm", 1).await;
    t.order_in(C, "WAITING_OWNER_CONFIRMATION").await;
    let cmd = t.client.approve(&id, "approve-f10").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    t.order_in(C, "ORDER_COMPLETED").await;
    let invoice = t.invoiced(&id).await["invoice"].clone();
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("6750.00"), Some("337.50"), Some("7087.50")), "{invoice}");
    let inv_lines = invoice["lines"].as_array().unwrap();
    assert_eq!(inv_lines.len(), 1, "{invoice}");
    assert_eq!(dec(&inv_lines[0]["meters"]), d("15"), "the invoice uses 15 m: {invoice}");
    t.ledger_outstanding(C, "7087.50").await;
    let after = t.client.order(&id).await.unwrap();
    let l = &lines(&after)[0];
    assert_eq!((dec(&l["normalized_meters"]), dec(&l["requested_meters"])), (d("15"), d("20")));
    let stock = t.client.get("/v1/stock").await.unwrap();
    let sr = stock["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == "SR-001").cloned().unwrap();
    assert_eq!(dec(&sr["loose_meters"]), Decimal::ZERO, "15 m deducted: {sr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_11_mixed_decisions_in_one_message() {
    const C: &str = "919811110011";
    let t = Textile::start("f3-11").await;
    t.say(C, "wamid.f11.1", "20m red silk and 10m green silk", 1).await;
    let id = order_id(&t.order_in(C, "CUSTOMER_NEGOTIATION").await);
    let sent = t.say(C, "wamid.f11.2", "accept item 1 and cancel item 2", 1).await;
    let summary = sent.last().unwrap();
    assert!(is_summary(summary), "both decisions applied, straight to the summary: {:?}", summary.text());
    let text = summary.text().unwrap_or_default();
    assert!(text.contains("15 m red silk") && !text.contains("green silk"), "{text:?}");
    let detail = t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    assert_eq!(order_id(&detail), id);
    let ls = lines(&detail);
    assert_eq!(ls.len(), 2, "{ls:?}");
    assert_eq!((ls[0]["status"].as_str(), dec(&ls[0]["normalized_meters"])), (Some("ACCEPTED"), d("15")), "{ls:?}");
    assert_eq!(ls[1]["status"], "CANCELLED", "{ls:?}");
    let active: Vec<_> = ls.iter().filter(|l| l["status"] == "ACCEPTED" || l["status"] == "NEGOTIATING").collect();
    assert_eq!(active.len(), 1, "only item 1: {ls:?}");
    assert_eq!(dec(&detail["order"]["subtotal"]), d("6750.00"));
    t.settle().await;
    assert_eq!(t.sends_to(C).len(), 2, "one reply to the mixed message: {:?}", t.sent_to(C));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_12_all_cancelled_in_negotiation_or_at_summary_is_cancelled_without_effects() {
    const N: &str = "919812120001";
    const S: &str = "919812120002";
    let t = Textile::start("f3-12").await;
    let stock_before = on_hand(&t).await;
    // In negotiation: every line removed, one at a time, with the buttons souk offers.
    let sent = t.say(N, "wamid.f12.n1", "20m red silk and 10m green silk", 1).await;
    let nid = order_id(&t.order_in(N, "CUSTOMER_NEGOTIATION").await);
    let cancel = sent[0].button_ids().into_iter().find(|b| b.starts_with("cancel_item:")).unwrap().to_string();
    let sent = t.press(N, "wamid.f12.n2", &cancel, 1).await;
    let cancel = sent
        .last()
        .unwrap()
        .button_ids()
        .into_iter()
        .find(|b| b.starts_with("cancel_item:"))
        .unwrap_or_else(|| panic!("a remove button for the remaining line: {:?}", sent.last().unwrap().text()))
        .to_string();
    let sent = t.press(N, "wamid.f12.n3", &cancel, 1).await;
    let reply = sent.last().unwrap();
    assert!(reply.text().unwrap_or_default().contains("cancelled"), "{:?}", reply.text());
    assert!(!is_summary(reply), "no empty summary: {:?}", reply.text());
    let detail = t.order_in(N, "ORDER_CANCELLED").await;
    assert_eq!(order_id(&detail), nid);
    assert!(lines(&detail).iter().all(|l| l["status"] == "CANCELLED"), "{:?}", lines(&detail));

    // At the summary: "cancel the whole order".
    t.say(S, "wamid.f12.s1", "12m white cotton", 1).await;
    let sid = order_id(&t.order_in(S, "FINAL_CUSTOMER_CONFIRMATION").await);
    let sent = t.say(S, "wamid.f12.s2", "cancel the whole order", 1).await;
    assert!(sent.last().unwrap().text().unwrap_or_default().contains("cancelled"), "{:?}", sent.last().unwrap().text());
    let detail = t.order_in(S, "ORDER_CANCELLED").await;
    assert_eq!(order_id(&detail), sid);

    t.settle().await;
    for (oid, who) in [(&nid, N), (&sid, S)] {
        assert_eq!(effects(&t, oid, who).await, (0, 0, 0, 0), "{who}: no hold, deduction, invoice or ledger entry");
        let detail = t.client.order(oid).await.unwrap();
        assert_eq!(detail["order"]["state"], "ORDER_CANCELLED");
        assert!(detail["invoice"].is_null());
        assert_eq!(ledger_status(&t, who).await, 404, "no ledger for {who}");
    }
    assert_eq!(on_hand(&t).await, stock_before, "stock unchanged");
    assert_eq!(t.sends_to(N).len(), 3, "{:?}", t.sent_to(N));
    assert_eq!(t.sends_to(S).len(), 2, "{:?}", t.sent_to(S));
}
