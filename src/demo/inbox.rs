//! The social inbox's story (`souk demo inbox`, issue 13 §8), over souk's public HTTP surfaces
//! only: Instagram DMs signed as Meta signs them, the owner's commands and the read API. A size
//! question answered at once from the availability table (0.92), a doubtful one escalated at 0.65
//! and answered by the owner, a low-stock crossing notified once, a business rule taught in the
//! owner chat and applied once confirmed, and a customer erased. The e2e test
//! (`tests/inbox_demo.rs`) plays the same steps.

use super::client::SoukClient;
use super::scenario::Transcript;
use anyhow::{bail, ensure, Context};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The customers (Instagram-scoped ids) of the story.
pub const AMARA: &str = "ig-amara";
/// Asks a doubtful question.
pub const BAYO: &str = "ig-bayo";
/// Orders in bulk after the owner teaches the discount.
pub const CHIOMA: &str = "ig-chioma";

/// Posts one signed Instagram DM from `sender`.
pub async fn instagram(client: &SoukClient, sender: &str, mid: &str, text: &str) -> anyhow::Result<()> {
    let page = &client.tenant.instagram_page_id;
    let now = chrono::Utc::now().timestamp_millis();
    let body = serde_json::to_vec(&json!({"object": "instagram", "entry": [{"id": page, "time": now, "messaging": [
        {"sender": {"id": sender}, "recipient": {"id": page}, "timestamp": now, "message": {"mid": mid, "text": text}}]}]}))?;
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/instagram", client.base()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", souk_producers::gateway::sign(&client.tenant.instagram_app_secret, &body))
        .body(body)
        .send()
        .await
        .context("posting an Instagram delivery")?;
    ensure!(resp.status() == StatusCode::OK, "the Instagram webhook answered {}", resp.status());
    Ok(())
}

/// The customer's latest reply once it is in `statuses`.
async fn reply_of(client: &SoukClient, customer: &str, statuses: &[&str]) -> anyhow::Result<Value> {
    client
        .wait(&format!("a reply to {customer} ({})", statuses.join("/")), || async {
            let inbox = client.get("/v1/conversations").await?;
            let Some(id) = inbox["conversations"].as_array().into_iter().flatten().find(|c| c["customer_id"] == customer).and_then(|c| c["conversation_id"].as_str()) else {
                return Ok(None);
            };
            let detail = client.get(&format!("/v1/conversations/{id}")).await?;
            let latest = detail["messages"].as_array().and_then(|m| m.last()).cloned();
            Ok(latest.filter(|m| m["status"].as_str().is_some_and(|s| statuses.contains(&s))))
        })
        .await
}

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

