//! seed-000 §6.1, the live demo of autonomous recovery, end to end on the real stack and only
//! through HTTP: the owner declares Flower Shop A and B and their products, a user orders a bundle
//! and writes "I want pink flowers instead of red" in its thread; Partner A gets the request on
//! WhatsApp with Accept / Decline / Modify and answers through the signed webhook "No, we don't
//! have pink flowers available"; re-sourcing finds Partner B at 55.00 (inside 40.00–60.00) and
//! the user reads "… 5-minute delay. Should I proceed?"; "Yes, proceed" cancels A's leg only now
//! and orders from B, whose Accept replaces the leg and recomputes the timeline. The 61.00
//! variant finds nobody and escalates.

mod support;

use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;
use souk::demo::flowers::{self, PARTNER_A, PARTNER_B};
use support::textile::Textile;

fn rfc(t: chrono::DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Declares the demo partners (B's pink flowers at `price`), orders the bundle for tomorrow and
/// asks for pink flowers; returns once Partner A has the request.
async fn demo_until_partner_a_is_asked(t: &Textile, price: &str) -> String {
    flowers::declare_partners(&t.client, price).await.unwrap();
    let now = Utc::now();
    let bundle = flowers::order_bundle(&t.client, "bundle-demo", &rfc(now), &rfc(now + Duration::days(1)), &rfc(now + Duration::days(1) + Duration::hours(2)), false).await.unwrap();
    let b = flowers::bundle_when(&t.client, &bundle, "the bundle with its timeline", |b| !b["bundle"].is_null()).await.unwrap();
    assert_eq!(b["bundle"]["total_minutes"], 26, "20 minutes' preparation and a 6-minute ride: {b}");
    assert_eq!((b["bundle"]["legs"][0]["item"].as_str(), b["bundle"]["legs"][0]["partner_id"].as_str()), (Some("Red Flowers"), Some("partner-a")));
    flowers::chat(&t.client, &bundle, "msg-1", "I want pink flowers instead of red").await.unwrap();
    let asked = t.wait_sent(PARTNER_A, 1).await;
    assert_eq!(asked[0].text(), Some("Hello Flower Shop A, a customer would like pink flowers instead of Red Flowers for their order. Can you provide it?"));
    assert_eq!(asked[0].button_ids(), vec!["neg:accept", "neg:decline", "neg:modify"]);
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn live_demo_partner_a_refuses_and_partner_b_replaces_the_leg() {
    let t = Textile::start_unseeded("flowers").await;
    let bundle = demo_until_partner_a_is_asked(&t, "55.00").await;
    t.client.say(PARTNER_A, "wamid.partner-a.1", "No, we don't have pink flowers available").await.unwrap();

    let b = flowers::thread_has(&t.client, &bundle, "recovery_proposal").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert!(flowers::thread(&b).contains(&"I've found pink flowers from a different vendor to replace red flowers. The new timeline shows a 5-minute delay. Should I proceed?".to_string()), "{b}");
    assert_eq!(b["negotiations"][0]["status"], "awaiting_recovery_approval");
    assert_eq!(b["negotiations"][0]["proposal_price"], "55.00");
    assert_eq!(t.sends_to(PARTNER_A).len(), 1, "nothing is cancelled before the user approves the alternative");
    assert!(t.sends_to(PARTNER_B).is_empty());

    flowers::chat(&t.client, &bundle, "msg-2", "Yes, proceed").await.unwrap();
    let order = t.wait_sent(PARTNER_B, 1).await;
    assert_eq!(order[0].text(), Some("Hello Flower Shop B, new order: Pink Flowers at 55.00 USD. Can you confirm?"));
    let to_a = t.wait_sent(PARTNER_A, 2).await;
    assert_eq!(to_a[1].text(), Some("We are cancelling Red Flowers for this order: Partner unable to fulfill change request. Thank you."));

    t.client.press(PARTNER_B, "wamid.partner-b.1", "neg:accept", "Accept").await.unwrap();
    let b = flowers::bundle_when(&t.client, &bundle, "the leg from Partner B", |b| b["bundle"]["legs"][0]["partner_id"] == "partner-b").await.unwrap();
    let leg = &b["bundle"]["legs"][0];
    assert_eq!((leg["item"].as_str(), leg["price"].as_str(), leg["partner_name"].as_str()), (Some("Pink Flowers"), Some("55.00"), Some("Flower Shop B")));
    assert_eq!(b["bundle"]["total_minutes"], 31, "the timeline is recomputed: 5 minutes later");
    let b = flowers::thread_has(&t.client, &bundle, "recovered").await.unwrap();
    assert_eq!(b["negotiations"][0]["status"], "recovered_autonomously");
    assert_eq!(b["recoveries"][0]["new_partner_id"], "partner-b");
    assert!(flowers::thread(&b).contains(&"Your bundle is updated: Pink Flowers from Flower Shop B is confirmed.".to_string()), "{b}");
    // Every reply was read once and the reading kept.
    let nid = b["negotiations"][0]["negotiation_id"].as_str().unwrap();
    let n = t.client.get(&format!("/v1/negotiations/{nid}")).await.unwrap();
    let readings: Vec<&str> = n["replies"].as_array().unwrap().iter().filter_map(|r| r["classification"].as_str()).collect();
    assert_eq!(readings, vec!["reject", "accept"], "{n}");
    t.settle().await;
    assert_eq!((t.sends_to(PARTNER_A).len(), t.sends_to(PARTNER_B).len()), (2, 1), "no further messages to the partners");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_b_at_61_is_outside_the_window_and_the_change_escalates() {
    let t = Textile::start_unseeded("flowers61").await;
    let bundle = demo_until_partner_a_is_asked(&t, "61.00").await;
    t.client.say(PARTNER_A, "wamid.partner-a.1", "No, we don't have pink flowers available").await.unwrap();
    let b = flowers::thread_has(&t.client, &bundle, "escalated").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let negotiation = &b["negotiations"][0];
    assert_eq!(negotiation["status"], "escalated");
    let reason = negotiation["reason"].as_str().unwrap();
    assert!(reason.starts_with("No alternative found for requested change (no partner offers pink flowers within 40.00–60.00 USD"), "{reason}");
    assert!(reason.contains("1 outside the price window"), "{reason}");
    let escalations = t.client.wait("the STALLED escalation", || async {
        let e = t.client.get("/v1/escalations").await?;
        Ok(e["escalations"].as_array().filter(|a| a.iter().any(|e| e["kind"] == "STALLED")).cloned())
    });
    let escalations = escalations.await.unwrap();
    let stalled = escalations.iter().find(|e| e["kind"] == "STALLED").unwrap();
    assert_eq!(stalled["priority"], "medium");
    assert!(stalled["detail"].as_str().unwrap().contains("bundle bundle-demo"), "{stalled}");
    t.settle().await;
    assert!(t.sends_to(PARTNER_B).is_empty(), "Partner B at 61.00 is never asked");
    assert_eq!(t.sends_to(PARTNER_A).len(), 1, "and Partner A is not told anything is cancelled");
}

/// seed-000 §6.3 on the demo's map through HTTP: adding Partner B's chocolates to the flowers leg
/// brings it at 47 minutes instead of 26; with the deadline at 32 minutes that is 15 minutes late
/// (the separate-delivery suggestion with the courier's price), at 37 exactly 10 (the conflict is
/// recorded, no suggestion).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn adding_an_item_over_ten_minutes_late_suggests_a_separate_delivery_and_exactly_ten_does_not() {
    let t = Textile::start_unseeded("flowers-conflict").await;
    flowers::declare_partners(&t.client, "55.00").await.unwrap();
    let chocolates = json!({ "partner_id": "partner-b", "name": "Custom Chocolates", "price": "12.00", "currency": "USD", "capabilities": ["chocolatier"] });
    t.client.command(Method::PUT, "/v1/products/chocolates-b", chocolates).await.unwrap();
    let start = Utc::now();
    for (bundle, deadline_min) in [("bundle-late-15", 32), ("bundle-late-10", 37)] {
        flowers::order_bundle(&t.client, bundle, &rfc(start), &rfc(start), &rfc(start + Duration::minutes(deadline_min)), false).await.unwrap();
        t.client.command(Method::POST, &format!("/v1/bundles/{bundle}/items"), json!({ "leg_id": "leg-flowers", "product_id": "chocolates-b", "command_id": format!("add-{bundle}") })).await.unwrap();
    }
    let late15 = flowers::bundle_when(&t.client, "bundle-late-15", "the conflict", |b| b["conflicts"].as_array().is_some_and(|c| !c.is_empty())).await.unwrap();
    let c = &late15["conflicts"][0];
    assert_eq!((c["has_conflict"].as_bool(), c["delay_minutes"].as_i64(), c["time_impact_minutes"].as_i64()), (Some(true), Some(15), Some(21)), "{c}");
    assert_eq!((c["suggestion"].as_str(), c["courier_cost"].as_str()), (Some("separate_delivery"), Some("8.99")));
    assert!(flowers::thread(&late15).contains(&"Adding Custom Chocolates will make you 15 minutes late for Flowers. Should I proceed, or would you like me to courier it separately?".to_string()));
    let late10 = flowers::bundle_when(&t.client, "bundle-late-10", "the conflict", |b| b["conflicts"].as_array().is_some_and(|c| !c.is_empty())).await.unwrap();
    let c = &late10["conflicts"][0];
    assert_eq!((c["has_conflict"].as_bool(), c["delay_minutes"].as_i64()), (Some(true), Some(10)), "{c}");
    assert!(c["suggestion"].is_null() && c["courier_cost"].is_null(), "exactly 10 minutes: no suggestion: {c}");
    assert!(flowers::thread(&late10).contains(&"Adding Custom Chocolates will make you 10 minutes late for Flowers.".to_string()));
}
