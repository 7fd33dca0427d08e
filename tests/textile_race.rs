//! F.3 rule 5 as DECISIONS A3 reshapes it, end to end on the real stack: two customers want 40 m
//! of the only 50 m roll of white linen — the race is decided when the second one confirms (its
//! hold fails, it goes back to negotiation with the fresh 10 m); and the approval-time
//! `INSUFFICIENT_STOCK` path through a hold that expired before the owner approved (stream time
//! comes from the events: later customers' messages 25 h on move the pool's clock past the hold).

mod support;

use rust_decimal::Decimal;
use serde_json::Value;
use souk::demo::meta::CustomerAction;
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::StreamEvent;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::textile::Textile;

fn dec(v: &Value) -> Decimal {
    v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}")).parse().unwrap()
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn order_id(detail: &Value) -> String {
    detail["order"]["order_id"].as_str().unwrap().to_string()
}

fn lines(detail: &Value) -> Vec<Value> {
    let mut lines = detail["lines"].as_array().cloned().unwrap_or_default();
    lines.sort_by_key(|l| l["position"].as_i64().unwrap_or_default());
    lines
}

/// (reserved, reserve_rejected, committed, released, expired) of one order on `inventory.events`.
async fn holds_of(t: &Textile, order_id: &str) -> (usize, usize, usize, usize, usize) {
    let mut f = (0, 0, 0, 0, 0);
    let mut seen = BTreeSet::new();
    for r in t.pipeline.read("inventory.events").await {
        let Ok(e) = t.pipeline.codec.decode::<InventoryEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if !seen.insert(e.envelope().event_id.clone()) {
            continue;
        }
        match &e {
            InventoryEvent::Reserved(x) if x.order_id == order_id => f.0 += 1,
            InventoryEvent::ReserveRejected(x) if x.order_id == order_id => f.1 += 1,
            InventoryEvent::Committed(x) if x.order_id == order_id => f.2 += 1,
            InventoryEvent::Released(x) if x.order_id == order_id => f.3 += 1,
            InventoryEvent::HoldExpired(x) if x.order_id == order_id => f.4 += 1,
            _ => {}
        }
    }
    f
}

async fn linen(t: &Textile) -> Value {
    let stock = t.client.get("/v1/stock").await.unwrap();
    stock["pools"].as_array().unwrap().iter().find(|p| p["material"] == "linen" && p["color"] == "white").cloned().unwrap()
}

/// Waits until the white linen pool shows `on_hand` and `held`.
async fn linen_is(t: &Textile, on_hand: &str, held: &str) -> Value {
    let result = t
        .client
        .wait(&format!("white linen on hand {on_hand}, held {held}"), || async {
            let p = linen(t).await;
            Ok((dec(&p["on_hand_meters"]) == d(on_hand) && dec(&p["held_meters"]) == d(held)).then_some(p))
        })
        .await;
    match result {
        Ok(p) => p,
        Err(e) => panic!("{e:#}\nlast: {}\n{}", linen(t).await, t.log_tail()),
    }
}

