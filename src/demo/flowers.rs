//! The orchestration story (seed-000 §6.1, "Live Demo of Autonomous Recovery"), as data and steps
//! over souk's public HTTP surfaces: the two florists with their exact names, places, numbers and
//! products, and a bundle whose flowers leg Partner A holds. The e2e tests and `souk demo
//! flowers` run the same steps.

use super::client::SoukClient;
use super::scenario::Transcript;
use anyhow::{anyhow, bail};
use reqwest::Method;
use serde_json::{json, Value};

pub use souk_producers::simulator::live_demo::{PARTNER_A, PARTNER_B};
/// The flowers leg's delivery point: 6 minutes' ride from Partner A and 11 from Partner B (both
/// prepare in 20 minutes), so Partner B makes the bundle 5 minutes later (rules TC1).
pub const DESTINATION: (f64, f64) = (40.7265, -73.9950);
/// The user who orders.
pub const USER: &str = "user-1";

/// Declares Partner A (Red Flowers 50.00) and Partner B (Pink Flowers at `partner_b_price`), 10
/// of each in stock.
pub async fn declare_partners(client: &SoukClient, partner_b_price: &str) -> anyhow::Result<()> {
    // The gateway finds each product's partner in its table, caught up with the partner just declared.
    for (path, body) in souk_producers::simulator::live_demo::souk_commands(partner_b_price, true) {
        client.command(Method::PUT, &path, body).await?;
    }
    Ok(())
}

/// Orders bundle `bundle_id`: the Red Flowers of Partner A, delivered tomorrow (`tomorrow_rfc3339`
/// is its start; the deadline two hours later). Returns the bundle id.
pub async fn order_bundle(client: &SoukClient, bundle_id: &str, starts_at: &str, leg_starts_at: &str, deadline: &str, is_jit: bool) -> anyhow::Result<String> {
    let body = json!({
        "bundle_id": bundle_id, "user_id": USER, "starts_at": starts_at,
        "legs": [{ "leg_id": "leg-flowers", "name": "Flowers", "product_id": "red-flowers-a", "starts_at": leg_starts_at, "deadline": deadline, "is_jit": is_jit,
                   "destination": { "lat": DESTINATION.0, "lng": DESTINATION.1 } }],
        "command_id": format!("order-{bundle_id}"),
    });
    let (status, answer) = client.owner(Method::POST, "/v1/bundles", Some(body)).await?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("POST /v1/bundles answered {status}: {answer}");
    }
    answer["bundle_id"].as_str().map(str::to_string).ok_or_else(|| anyhow!("no bundle_id in {answer}"))
}

/// The user writes `text` in the bundle's thread (message id `message_id`).
pub async fn chat(client: &SoukClient, bundle_id: &str, message_id: &str, text: &str) -> anyhow::Result<()> {
    let (status, answer) = client.owner(Method::POST, "/v1/chat", Some(json!({ "bundle_id": bundle_id, "user_id": USER, "text": text, "message_id": message_id }))).await?;
    if status != reqwest::StatusCode::ACCEPTED {
        bail!("POST /v1/chat answered {status}: {answer}");
    }
    Ok(())
}

/// The bundle as the read API shows it once `ready` holds for it.
pub async fn bundle_when(client: &SoukClient, bundle_id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    client
        .wait(what, || async {
            let (status, body) = client.owner(Method::GET, &format!("/v1/bundles/{bundle_id}"), None).await?;
            Ok((status == reqwest::StatusCode::OK && ready(&body)).then_some(body))
        })
        .await
}

/// The texts of the bundle's thread, in order.
pub fn thread(bundle: &Value) -> Vec<String> {
    bundle["messages"].as_array().map(|m| m.iter().filter_map(|m| m["text"].as_str().map(str::to_string)).collect()).unwrap_or_default()
}

/// Waits until the bundle's thread has a message of `kind` and the snapshot of the negotiation it
/// is about, from the same step, is projected too (the sink may commit a message before the snapshot emitted with it:
/// a batch ends between them); returns the bundle.
pub async fn thread_has(client: &SoukClient, bundle_id: &str, kind: &str) -> anyhow::Result<Value> {
    let instant = |v: &Value| v.as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok());
    bundle_when(client, bundle_id, &format!("a {kind} message in bundle {bundle_id}'s thread"), |b| {
        let Some(told) = b["messages"].as_array().and_then(|m| m.iter().rev().find(|m| m["kind"] == kind)) else { return false };
        let about = b["negotiations"].as_array().into_iter().flatten().filter(|n| n["negotiation_id"] == told["negotiation_id"]);
        about.into_iter().all(|n| instant(&n["updated_at"]) >= instant(&told["at"]))
    })
    .await
}

/// Prints the thread messages of `kind` of the bundle (as the user reads them).
fn print_thread(t: &Transcript, bundle: &Value, kinds: &[&str]) {
    for m in bundle["messages"].as_array().into_iter().flatten().filter(|m| m["kind"].as_str().is_some_and(|k| kinds.contains(&k))) {
        t.souk("user", m["text"].as_str().unwrap_or_default());
    }
}

