//! WhatsApp customers of a social-inbox tenant on the real stack (rules SC2): with
//! `whatsapp_inbox = true`, a signed Cloud API delivery goes to the inbox sealed, not to textile
//! ordering; a greeting is answered at once through the Cloud API, a doubtful question escalated to
//! the owner, and the customer's delivery receipt marks the reply delivered.

mod support;

use reqwest::StatusCode;
use souk_schemas::social::SocialEvent;
use support::inbox::{decoded, eventually};
use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whatsapp_customers_of_an_inbox_tenant_are_answered_by_the_inbox() {
    let t = Textile::start_unseeded_configured("inbox-whatsapp", |tenant| tenant.whatsapp_inbox = true).await;
    let phone = t.client.tenant.phone_number_id.clone();
    t.client.say("2348012345678", "wamid.inbox.1", "Hello").await.unwrap();
    t.client.say("2348099999999", "wamid.inbox.2", "Is the blue one still available?").await.unwrap();

    // The greeting is answered at once on the business number, to the customer's WhatsApp id.
    let sent = eventually("the greeting sent", async || t.whatsapp.requests().into_iter().find(|r| r.path.ends_with(&format!("/{phone}/messages")) && r.to() == Some("2348012345678"))).await;
    assert_eq!(sent.text(), Some("Hi! Thanks for reaching out — how can we help you today?"));
    // The doubtful one waits for the owner.
    // The conversation row exists as soon as the message is projected; its escalation follows
    // when the reply stage has drafted, so wait for the escalation itself.
    let inbox = eventually("both conversations, one escalated", async || {
        let inbox = t.client.get("/v1/conversations?platform=whatsapp").await.ok()?;
        let conversations = inbox["conversations"].as_array()?;
        (conversations.len() == 2 && conversations.iter().any(|c| c["status"] == "escalated")).then_some(inbox)
    })
    .await;
    assert_eq!(inbox["conversations"][0]["status"], "escalated", "escalated first: {inbox}");
    let escalated = t.client.get("/v1/replies?status=escalated").await.unwrap();
    assert_eq!(escalated["replies"][0]["content"], "Is the blue one still available?");

    // Nothing reached textile ordering, and nothing personal any topic in plain text.
    t.caught_up("social-conversation", "social.inputs").await;
    assert!(t.pipeline.read("whatsapp.inbound").await.is_empty(), "an inbox tenant's customers are not textile orders");
    let events: Vec<SocialEvent> = decoded(&t, "social.events").await;
    let text = serde_json::to_string(&events).unwrap();
    assert!(!text.contains("2348012345678") && !text.contains("blue one"), "sealed");

    // The customer's phone reports the greeting delivered.
    let wamid = eventually("the greeting's id", async || {
        let replies = t.client.get("/v1/replies").await.ok()?;
        replies["replies"].as_array()?.iter().find(|r| r["status"] == "sent" || r["status"] == "delivered")?["platform_reply_id"].as_str().map(str::to_string)
    })
    .await;
    let status = serde_json::json!({"object": "whatsapp_business_account", "entry": [{"id": "waba", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone},
        "statuses": [{"id": wamid, "status": "delivered", "timestamp": chrono::Utc::now().timestamp().to_string(), "recipient_id": "2348012345678"}]}}]}]});
    let body = serde_json::to_vec(&status).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/whatsapp", t.client.base()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", souk_producers::gateway::sign(&t.client.tenant.app_secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    eventually("the greeting delivered", async || {
        let replies = t.client.get("/v1/replies?status=delivered").await.ok()?;
        (replies["replies"].as_array()?.len() == 1).then_some(())
    })
    .await;
}
