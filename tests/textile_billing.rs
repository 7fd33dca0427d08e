//! rules F3.19 and F3.20 end to end on the real stack: invoice money is exact Decimal (meters in gaj
//! and half meters × 2-dp prices, GST 5 % rounded half-up to 2 dp), and payments are their own flow
//! (reduce the outstanding, idempotent on payment_id, never part of an approval; a payment without
//! an invoice is a credit, whose receipt a customer who never wrote to the shop does not get: no
//! opt-in, no message, rules W1).

mod support;

use rust_decimal::Decimal;
use serde_json::Value;
use souk_schemas::billing::LedgerInput;
use std::collections::BTreeSet;
use support::textile::json::{d, dec};
use support::textile::Textile;

/// The customer's ledger once `probe` holds for it (a 404 = no ledger yet).
async fn ledger_where(t: &Textile, wa_id: &str, what: &str, probe: impl Fn(&Value) -> bool) -> Value {
    let result = t
        .client
        .wait(what, || async {
            let (status, ledger) = t.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{wa_id}"), None).await?;
            Ok((status == 200 && probe(&ledger)).then_some(ledger))
        })
        .await;
    match result {
        Ok(l) => l,
        Err(e) => {
            let (_, last) = t.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{wa_id}"), None).await.unwrap();
            panic!("{e:#}\nlast: {last:#}\n{}", t.log_tail())
        }
    }
}

/// Distinct event ids of the `PaymentRecorded` records of `payment_id` on `ledger.inputs`.
async fn payment_events(t: &Textile, payment_id: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for r in t.pipeline.read("ledger.inputs").await {
        if let Ok(LedgerInput::PaymentRecorded(p)) = t.pipeline.codec.decode::<LedgerInput>(r.payload.as_deref().unwrap_or_default()).await {
            if p.payment_id == payment_id {
                ids.insert(p.envelope.event_id);
            }
        }
    }
    ids
}

/// Orders `text`, confirms, approves; returns the order detail with its invoice.
async fn order_confirm_approve(t: &Textile, wa_id: &str, tag: &str, text: &str) -> Value {
    let sent = t.say(wa_id, &format!("wamid.{tag}.1"), text, 1).await;
    assert_eq!(sent.last().unwrap().button_ids(), vec!["confirm", "edit", "cancel_order"], "summary: {:?}", sent.last().unwrap().text());
    t.press(wa_id, &format!("wamid.{tag}.2"), "confirm", 1).await;
    let order = t.order_in(wa_id, "WAITING_OWNER_CONFIRMATION").await;
    let order_id = order["order"]["order_id"].as_str().unwrap().to_string();
    let cmd = t.client.approve(&order_id, &format!("approve-{tag}")).await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    t.order_in(wa_id, "ORDER_COMPLETED").await;
    t.invoiced(&order_id).await
}

