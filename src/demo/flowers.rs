//! The orchestration story (seed-000 §6.1, "Live Demo of Autonomous Recovery"), as data and steps
//! over souk's public HTTP surfaces: the two florists with their exact names, places, numbers and
//! products, and a bundle whose flowers leg Partner A holds. The e2e tests and `souk demo
//! flowers` run the same steps.

use super::client::SoukClient;
use anyhow::{anyhow, bail};
use reqwest::Method;
use serde_json::{json, Value};

/// Partner A's WhatsApp number.
pub const PARTNER_A: &str = "1234567890";
/// Partner B's WhatsApp number.
pub const PARTNER_B: &str = "1234567891";
/// The flowers leg's delivery point: 6 minutes' ride from Partner A and 11 from Partner B (both
/// prepare in 20 minutes), so Partner B makes the bundle 5 minutes later (rules TC1).
pub const DESTINATION: (f64, f64) = (40.7265, -73.9950);
/// The user who orders.
pub const USER: &str = "user-1";

/// A florist of the demo.
fn florist(name: &str, at: (f64, f64), number: &str) -> Value {
    json!({
        "name": name, "business_type": "florist", "location": { "lat": at.0, "lng": at.1 }, "capabilities": ["florist"],
        "channel": "whatsapp", "channel_id": format!("+{number}"), "opted_in": true, "preparation_minutes": 20,
        "verification": { "licence": true, "insurance": true, "tax_id": true }, "positive_reviews": 2, "on_time_percent": 95,
    })
}

/// Declares Partner A (Red Flowers 50.00) and Partner B (Pink Flowers at `partner_b_price`), 10
/// of each in stock.
pub async fn declare_partners(client: &SoukClient, partner_b_price: &str) -> anyhow::Result<()> {
    client.command(Method::PUT, "/v1/partners/partner-a", florist("Flower Shop A", (40.7128, -74.0060), PARTNER_A)).await?;
    client.command(Method::PUT, "/v1/partners/partner-b", florist("Flower Shop B", (40.7580, -73.9855), PARTNER_B)).await?;
    let product = |partner: &str, name: &str, price: &str| json!({ "partner_id": partner, "name": name, "price": price, "currency": "USD", "capabilities": ["florist"], "inventory_count": 10 });
    // The gateway finds each product's partner in its table, caught up with the partner just declared.
    for (id, body) in [("red-flowers-a", product("partner-a", "Red Flowers", "50.00")), ("pink-flowers-b", product("partner-b", "Pink Flowers", partner_b_price))] {
        client.command(Method::PUT, &format!("/v1/products/{id}"), body).await?;
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

/// Waits until the bundle's thread has a message of `kind`; returns the bundle.
pub async fn thread_has(client: &SoukClient, bundle_id: &str, kind: &str) -> anyhow::Result<Value> {
    bundle_when(client, bundle_id, &format!("a {kind} message in bundle {bundle_id}'s thread"), |b| b["messages"].as_array().is_some_and(|m| m.iter().any(|m| m["kind"] == kind))).await
}