/// Plays the story; every step waits for what it shows.
pub async fn play(client: &SoukClient, t: &Transcript) -> anyhow::Result<()> {
    t.scene("the shop's catalog");
    let body = json!({"name": "Linen shirt", "category": "clothing", "base_price": "29.99", "command_id": "demo-linen-shirt", "variants": [
        {"name": "Small", "stock_quantity": 4, "low_stock_threshold": 10, "attributes": {"size": "S"}},
        {"name": "Medium", "stock_quantity": 6, "low_stock_threshold": 10, "attributes": {"size": "M"}},
        {"name": "Large", "stock_quantity": 2, "low_stock_threshold": 10, "attributes": {"size": "L"}}]});
    let (status, created) = client.owner(Method::POST, "/v1/inventory/products", Some(body)).await?;
    ensure!(status == StatusCode::ACCEPTED, "creating the product answered {status}: {created}");
    let product = text(&created["product_id"]).to_string();
    let medium = text(&created["variant_ids"][1]).to_string();
    client.wait("the shirt on sale", || async { Ok(client.get(&format!("/v1/inventory/products/{product}")).await.ok().filter(|p| p["availability"] == "available")) }).await?;
    t.owner("Linen shirt: S 4, M 6, L 2 (low-stock threshold 10; 12 in all: available)");

    t.scene("a question answered at once (0.92)");
    t.customer("Amara", "Do you have the linen shirt in size M?");
    instagram(client, AMARA, "mid.demo.1", "Do you have the linen shirt in size M?").await?;
    let answer = reply_of(client, AMARA, &["sent", "delivered", "read"]).await?;
    ensure!(answer["confidence_score"] == "0.920", "expected 0.92: {answer}");
    t.souk("Amara", &format!("{} (confidence {}, auto-sent)", text(&answer["sent_text"]), text(&answer["confidence_score"])));

    t.scene("a doubtful one, escalated (0.65) and answered by the owner");
    t.customer("Bayo", "Is the blue one still available?");
    instagram(client, BAYO, "mid.demo.2", "Is the blue one still available?").await?;
    let escalated = reply_of(client, BAYO, &["escalated"]).await?;
    let note = client
        .wait("the escalation notification", || async {
            let feed = client.get("/v1/notifications?kind=escalation").await?;
            Ok(feed["notifications"].as_array().and_then(|n| n.first()).cloned())
        })
        .await?;
    ensure!(note["priority"] == "high" && text(&note["title"]).starts_with("Low confidence: 0.65"), "the escalation: {note}");
    t.owner(&format!("notification ({}): {}", text(&note["priority"]), text(&note["title"])));
    let reply_id = text(&escalated["reply_id"]).to_string();
    let conversation = text(&escalated["conversation_id"]).to_string();
    let edit = json!({"text": "We have it in white and natural linen only — shall I hold a medium for you?", "command_id": "demo-edit-bayo"});
    client.command(Method::POST, &format!("/v1/conversations/{conversation}/replies/{reply_id}/edit"), edit).await?;
    let sent = reply_of(client, BAYO, &["sent", "delivered", "read"]).await?;
    t.souk("Bayo", &format!("{} (edited by the owner)", text(&sent["sent_text"])));

    t.scene("a low-stock crossing, notified once");
    for (n, by) in [(1, -3), (2, -1)] {
        let command = client.command(Method::POST, "/v1/inventory/stock/adjust", json!({"variant_id": medium, "adjustment": by, "reason": "sold", "command_id": format!("demo-sale-{n}")})).await?;
        let outcome = client.wait_command(&command).await?;
        t.owner(&format!("sold {} M: {}", -by, text(&outcome["detail"])));
    }
    let low = client
        .wait("the low-stock notification", || async {
            let feed = client.get("/v1/notifications?kind=low_stock").await?;
            Ok(feed["notifications"].as_array().filter(|n| !n.is_empty()).cloned())
        })
        .await?;
    client.wait("the shirt at 8", || async { Ok(client.get(&format!("/v1/inventory/products/{product}")).await.ok().filter(|p| p["total_stock"] == 8)) }).await?;
    let again = client.get("/v1/notifications?kind=low_stock").await?;
    ensure!(again["notifications"].as_array().map_or(0, Vec::len) == 1, "one crossing, one notification: {again}");
    t.owner(&format!("notification ({}): {} — once, not at every sale", text(&low[0]["priority"]), text(&low[0]["title"])));

    t.scene("a business rule, taught and applied");
    let taught = "If someone orders more than 3 items, give them 10% off";
    t.owner(&format!("owner chat: {taught}"));
    let (status, answer) = client.owner(Method::POST, "/v1/assistant/messages", Some(json!({"text": taught, "command_id": "demo-rule-1"}))).await?;
    ensure!(status == StatusCode::ACCEPTED, "the owner chat answered {status}: {answer}");
    let rule = text(&answer["rule_id"]).to_string();
    let proposed = client.wait_command("demo-rule-1").await?;
    t.souk("owner", text(&proposed["detail"]));
    client.command(Method::POST, &format!("/v1/rules/{rule}/confirm"), json!({"command_id": "demo-rule-1-confirm"})).await?;
    client.wait("the rule active", || async { Ok(client.get(&format!("/v1/rules/{rule}")).await.ok().filter(|r| r["status"] == "active")) }).await?;
    t.owner("confirmed");
    t.customer("Chioma", "Can I get 5 linen shirts?");
    instagram(client, CHIOMA, "mid.demo.3", "Can I get 5 linen shirts?").await?;
    let bulk = reply_of(client, CHIOMA, &["sent", "delivered", "read"]).await?;
    ensure!(text(&bulk["sent_text"]).contains("10% off"), "the rule applies: {bulk}");
    t.souk("Chioma", &format!("{} (rule {rule})", text(&bulk["sent_text"])));

    t.scene("a customer erased (GDPR)");
    let amara = text(&answer_conversation(client, AMARA).await?).to_string();
    let (status, erased) = client.owner(Method::POST, &format!("/v1/conversations/{amara}/erase"), Some(json!({"reason": "customer request", "command_id": "demo-erase-amara"}))).await?;
    ensure!(status == StatusCode::ACCEPTED, "erase answered {status}: {erased}");
    client
        .wait("Amara gone from the read side", || async {
            let (status, _) = client.owner(Method::GET, &format!("/v1/conversations/{amara}"), None).await?;
            Ok((status == StatusCode::NOT_FOUND).then_some(()))
        })
        .await?;
    t.owner(&format!("erased Amara: {} keys shredded; her conversation, messages and notifications are gone", erased["keys_shredded"]));
    Ok(())
}

/// The conversation id of `customer` as a JSON string.
async fn answer_conversation(client: &SoukClient, customer: &str) -> anyhow::Result<Value> {
    let inbox = client.get("/v1/conversations").await?;
    match inbox["conversations"].as_array().into_iter().flatten().find(|c| c["customer_id"] == customer) {
        Some(c) => Ok(c["conversation_id"].clone()),
        None => bail!("no conversation of {customer}"),
    }
}
