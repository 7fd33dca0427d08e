//! 500 customers order from one pool at once: holds decide who gets the stock, nothing
//! is ever oversold, and every order ends in a definite state (waiting for the owner, or back in
//! negotiation with the fresh availability; after the owner approves: completed).

mod support;

use futures::stream::{self, StreamExt};
use rust_decimal::Decimal;
use souk::demo::client::BatchSpec;
use std::time::Duration;
use support::textile::Textile;

const CUSTOMERS: usize = 500;
const METERS_EACH: i64 = 2;
const POOL_METERS: i64 = 100;

fn customer(i: usize) -> String {
    format!("9177{i:08}")
}

async fn count_in(t: &Textile, state: &str) -> usize {
    let list = t.client.get(&format!("/v1/orders?state={state}&limit=500")).await.unwrap();
    list["orders"].as_array().map(Vec::len).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn five_hundred_concurrent_orders_never_oversell() {
    let mut t = Textile::start_unseeded("crowd").await;
    t.client.patience = Duration::from_secs(300);
    t.client.catalog("cotton", "red", "118.00", &[]).await.unwrap();
    let batch = BatchSpec { batch_id: "CR-1", material: "cotton", color: "red", rolls: 4, meters_per_roll: "25.000", loose_meters: "0.000", received_at: "2026-01-20T09:00:00Z" };
    t.client.stock_in(&batch).await.unwrap();
    t.client
        .wait("the pool to be projected", || async {
            let stock = t.client.get("/v1/stock").await?;
            Ok(stock["pools"]
                .as_array()
                .is_some_and(|p| p.iter().any(|p| p["price_per_meter"] == "118.00" && p["on_hand_meters"].as_str().is_some_and(|m| m.parse::<Decimal>().unwrap() == Decimal::from(POOL_METERS))))
                .then_some(()))
        })
        .await
        .unwrap();

    let started = std::time::Instant::now();
    stream::iter(0..CUSTOMERS)
        .for_each_concurrent(32, |i| {
            let c = &t.client;
            async move { c.say(&customer(i), &format!("wamid.crowd.{i}.1"), &format!("{METERS_EACH}m red cotton")).await.unwrap() }
        })
        .await;
    t.client
        .wait("every customer to have an order", || async {
            let n = count_in(&t, "FINAL_CUSTOMER_CONFIRMATION").await + count_in(&t, "CUSTOMER_NEGOTIATION").await;
            Ok((n == CUSTOMERS).then_some(()))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    stream::iter(0..CUSTOMERS)
        .for_each_concurrent(32, |i| {
            let c = &t.client;
            async move { c.press(&customer(i), &format!("wamid.crowd.{i}.2"), "confirm", "Confirm").await.unwrap() }
        })
        .await;
    // Every order settles: held (waiting for the owner) or refused (back in negotiation).
    let waiting = t
        .client
        .wait("every confirm to be decided", || async {
            let (w, n) = (count_in(&t, "WAITING_OWNER_CONFIRMATION").await, count_in(&t, "CUSTOMER_NEGOTIATION").await);
            Ok((w + n == CUSTOMERS).then_some(w))
        })
        .await
        .unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    eprintln!("{CUSTOMERS} customers: {waiting} holds placed, {} refused, decided in {:?}", CUSTOMERS - waiting, started.elapsed());
    assert_eq!(waiting as i64 * METERS_EACH, POOL_METERS, "the holds take exactly the pool, never more");

    let pending = t.client.get("/v1/orders/pending-approval").await.unwrap();
    let ids: Vec<String> = pending["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids.len(), waiting);
    stream::iter(ids.iter().enumerate())
        .for_each_concurrent(16, |(i, id)| {
            let c = &t.client;
            async move {
                c.approve(id, &format!("approve-crowd-{i}")).await.unwrap();
            }
        })
        .await;
    t.client.wait("every approval to complete", || async { Ok((count_in(&t, "ORDER_COMPLETED").await == waiting).then_some(())) }).await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert_eq!(count_in(&t, "CUSTOMER_NEGOTIATION").await, CUSTOMERS - waiting, "the others wait in negotiation");
    let stock = t
        .client
        .wait("the deductions to be projected", || async {
            let stock = t.client.get("/v1/stock").await?;
            let on_hand: Decimal = stock["pools"][0]["on_hand_meters"].as_str().unwrap().parse().unwrap();
            Ok((on_hand == Decimal::ZERO).then_some(stock))
        })
        .await
        .unwrap();
    for b in stock["batches"].as_array().unwrap() {
        assert!(b["rolls"].as_i64().unwrap() >= 0 && !b["loose_meters"].as_str().unwrap().starts_with('-'), "never negative: {b}");
    }
    eprintln!("all done in {:?}", started.elapsed());
}