/// Prints the partners' replies to the bundle's first negotiation from `from` on; returns how many
/// there are.
async fn print_replies(client: &SoukClient, t: &Transcript, bundle: &Value, from: usize) -> anyhow::Result<usize> {
    let Some(nid) = bundle["negotiations"][0]["negotiation_id"].as_str() else { return Ok(0) };
    let n = client.get(&format!("/v1/negotiations/{nid}")).await?;
    let replies = n["replies"].as_array().cloned().unwrap_or_default();
    for r in replies.iter().skip(from) {
        let who = if r["partner_id"] == "partner-a" { "Shop A" } else { "Shop B" };
        t.customer(who, &format!("{}   (read as {})", r["text"].as_str().unwrap_or_default(), r["classification"].as_str().unwrap_or("?")));
    }
    Ok(replies.len())
}

/// `souk demo flowers`: seed-000 §6.1 with its exact data and texts, the simulated partners
/// answering by themselves, then the 61.00 variant that escalates. Needs the partner simulator and
/// the local Cloud API handing it souk's messages.
pub async fn play(client: &SoukClient, t: &Transcript) -> anyhow::Result<()> {
    use super::scenario::outbound_messages;
    t.scene("live demo of autonomous recovery (seed-000 §6.1): setup");
    let (status, ready) = client.owner(Method::POST, "/v1/simulator/live-demo/setup", Some(json!({}))).await?;
    anyhow::ensure!(status == reqwest::StatusCode::OK, "live-demo setup answered {status}: {ready}");
    for p in ["partner_a", "partner_b"] {
        let p = &ready[p];
        t.owner(&format!(
            "{} ({}, trust {}): {} at {}",
            p["name"].as_str().unwrap_or("?"),
            p["whatsapp"].as_str().unwrap_or("?"),
            p["trust_score"],
            p["product"]["name"].as_str().unwrap_or("?"),
            p["product"]["price"].as_str().unwrap_or("?")
        ));
    }
    let now = chrono::Utc::now();
    let at = |d: chrono::Duration| (now + d).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let bundle = order_bundle(client, "bundle-pink", &at(chrono::Duration::zero()), &at(chrono::Duration::days(1)), &at(chrono::Duration::days(1) + chrono::Duration::hours(2)), false).await?;
    let b = bundle_when(client, &bundle, "the bundle", |b| !b["bundle"].is_null()).await?;
    t.owner(&format!("bundle {bundle}: Red Flowers from Flower Shop A, arriving in {} minutes", b["bundle"]["total_minutes"]));

    t.scene("the user changes the flowers; Partner A refuses; re-sourcing finds Partner B");
    t.customer("user", "I want pink flowers instead of red");
    chat(client, &bundle, "demo-1", "I want pink flowers instead of red").await?;
    t.replies(client, (PARTNER_A, "Shop A"), 1).await?;
    let b = thread_has(client, &bundle, "recovery_proposal").await?;
    let seen = print_replies(client, t, &b, 0).await?;
    print_thread(t, &b, &["recovery_proposal"]);

    t.scene("the user approves; A's leg is cancelled only now, B confirms the new order");
    t.customer("user", "Yes, proceed");
    chat(client, &bundle, "demo-2", "Yes, proceed").await?;
    t.replies(client, (PARTNER_A, "Shop A"), 1).await?;
    t.replies(client, (PARTNER_B, "Shop B"), 1).await?;
    let b = thread_has(client, &bundle, "recovered").await?;
    print_replies(client, t, &b, seen).await?;
    print_thread(t, &b, &["recovered"]);
    let b = bundle_when(client, &bundle, "the updated bundle", |b| b["bundle"]["legs"][0]["partner_id"] == "partner-b").await?;
    let leg = &b["bundle"]["legs"][0];
    t.owner(&format!(
        "bundle updated: {} from {} at {}, {} minutes in all; negotiation {}",
        leg["item"].as_str().unwrap_or("?"),
        leg["partner_name"].as_str().unwrap_or("?"),
        leg["price"].as_str().unwrap_or("?"),
        b["bundle"]["total_minutes"],
        b["negotiations"][0]["status"].as_str().unwrap_or("?")
    ));
    t.owner("Full autonomous recovery demonstrated without human intervention");

    t.scene("variant: Partner B asks 61.00, outside 40.00–60.00");
    let (status, answer) = client.owner(Method::POST, "/v1/simulator/live-demo/setup", Some(json!({ "partner_b_price": "61.00" }))).await?;
    anyhow::ensure!(status == reqwest::StatusCode::OK, "live-demo setup answered {status}: {answer}");
    let bundle = order_bundle(client, "bundle-pink-61", &at(chrono::Duration::zero()), &at(chrono::Duration::days(1)), &at(chrono::Duration::days(1) + chrono::Duration::hours(2)), false).await?;
    t.customer("user", "I want pink flowers instead of red");
    chat(client, &bundle, "demo-3", "I want pink flowers instead of red").await?;
    t.replies(client, (PARTNER_A, "Shop A"), 1).await?;
    let b = thread_has(client, &bundle, "escalated").await?;
    print_replies(client, t, &b, 0).await?;
    print_thread(t, &b, &["escalated"]);
    t.owner(&format!("escalated: {}", b["negotiations"][0]["reason"].as_str().unwrap_or("?")));
    let to_b = outbound_messages(client, PARTNER_B).await?.len();
    t.owner(&format!("Partner B was asked {to_b} time(s) in all: only for the first bundle"));
    Ok(())
}
