//! rules F3.5 as rules A3 reshapes it, end to end on the real stack: over many seeded rounds,
//! two customers want more of the only 50 m roll of white linen together than there is and
//! confirm at once (both confirmations sent before either reply is read) — exactly one holds the
//! stock, the other's hold fails and it goes back to negotiation with the fresh availability, the
//! pool is never oversold; and the approval-time
//! `INSUFFICIENT_STOCK` path through a hold that expired before the owner approved (stream time
//! comes from the events: later customers' messages 25 h on move the pool's clock past the hold).

mod support;

use rand::rngs::StdRng;
use rand::Rng;
use rust_decimal::Decimal;
use serde_json::Value;
use souk::demo::meta::CustomerAction;
use souk_schemas::inventory::InventoryEvent;
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use support::textile::json::{d, dec, lines, order_id};
use support::textile::Textile;

/// (reserved, reserve_rejected, committed, released, expired) per order on `inventory.events`,
/// each event counted once (by id).
async fn holds_by_order(t: &Textile) -> BTreeMap<String, (usize, usize, usize, usize, usize)> {
    let mut facts: BTreeMap<String, (usize, usize, usize, usize, usize)> = BTreeMap::new();
    let mut seen = BTreeSet::new();
    for r in t.pipeline.read("inventory.events").await {
        let Ok(e) = t.pipeline.codec.decode::<InventoryEvent>(r.payload.as_deref().unwrap_or_default()).await else { continue };
        if !seen.insert(e.envelope().event_id.clone()) {
            continue;
        }
        let (order, slot) = match &e {
            InventoryEvent::Reserved(x) => (&x.order_id, 0),
            InventoryEvent::ReserveRejected(x) => (&x.order_id, 1),
            InventoryEvent::Committed(x) => (&x.order_id, 2),
            InventoryEvent::Released(x) => (&x.order_id, 3),
            InventoryEvent::HoldExpired(x) => (&x.order_id, 4),
            _ => continue,
        };
        let f = facts.entry(order.clone()).or_default();
        *[&mut f.0, &mut f.1, &mut f.2, &mut f.3, &mut f.4][slot] += 1;
    }
    facts
}

