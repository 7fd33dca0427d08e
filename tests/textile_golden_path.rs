//! rules F3.1 end to end on the real stack: "20m blue cotton" (two 10 m rolls in the oldest batch)
//! → summary (never straight to waiting, rules BUG-2) → Confirm → waiting → owner approves → both rolls
//! deducted, invoice with 5 % GST in Decimal, ledger outstanding, exactly one "Order approved.
//! Invoice #…" message — sent only after the order completed. Also: a bad signature is refused with
//! 401 and nothing reaches any topic.

mod support;

use support::textile::Textile;

const ASHA: &str = "919811110001";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_01_golden_path_approve_deducts_invoices_and_notifies_once() {
    let t = Textile::start("golden").await;
    let sent = t.say(ASHA, "wamid.g.1", "20m blue cotton", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"], "one call to action: the summary's buttons");
    let order = t.order_in(ASHA, "FINAL_CUSTOMER_CONFIRMATION").await;
    let order_id = order["order"]["order_id"].as_str().unwrap().to_string();
    t.press(ASHA, "wamid.g.2", "confirm", 1).await;
    t.order_in(ASHA, "WAITING_OWNER_CONFIRMATION").await;
    let history: Vec<String> = t.client.order(&order_id).await.unwrap()["history"].as_array().unwrap().iter().filter_map(|h| h["state"].as_str().map(str::to_string)).collect();
    let first_wait = history.iter().position(|s| s == "WAITING_OWNER_CONFIRMATION").unwrap();
    let first_final = history.iter().position(|s| s == "FINAL_CUSTOMER_CONFIRMATION").unwrap();
    assert!(first_final < first_wait, "rules BUG-2: the summary comes before waiting: {history:?}");

    let cmd = t.client.approve(&order_id, "approve-g-1").await.unwrap();
    let outcome = t.client.wait_command(&cmd).await.unwrap();
    assert_eq!(outcome["accepted"], true, "{outcome}");
    let sent = t.wait_sent(ASHA, 3).await;
    t.order_in(ASHA, "ORDER_COMPLETED").await;
    let detail = t.invoiced(&order_id).await;

    // Inventory: the oldest batch's two 10 m rolls, nothing else, nothing negative.
    let stock = t.client.get("/v1/stock").await.unwrap();
    let batch = |id: &str| stock["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == id).cloned().unwrap();
    assert_eq!(batch("CB-001")["rolls"], 0);
    assert_eq!(batch("CB-002")["rolls"], 3);
    for b in stock["batches"].as_array().unwrap() {
        assert!(!b["rolls"].as_i64().unwrap().is_negative() && !b["loose_meters"].as_str().unwrap().starts_with('-'), "never negative: {b}");
    }
    // Invoice: Decimal, GST 5 % half-up, total = subtotal + GST.
    let invoice = &detail["invoice"];
    assert_eq!(invoice["invoice_number"], "INV-000001");
    assert_eq!((invoice["subtotal"].as_str(), invoice["gst_amount"].as_str(), invoice["total"].as_str()), (Some("2400.00"), Some("120.00"), Some("2520.00")));
    t.ledger_outstanding(ASHA, "2520.00").await;
    // Exactly one approval message, after completion (the invoice number only exists after it).
    let approvals: Vec<_> = sent.iter().filter(|r| r.text().unwrap_or_default().starts_with("Order approved. Invoice #INV-000001")).collect();
    assert_eq!(approvals.len(), 1, "{:?}", t.sent_to(ASHA));
    t.settle().await;
    assert_eq!(t.sends_to(ASHA).len(), 3, "no further messages: {:?}", t.sent_to(ASHA));
    let ids: std::collections::BTreeSet<_> = t.sends_to(ASHA).iter().map(|r| r.request_id().unwrap().to_string()).collect();
    assert_eq!(ids.len(), 3, "each outbound event sent once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_signature_is_401_and_nothing_is_produced() {
    let t = Textile::start_unseeded("badsig").await;
    let spec = t.client.message(ASHA, "wamid.bad.1", souk::demo::meta::CustomerAction::Text("20m blue cotton".into()));
    let body = serde_json::to_vec(&souk::demo::meta::messages_delivery(&[spec])).unwrap();
    assert_eq!(t.client.post_webhook(&body, None).await.unwrap(), 401);
    assert_eq!(t.client.post_webhook(&body, Some("sha256=00ff")).await.unwrap(), 401);
    let wrong = souk_producers::gateway::sign("not-the-app-secret", &body);
    assert_eq!(t.client.post_webhook(&body, Some(&wrong)).await.unwrap(), 401);
    let good = souk_producers::gateway::sign(&t.client.tenant.app_secret, &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    assert_eq!(t.client.post_webhook(&tampered, Some(&good)).await.unwrap(), 401);
    t.settle().await;
    for topic in t.pipeline.topology.topics.keys() {
        let records: Vec<_> = t.pipeline.read(topic).await.into_iter().filter(|r| !r.payload.as_deref().unwrap_or_default().is_empty()).collect();
        let ticks_only = t.pipeline.topology.topics[topic].ticks;
        if topic == "security.inputs" {
            // The auth audit (rules AU3) notes the harness's own owner-key calls; a webhook carries no key.
            let attempts: Vec<souk_schemas::security::SecurityInput> = support::inbox::decoded(&t, topic).await;
            assert!(attempts.iter().all(|souk_schemas::security::SecurityInput::AuthAttempted(a)| a.success && a.principal.as_deref() == Some("owner")), "{attempts:?}");
        } else if !ticks_only {
            assert!(records.is_empty(), "topic {topic} must stay empty, has {} records", records.len());
        }
    }
    assert!(t.whatsapp.requests().is_empty());
}