/// Samples the linen pool and its batch until stopped; asserts nothing is ever negative.
fn watch_linen(t: &Textile) -> (Arc<AtomicBool>, tokio::task::JoinHandle<usize>) {
    let watcher = souk::demo::client::SoukClient::new(t.client.base(), t.client.tenant.clone(), 0);
    let stop = Arc::new(AtomicBool::new(false));
    let handle = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut samples = 0;
            while !stop.load(Ordering::SeqCst) {
                if let Ok(stock) = watcher.get("/v1/stock").await {
                    for p in stock["pools"].as_array().cloned().unwrap_or_default() {
                        for field in ["on_hand_meters", "held_meters", "available_meters"] {
                            assert!(dec(&p[field]) >= Decimal::ZERO, "never negative: {p}");
                        }
                    }
                    for b in stock["batches"].as_array().cloned().unwrap_or_default() {
                        assert!(b["rolls"].as_i64().unwrap() >= 0 && dec(&b["loose_meters"]) >= Decimal::ZERO && dec(&b["available_meters"]) >= Decimal::ZERO, "never negative: {b}");
                    }
                    samples += 1;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            samples
        })
    };
    (stop, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_05_linen_race_second_confirm_fails_its_hold_and_goes_back_to_negotiation() {
    const K: &str = "919805050001";
    const F: &str = "919805050002";
    let t = Textile::start("f3-05").await;
    let (stop, watcher) = watch_linen(&t);
    let sent = t.say(K, "wamid.f05.k1", "40m white linen", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"]);
    let sent = t.say(F, "wamid.f05.f1", "need 40 meter white linen", 1).await;
    assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"], "both get a summary");
    let kid = order_id(&t.order_in(K, "FINAL_CUSTOMER_CONFIRMATION").await);
    let fid = order_id(&t.order_in(F, "FINAL_CUSTOMER_CONFIRMATION").await);

    // The first to confirm holds the stock and waits for the owner.
    let sent = t.press(K, "wamid.f05.k2", "confirm", 1).await;
    assert!(sent.last().unwrap().text().unwrap_or_default().contains("sent to the owner"), "{:?}", sent.last().unwrap().text());
    t.order_in(K, "WAITING_OWNER_CONFIRMATION").await;
    linen_is(&t, "50", "40").await;

    // The second one's hold fails: back to negotiation with the fresh availability.
    let sent = t.press(F, "wamid.f05.f2", "confirm", 1).await;
    let reply = sent.last().unwrap();
    let text = reply.text().unwrap_or_default();
    assert!(text.contains("sold out") && text.contains("only 10 m"), "the reply says so, with the fresh 10 m: {text:?}");
    assert_eq!(reply.button_ids(), vec!["accept_available:1", "cancel_item:1"], "{text:?}");
    let detail = t.order_in(F, "CUSTOMER_NEGOTIATION").await;
    assert_eq!(order_id(&detail), fid);
    let l = &lines(&detail)[0];
    assert_eq!((l["status"].as_str(), l["inventory_status"].as_str(), l["hold_status"].as_str()), (Some("NEGOTIATING"), Some("PARTIAL_AVAILABLE"), Some("REJECTED")), "{l}");
    assert_eq!((dec(&l["available_meters"]), dec(&l["requested_meters"])), (d("10"), d("40")));
    let pending = t.client.get("/v1/orders/pending-approval").await.unwrap();
    let pending: Vec<&str> = pending["orders"].as_array().unwrap().iter().filter_map(|o| o["order_id"].as_str()).collect();
    assert_eq!(pending, vec![kid.as_str()], "only the first waits for the owner");

    // The owner approves the first: completed, 40 m deducted.
    let cmd = t.client.approve(&kid, "approve-f05-k").await.unwrap();
    assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
    t.order_in(K, "ORDER_COMPLETED").await;
    let invoice = t.invoiced(&kid).await["invoice"].clone();
    assert_eq!(invoice["subtotal"], "12400.00", "40 × 310.00: {invoice}");
    linen_is(&t, "10", "0").await;
    t.wait_sent(K, 3).await;
    t.settle().await;
    stop.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0);
    let stock = t.client.get("/v1/stock").await.unwrap();
    let lw = stock["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == "LW-001").cloned().unwrap();
    assert_eq!((lw["rolls"].as_i64(), dec(&lw["loose_meters"])), (Some(0), d("10")), "the roll was cut, 10 m left: {lw}");
    assert_eq!(holds_of(&t, &kid).await, (1, 0, 1, 0, 0), "the first: held once, deducted once");
    assert_eq!(holds_of(&t, &fid).await, (0, 1, 0, 0, 0), "the second: zero holds, zero deductions");
    assert_eq!(t.client.order(&fid).await.unwrap()["order"]["state"], "CUSTOMER_NEGOTIATION");
    assert!(t.client.order(&fid).await.unwrap()["invoice"].is_null());
    assert_eq!(t.sends_to(F).len(), 2, "{:?}", t.sent_to(F));
}

/// The customer does `action` with a message timestamped `offset_s` after the client's clock.
async fn act_later(t: &Textile, wa_id: &str, wamid: &str, action: CustomerAction, offset_s: i64, replies: usize) -> Vec<souk_sinks::whatsapp::RecordedRequest> {
    let before = t.sends_to(wa_id).len();
    let mut spec = t.client.message(wa_id, wamid, action);
    spec.timestamp_s += offset_s;
    t.client.deliver(&[spec]).await.unwrap();
    t.wait_sent(wa_id, before + replies).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_05_expired_hold_then_stock_gone_approve_is_insufficient_stock() {
    const A: &str = "919805050011";
    const C: &str = "919805050012";
    const D: &str = "919805050013";
    const LATER: i64 = 25 * 3600;
    let t = Textile::start("f3-05x").await;
    let (stop, watcher) = watch_linen(&t);
    t.say(A, "wamid.f05x.a1", "40m white linen", 1).await;
    t.press(A, "wamid.f05x.a2", "confirm", 1).await;
    let waiting = t.order_in(A, "WAITING_OWNER_CONFIRMATION").await;
    let aid = order_id(&waiting);
    assert_eq!(lines(&waiting)[0]["hold_status"], "HELD");
    linen_is(&t, "50", "40").await;

    // C, 25 h later by its messages' timestamps, orders 10 m (what is free even with A's hold) and
    // confirms: its reserve carries C's stream time to the pool, past A's 24 h hold.
    let text = |s: &str| CustomerAction::Text(s.to_string());
    let button = |id: &str| CustomerAction::Button { id: id.to_string(), title: id.to_string() };
    act_later(&t, C, "wamid.f05x.c1", text("10m white linen"), LATER, 1).await;
    t.order_in(C, "FINAL_CUSTOMER_CONFIRMATION").await;
    act_later(&t, C, "wamid.f05x.c2", button("confirm"), LATER, 1).await;
    let cid = order_id(&t.order_in(C, "WAITING_OWNER_CONFIRMATION").await);

    // A's hold lapses: released in the pool, an APPROVAL_OVERDUE escalation for A's order.
    let overdue = t
        .client
        .wait("A's hold to expire (APPROVAL_OVERDUE)", || async {
            let list = t.client.get("/v1/escalations").await?;
            Ok(list["escalations"].as_array().unwrap().iter().find(|e| e["kind"] == "APPROVAL_OVERDUE" && e["order_id"] == aid.as_str()).cloned())
        })
        .await;
    let overdue = match overdue {
        Ok(e) => e,
        Err(e) => panic!(
            "{e:#}\nA's lines: {:?}\nlinen: {}\nA's hold events (reserved, rejected, committed, released, expired): {:?}\n{}",
            lines(&t.client.order(&aid).await.unwrap_or_default()),
            linen(&t).await,
            holds_of(&t, &aid).await,
            t.log_tail()
        ),
    };
    assert_eq!(overdue["customer"], A, "{overdue}");
    linen_is(&t, "50", "10").await;
    assert_eq!(t.client.order(&aid).await.unwrap()["order"]["state"], "WAITING_OWNER_CONFIRMATION");

    // D, also 25 h later, takes the remaining 40 m.
    act_later(&t, D, "wamid.f05x.d1", text("40m white linen"), LATER, 1).await;
    t.order_in(D, "FINAL_CUSTOMER_CONFIRMATION").await;
    act_later(&t, D, "wamid.f05x.d2", button("confirm"), LATER, 1).await;
    let did = order_id(&t.order_in(D, "WAITING_OWNER_CONFIRMATION").await);
    linen_is(&t, "50", "50").await;

    // The owner approves A: the re-reserve finds nothing ⇒ refused INSUFFICIENT_STOCK, A still waits.
    let cmd = t.client.approve(&aid, "approve-f05x-a").await.unwrap();
    let outcome = t.client.wait_command(&cmd).await.unwrap();
    assert_eq!((outcome["accepted"].as_bool(), outcome["code"].as_str()), (Some(false), Some("INSUFFICIENT_STOCK")), "{outcome}");
    let escalation = t
        .client
        .wait("an INSUFFICIENT_STOCK escalation for A", || async {
            let list = t.client.get("/v1/escalations").await?;
            Ok(list["escalations"].as_array().unwrap().iter().find(|e| e["kind"] == "INSUFFICIENT_STOCK" && e["order_id"] == aid.as_str()).cloned())
        })
        .await
        .unwrap();
    assert_eq!(escalation["customer"], A);
    let detail = t.order_in(A, "WAITING_OWNER_CONFIRMATION").await;
    assert_eq!(order_id(&detail), aid);
    t.settle().await;
    assert_eq!(t.client.order(&aid).await.unwrap()["order"]["state"], "WAITING_OWNER_CONFIRMATION", "A stays waiting");
    let (_, _, committed, _, expired) = holds_of(&t, &aid).await;
    assert_eq!((committed, expired), (0, 1), "zero deductions for A; its hold expired once");
    assert!(t.client.order(&aid).await.unwrap()["invoice"].is_null());
    assert_eq!(holds_of(&t, &cid).await.2 + holds_of(&t, &did).await.2, 0, "nothing approved yet");
    linen_is(&t, "50", "50").await;
    stop.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0);
    let pending = t.client.get("/v1/orders/pending-approval").await.unwrap();
    let pending: BTreeSet<&str> = pending["orders"].as_array().unwrap().iter().filter_map(|o| o["order_id"].as_str()).collect();
    assert_eq!(pending, [aid.as_str(), cid.as_str(), did.as_str()].into_iter().collect(), "all three wait for the owner");
}
