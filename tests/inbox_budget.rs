//! Instagram's 200 calls per hour (source 002 a.9; rules IB6), on the real stack: 201 customers
//! greet the shop within a minute; 200 answers go out, the 201st is held back and reported
//! `throttled` with the time it will go — never dropped — and goes out as soon as the connection's
//! rolling hour has room (here: once its first calls are made an hour old in the dispatcher's
//! ledger, which is what the passing of an hour does to it).

mod support;

use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use support::textile::Textile;

async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn instagram_sends(t: &Textile) -> usize {
    t.whatsapp.requests().iter().filter(|r| r.path.ends_with("/me/messages") && r.answered == 200).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_201st_instagram_call_in_an_hour_waits_and_nothing_is_dropped() {
    let t = Textile::start_unseeded("inbox-budget").await;
    let (page, secret) = (t.client.tenant.instagram_page_id.clone(), t.client.tenant.instagram_app_secret.clone());
    let now_ms = chrono::Utc::now().timestamp_millis();
    let messaging: Vec<Value> =
        (0..201).map(|i| json!({"sender": {"id": format!("fan-{i}")}, "recipient": {"id": page}, "timestamp": now_ms + i, "message": {"mid": format!("mid.fan.{i}"), "text": "Hello"}})).collect();
    let body = serde_json::to_vec(&json!({"object": "instagram", "entry": [{"id": page, "time": now_ms, "messaging": messaging}]})).unwrap();
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/instagram", t.client.base()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", souk_producers::gateway::sign(&secret, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    // 200 go out; one reply is held back and says until when.
    let throttled = eventually("a throttled reply", async || {
        let replies = t.client.get("/v1/replies?status=throttled").await.ok()?;
        replies["replies"].as_array().filter(|r| !r.is_empty()).cloned()
    })
    .await;
    assert_eq!(throttled.len(), 1, "{throttled:?}");
    assert!(throttled[0]["detail"].as_str().is_some_and(|d| d.contains("hourly budget")), "{throttled:?}");
    eventually("the 200 answers of the hour", async || (instagram_sends(&t) == 200).then_some(())).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(instagram_sends(&t), 200, "the budget holds: no 201st call within the hour");

    // The hour passes for the connection's first calls: the held reply goes out, once.
    let db = sqlx::PgPool::connect(&std::env::var("SOUK_DATABASE_URL").unwrap()).await.unwrap();
    sqlx::query("UPDATE social_send_calls SET at = at - interval '61 minutes' WHERE tenant_id = $1").bind(&t.client.tenant.id).execute(&db).await.unwrap();
    eventually("the held reply sent", async || {
        let replies = t.client.get("/v1/replies?status=sent&limit=500").await.ok()?;
        (replies["replies"].as_array()?.len() == 201).then_some(())
    })
    .await;
    assert_eq!(instagram_sends(&t), 201, "every reply sent exactly once");
    let throttled_id = throttled[0]["reply_id"].as_str().unwrap();
    let (status,): (String,) = sqlx::query_as("SELECT status FROM social_dispatch WHERE tenant_id = $1 AND reply_id = $2").bind(&t.client.tenant.id).bind(throttled_id).fetch_one(&db).await.unwrap();
    assert_eq!(status, "SENT");
}