fn line_meters(detail: &Value) -> Vec<(String, String, Decimal)> {
    let mut lines: Vec<(String, String, Decimal)> = detail["lines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| l["status"] == "ACCEPTED")
        .map(|l| (l["material"].as_str().unwrap().to_string(), l["color"].as_str().unwrap().to_string(), dec(&l["normalized_meters"])))
        .collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_19_invoice_money_is_exact_decimal_with_half_up_gst() {
    const A: &str = "919819190001";
    const B: &str = "919819190002";
    let t = Textile::start("f3-19").await;

    // 7.5 m red polyester @ 85.50 = 641.25; 3 gaj = 3 × 0.9144 = 2.7432 → 2.743 m blue cotton
    // @ 120.00 = 329.16 (as f64: 329.15999999999997). Subtotal 970.41; GST 5 % = 48.5205 → 48.52;
    // total 1018.93.
    let detail = order_confirm_approve(&t, A, "f19a", "7.5m red polyester aur 3 gaj blue cotton").await;
    assert_eq!(line_meters(&detail), vec![("cotton".into(), "blue".into(), d("2.743")), ("polyester".into(), "red".into(), d("7.5"))]);
    let invoice = &detail["invoice"];
    assert_eq!(invoice["invoice_number"], "INV-000001");
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("970.41"), Some("48.52"), Some("1018.93")), "{invoice:#}");
    assert_eq!(dec(&invoice["gst_rate"]), d("0.05"));
    assert_eq!(dec(&detail["order"]["subtotal"]), d("970.41"), "the order's subtotal is the invoice's");

    // A tie: 7 m red polyester = 598.50; 9 gaj = 8.2296 → 8.230 m blue cotton @ 120.00 = 987.60.
    // Subtotal 1586.10; GST 5 % = 79.305 → half-up 79.31 (half-even would give 79.30); total
    // 1665.41.
    let detail = order_confirm_approve(&t, B, "f19b", "7m red polyester aur 9 gaj blue cotton").await;
    assert_eq!(line_meters(&detail), vec![("cotton".into(), "blue".into(), d("8.23")), ("polyester".into(), "red".into(), d("7"))]);
    let invoice = &detail["invoice"];
    assert_eq!(invoice["invoice_number"], "INV-000002");
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("1586.10"), Some("79.31"), Some("1665.41")), "{invoice:#}");
    let by_number = t.client.get("/v1/invoices/INV-000002").await.unwrap();
    assert_eq!((by_number["subtotal"].as_str(), by_number["gst_amount"].as_str(), by_number["total"].as_str()), (Some("1586.10"), Some("79.31"), Some("1665.41")));

    // The ledgers carry the same exact totals; the customers are told the same numbers.
    t.ledger_outstanding(A, "1018.93").await;
    t.ledger_outstanding(B, "1665.41").await;
    let told = t.wait_sent(B, 3).await;
    let approval = told.iter().filter_map(|r| r.text()).find(|x| x.starts_with("Order approved. Invoice #INV-000002")).unwrap_or_else(|| panic!("{:?}", t.sent_to(B)));
    assert!(approval.contains("1,665.41") || approval.contains("1665.41"), "{approval:?}");
    assert!(approval.contains("79.31"), "{approval:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_20_payments_reduce_outstanding_once_and_never_ride_on_approval() {
    const A: &str = "919820200001";
    const NO_INVOICE: &str = "919820200002";
    let t = Textile::start("f3-20").await;

    // 20 m blue cotton: 2400.00 + GST 120.00 = 2520.00.
    let detail = order_confirm_approve(&t, A, "f20a", "20m blue cotton").await;
    assert_eq!(detail["invoice"]["total"], "2520.00");
    let ledger = t.ledger_outstanding(A, "2520.00").await;
    // The approval recorded no payment.
    assert_eq!(ledger["payments"].as_array().unwrap().len(), 0, "an approval records no payment: {ledger:#}");
    assert_eq!(dec(&ledger["balance"]["total_paid"]), Decimal::ZERO);
    let kinds: Vec<&str> = ledger["entries"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds.len(), 1, "only the invoice entry: {ledger:#}");
    assert_eq!(t.sends_to(A).len(), 3, "summary, sent for approval, approved — no receipt: {:?}", t.sent_to(A));

    // A payment reduces the outstanding and sends one receipt.
    t.client.payment("pay-f20-1", A, "1000.00").await.unwrap();
    let ledger = t.ledger_outstanding(A, "1520.00").await;
    let receipts = t.wait_sent(A, 4).await;
    assert!(receipts[3].text().unwrap_or_default().starts_with("Payment of"), "{:?}", t.sent_to(A));

    // The same payment_id again: a retried POST (the same command, so the same event) and the
    // same payment entered once more under another command id (a second device: a new event).
    // Neither reduces the outstanding again, adds an entry or sends a receipt.
    t.client.payment("pay-f20-1", A, "1000.00").await.unwrap();
    let body = serde_json::json!({ "payment_id": "pay-f20-1", "customer": A, "amount": "1000.00", "method": "UPI", "command_id": "pay-f20-1-second-device" });
    assert_eq!(t.client.command(reqwest::Method::POST, "/v1/payments", body).await.unwrap(), "pay-f20-1-second-device");
    t.caught_up("ledger", "ledger.inputs").await;
    t.caught_up("commerce-postgres", "ledger.events").await;
    t.caught_up("whatsapp-dispatcher", "whatsapp.outbound").await;
    assert_eq!(payment_events(&t, "pay-f20-1").await.len(), 2, "the ledger got pay-f20-1 as two distinct events (its own idempotency is what is tested)");
    // Caught up: the ledger read now is final (no waiting for a value that may never come).
    let (_, again) = t.client.owner(reqwest::Method::GET, &format!("/v1/ledger/{A}"), None).await.unwrap();
    assert_eq!(again["balance"]["outstanding"], "1520.00", "pay-f20-1 reduced the outstanding once: {again:#}");
    assert_eq!(again["payments"].as_array().unwrap().len(), 1, "{again:#}");
    assert_eq!(again["entries"].as_array().unwrap().len(), ledger["entries"].as_array().unwrap().len(), "{again:#}");
    assert_eq!(again["entries"].as_array().unwrap().len(), 2, "invoice + one payment: {again:#}");
    assert_eq!(dec(&again["balance"]["total_paid"]), d("1000"));
    assert_eq!(t.sends_to(A).len(), 4, "one receipt: {:?}", t.sent_to(A));

    // A second, different payment still counts.
    t.client.payment("pay-f20-2", A, "1520.00").await.unwrap();
    let paid = ledger_where(&t, A, "outstanding 0", |l| l["balance"]["outstanding"].as_str().is_some_and(|o| d(o).is_zero())).await;
    assert_eq!(paid["payments"].as_array().unwrap().len(), 2);

    // A payment from a customer without any invoice: a credit (negative outstanding).
    t.client.payment("pay-f20-3", NO_INVOICE, "500.00").await.unwrap();
    let credit = ledger_where(&t, NO_INVOICE, "a credit of 500", |l| l["balance"]["outstanding"].as_str().is_some_and(|o| d(o) == d("-500"))).await;
    assert_eq!(dec(&credit["balance"]["total_invoiced"]), Decimal::ZERO, "{credit:#}");
    assert_eq!(dec(&credit["balance"]["total_paid"]), d("500"), "{credit:#}");
    // The credit receipt is written, but this customer never wrote to the shop: no opt-in, no
    // message (rules W1). It is logged as refused with the reason, and nothing reaches them.
    let refused = t.client.wait("the credit receipt logged as refused", || async {
        let list = t.client.get(&format!("/v1/messages?customer={NO_INVOICE}")).await?;
        Ok(list["messages"].as_array().and_then(|m| m.iter().find(|m| m["direction"] == "out" && m["status"] == "failed").cloned()))
    });
    let refused = refused.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert!(refused["text"].as_str().unwrap_or_default().contains("Credit"), "{refused:#}");
    assert!(refused.to_string().contains(&format!("NO_OPT_IN: {NO_INVOICE} has not agreed to receive WhatsApp messages from us")), "{refused:#}");
    assert!(t.sends_to(NO_INVOICE).is_empty(), "{:?}", t.sent_to(NO_INVOICE));
    // …and no order, invoice or stock movement came with it.
    let orders = t.client.get(&format!("/v1/orders?customer={NO_INVOICE}")).await.unwrap();
    assert_eq!(orders["orders"].as_array().unwrap().len(), 0, "{orders}");
    let (status, _) = t.client.owner(reqwest::Method::GET, "/v1/invoices/INV-000002", None).await.unwrap();
    assert_eq!(status, 404, "no second invoice");
}
