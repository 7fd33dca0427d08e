//! Business rules of the social inbox on the real stack, through HTTP (source 002 §a.7, F.2.5 and
//! table (f) example 1; rules BR1–BR5): the owner teaches a rule in the owner chat, it is proposed
//! and does nothing until confirmed, then the reply stage applies it to customers' Instagram
//! messages by priority; paused it stops, deleted it stays deleted; words that state no rule are
//! answered with examples.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::inbox::{eventually, say};
use support::textile::Textile;

const EXAMPLE_1: &str = "If someone orders more than 3 items, give them 10% off";
const DISCOUNT: &str = "Good news: orders of more than 3 items get 10% off!";

/// The owner says `text` in the owner chat; the command id and the rule id.
async fn teach(t: &Textile, text: &str) -> (String, String) {
    let (status, answer) = t.client.owner(Method::POST, "/v1/assistant/messages", Some(json!({ "text": text }))).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    (answer["command_id"].as_str().unwrap().to_string(), answer["rule_id"].as_str().unwrap().to_string())
}

async fn outcome(t: &Textile, command_id: &str) -> Value {
    eventually("the command's outcome", async || t.client.get(&format!("/v1/commands/{command_id}")).await.ok()).await
}

async fn rule_when(t: &Textile, id: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    eventually(what, async || {
        let r = t.client.get(&format!("/v1/rules/{id}")).await.ok()?;
        check(&r).then_some(r)
    })
    .await
}

/// The text sent to Instagram user `who`, once sent.
async fn sent_to(t: &Textile, who: &str) -> String {
    eventually(&format!("the answer to {who}"), async || {
        t.whatsapp.requests().into_iter().filter(|r| r.path == "/v17.0/me/messages").find(|r| r.to() == Some(who)).and_then(|r| r.text().map(str::to_string))
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_1_a_rule_taught_in_the_owner_chat_applies_only_once_confirmed() {
    let t = Textile::start_unseeded("inbox-rules").await;
    let (status, shirt) = t
        .client
        .owner(Method::POST, "/v1/inventory/products", Some(json!({"name": "Linen shirt", "category": "clothing", "base_price": "29.99", "variants": [{"stock_quantity": 40}]})))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{shirt}");

    // Example 1: a pricing rule is read and proposed, and the owner chat says so.
    let (command, rule) = teach(&t, EXAMPLE_1).await;
    let answer = outcome(&t, &command).await;
    assert_eq!((answer["accepted"].as_bool(), answer["rule_id"].as_str()), (Some(true), Some(rule.as_str())), "{answer}");
    assert_eq!(answer["detail"], "I understood a pricing rule \"10% discount for more than 3 items\". Confirm it and I'll start using it.");
    let proposed = rule_when(&t, &rule, "the proposed rule", |r| r["status"] == "proposed").await;
    assert_eq!((proposed["type"].as_str(), proposed["description"].as_str(), proposed["discount_percent"].as_str()), (Some("pricing"), Some("10% discount for more than 3 items"), Some("10.00")));
    assert_eq!(proposed["conditions"], json!([{"field": "quantity", "operator": "gt", "value": "3"}]));

    // Not confirmed yet: a customer ordering 5 hears nothing of a discount.
    eventually("the shirt in the availability table", async || {
        let page = t.client.get("/v1/inventory/products").await.ok()?;
        (page["products"][0]["availability"] == "available").then_some(())
    })
    .await;
    say(&t, &[("ig-rule-1", "mid.rule.1", "Do you have 5 linen shirts?")]).await;
    assert_eq!(sent_to(&t, "ig-rule-1").await, "Yes, Linen shirt is currently available!");

    // Confirmed, it applies: the draft carries the rule, and the rule counts the execution.
    t.client.command(Method::POST, &format!("/v1/rules/{rule}/confirm"), json!({})).await.unwrap();
    rule_when(&t, &rule, "the active rule", |r| r["status"] == "active").await;
    say(&t, &[("ig-rule-2", "mid.rule.2", "Do you have 5 linen shirts?")]).await;
    assert_eq!(sent_to(&t, "ig-rule-2").await, format!("Yes, Linen shirt is currently available! {DISCOUNT}"));
    say(&t, &[("ig-rule-3", "mid.rule.3", "Do you have 3 linen shirts?")]).await;
    assert_eq!(sent_to(&t, "ig-rule-3").await, "Yes, Linen shirt is currently available!", "3 is not more than 3");
    rule_when(&t, &rule, "one execution", |r| r["executions"] == 1).await;

    // An answer rule in the owner's words answers what the drafter could not, and auto-sends.
    let (command, shipping) = teach(&t, "If someone asks about shipping, say we ship within 2 days").await;
    assert_eq!(outcome(&t, &command).await["accepted"], true);
    t.client.command(Method::POST, &format!("/v1/rules/{shipping}/confirm"), json!({})).await.unwrap();
    rule_when(&t, &shipping, "the shipping rule active", |r| r["status"] == "active" && r["type"] == "shipping").await;
    say(&t, &[("ig-rule-4", "mid.rule.4", "Do you ship to Lagos? I need 6")]).await;
    assert_eq!(sent_to(&t, "ig-rule-4").await, format!("We ship within 2 days. {DISCOUNT}"));
    let listed = t.client.get("/v1/rules").await.unwrap();
    assert_eq!(listed["rules"].as_array().unwrap().len(), 2, "{listed}");

    // Paused, the discount stops; deleted, it stays deleted.
    t.client.command(Method::PATCH, &format!("/v1/rules/{rule}"), json!({"active": false})).await.unwrap();
    rule_when(&t, &rule, "the paused rule", |r| r["status"] == "inactive").await;
    say(&t, &[("ig-rule-5", "mid.rule.5", "Do you have 5 linen shirts?")]).await;
    assert_eq!(sent_to(&t, "ig-rule-5").await, "Yes, Linen shirt is currently available!");
    let (status, _) = t.client.owner(Method::DELETE, &format!("/v1/rules/{rule}"), None).await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED);
    rule_when(&t, &rule, "the deleted rule", |r| r["status"] == "deleted").await;
    let again = t.client.command(Method::POST, &format!("/v1/rules/{rule}/confirm"), json!({})).await.unwrap();
    let refused = outcome(&t, &again).await;
    assert_eq!((refused["accepted"].as_bool(), refused["code"].as_str()), (Some(false), Some("RULE_DELETED")), "{refused}");
    let remaining = t.client.get("/v1/rules").await.unwrap();
    assert_eq!(remaining["rules"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect::<Vec<_>>(), [shipping.as_str()]);
    assert_eq!(t.client.get("/v1/rules?status=deleted").await.unwrap()["rules"][0]["id"], rule.as_str());

    // Words without a rule: a clear refusal with examples, and no rule.
    let (command, nothing) = teach(&t, "We are closed on Sundays").await;
    let refused = outcome(&t, &command).await;
    assert_eq!((refused["accepted"].as_bool(), refused["code"].as_str()), (Some(false), Some("NO_RULE_FOUND")), "{refused}");
    assert!(refused["detail"].as_str().unwrap().contains("If someone orders more than 3 items"), "{refused}");
    let (status, _) = t.client.owner(Method::GET, &format!("/v1/rules/{nothing}"), None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A change that names nothing is a 400 at the gateway.
    let (status, body) = t.client.owner(Method::PATCH, &format!("/v1/rules/{shipping}"), Some(json!({}))).await.unwrap();
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("EMPTY_CHANGE")), "{body}");
}