/// [`holds_by_order`] of one order.
async fn holds_of(t: &Textile, order_id: &str) -> (usize, usize, usize, usize, usize) {
    holds_by_order(t).await.get(order_id).copied().unwrap_or_default()
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
                        assert!(dec(&p["held_meters"]) <= dec(&p["on_hand_meters"]), "never more held than on hand: {p}");
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

/// Orders in one round of the race: what each of the two customers asked for.
struct Contender {
    wa_id: String,
    meters: u32,
}

/// Both contenders tap Confirm before either reply is read: in one webhook delivery (in a seeded
/// order) or in two concurrent deliveries, the second a seeded 0–40 ms after the first. Returns
/// how, for the round's log line.
async fn confirm_both(t: &Textile, rng: &mut StdRng, round: usize, pair: &[Contender; 2]) -> String {
    let flip = rng.random_bool(0.5);
    let (first, second) = if flip { (&pair[1], &pair[0]) } else { (&pair[0], &pair[1]) };
    let confirm = |c: &Contender| t.client.message(&c.wa_id, &format!("wamid.f05.{round}.{}.2", c.wa_id), CustomerAction::Button { id: "confirm".into(), title: "Confirm".into() });
    let (m1, m2) = (confirm(first), confirm(second));
    if rng.random_bool(0.5) {
        t.client.deliver(&[m1, m2]).await.unwrap();
        format!("one delivery, {} first", first.wa_id)
    } else {
        let delay = std::time::Duration::from_millis(rng.random_range(0..=40));
        let (one, other) = ([m1], [m2]);
        let (a, b) = tokio::join!(t.client.deliver(&one), async {
            tokio::time::sleep(delay).await;
            t.client.deliver(&other).await
        });
        a.unwrap();
        b.unwrap();
        format!("two deliveries, {} first, the other {} ms later", first.wa_id, delay.as_millis())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn f3_05_linen_race_concurrent_confirms_have_exactly_one_winner_per_round() {
    let rounds: usize = std::env::var("SOUK_TEST_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let mut rng = support::seeded_rng("f3_05 race");
    let t = Textile::start("f3-05").await;
    let (stop, watcher) = watch_linen(&t);
    let mut orders: Vec<(String, String)> = Vec::new(); // (winner's order, loser's order) per round
    for round in 0..rounds {
        // Two customers want more of the 50 m roll of white linen together than there is.
        let a: u32 = rng.random_range(26..=50);
        let pair = [Contender { wa_id: format!("9198050{round:03}1"), meters: a }, Contender { wa_id: format!("9198050{round:03}2"), meters: rng.random_range((51 - a).max(26)..=50) }];
        let wamids = pair.each_ref().map(|c| format!("wamid.f05.{round}.{}.1", c.wa_id));
        let asks = [format!("{}m white linen", pair[0].meters), format!("need {} meter white linen", pair[1].meters)];
        let (sa, sb) = tokio::join!(t.say(&pair[0].wa_id, &wamids[0], &asks[0], 1), t.say(&pair[1].wa_id, &wamids[1], &asks[1], 1));
        for sent in [&sa, &sb] {
            assert_eq!(sent[0].button_ids(), vec!["confirm", "edit", "cancel_order"], "round {round}: both get a summary: {:?}", sent[0].text());
        }
        let ids = [order_id(&t.order_in(&pair[0].wa_id, "FINAL_CUSTOMER_CONFIRMATION").await), order_id(&t.order_in(&pair[1].wa_id, "FINAL_CUSTOMER_CONFIRMATION").await)];

        let how = confirm_both(&t, &mut rng, round, &pair).await;
        let replies = [t.wait_sent(&pair[0].wa_id, 2).await, t.wait_sent(&pair[1].wa_id, 2).await];
        let texts: Vec<String> = replies.iter().map(|r| r[1].text().unwrap_or_default().to_string()).collect();
        let won: Vec<usize> = (0..2).filter(|&i| texts[i].contains("sent to the owner")).collect();
        eprintln!("round {round}: {} m vs {} m, {how}: winner {:?}", pair[0].meters, pair[1].meters, won.iter().map(|&i| &pair[i].wa_id).collect::<Vec<_>>());
        assert_eq!(won.len(), 1, "round {round} ({how}): exactly one winner: {texts:?}");
        let (w, l) = (won[0], 1 - won[0]);
        let (winner, loser) = (&pair[w], &pair[l]);
        let left = 50 - winner.meters;

        // The loser's hold failed: back to negotiation with the fresh availability.
        assert!(texts[l].contains("sold out"), "round {round}: the loser is told: {:?}", texts[l]);
        t.order_in(&winner.wa_id, "WAITING_OWNER_CONFIRMATION").await;
        let detail = t.order_in(&loser.wa_id, "CUSTOMER_NEGOTIATION").await;
        assert_eq!(order_id(&detail), ids[l]);
        let line = &lines(&detail)[0];
        assert_eq!((line["status"].as_str(), line["hold_status"].as_str()), (Some("NEGOTIATING"), Some("REJECTED")), "round {round}: {line}");
        assert_eq!((dec(&line["available_meters"]), dec(&line["requested_meters"])), (Decimal::from(left), Decimal::from(loser.meters)), "round {round}: {line}");
        linen_is(&t, "50", &winner.meters.to_string()).await;
        let pending = t.client.get("/v1/orders/pending-approval").await.unwrap();
        let pending: Vec<&str> = pending["orders"].as_array().unwrap().iter().filter_map(|o| o["order_id"].as_str()).collect();
        assert_eq!(pending, vec![ids[w].as_str()], "round {round}: only the winner waits for the owner");
        orders.push((ids[w].clone(), ids[l].clone()));

        if round + 1 < rounds {
            // The owner rejects the winner: its hold goes back, the next round starts from 50 m.
            let cmd = t.client.reject(&ids[w], &format!("reject-f05-{round}"), "next round").await.unwrap();
            assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
            linen_is(&t, "50", "0").await;
            continue;
        }
        // The last round's winner is approved: completed, its meters deducted once.
        let cmd = t.client.approve(&ids[w], "approve-f05").await.unwrap();
        assert_eq!(t.client.wait_command(&cmd).await.unwrap()["accepted"], true);
        t.order_in(&winner.wa_id, "ORDER_COMPLETED").await;
        let invoice = t.invoiced(&ids[w]).await["invoice"].clone();
        assert_eq!(dec(&invoice["subtotal"]), Decimal::from(winner.meters) * d("310.00"), "{invoice}");
        linen_is(&t, &left.to_string(), "0").await;
        t.wait_sent(&winner.wa_id, 3).await;
        let stock = t.client.get("/v1/stock").await.unwrap();
        let lw = stock["batches"].as_array().unwrap().iter().find(|b| b["batch_id"] == "LW-001").cloned().unwrap();
        assert_eq!((lw["rolls"].as_i64(), dec(&lw["loose_meters"])), (Some(0), Decimal::from(left)), "the roll was taken once: {lw}");
    }
    stop.store(true, Ordering::SeqCst);
    assert!(watcher.await.unwrap() > 0);

    // On the log: every winner held once (released, or deducted in the last round), every loser
    // never held and never deducted.
    let facts = holds_by_order(&t).await;
    for (round, (winner, loser)) in orders.iter().enumerate() {
        let last = round + 1 == rounds;
        let want = if last { (1, 0, 1, 0, 0) } else { (1, 0, 0, 1, 0) };
        assert_eq!(facts.get(winner).copied().unwrap_or_default(), want, "round {round}: the winner's (reserved, rejected, committed, released, expired)");
        assert_eq!(facts.get(loser).copied().unwrap_or_default(), (0, 1, 0, 0, 0), "round {round}: the loser: zero holds, zero deductions");
    }
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
