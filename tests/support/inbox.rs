//! Helpers of the social inbox's end-to-end tests: Instagram deliveries signed like Meta signs
//! them, the decoded records of a topic, and a wait on a condition in the log or the read side.

use super::textile::Textile;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;

/// An Instagram webhook delivery to `page` of `(sender, mid, text)` messaging items.
pub fn delivery(page: &str, items: &[(&str, &str, &str)], at_ms: i64) -> Vec<u8> {
    let messaging: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (sender, mid, text))| json!({"sender": {"id": sender}, "recipient": {"id": page}, "timestamp": at_ms + i as i64, "message": {"mid": mid, "text": text}}))
        .collect();
    serde_json::to_vec(&json!({"object": "instagram", "entry": [{"id": page, "time": at_ms, "messaging": messaging}]})).unwrap()
}

/// Posts `items` to the tenant's Instagram webhook, signed with its app secret; the answer.
pub async fn say(t: &Textile, items: &[(&str, &str, &str)]) -> (StatusCode, Value) {
    let body = delivery(&t.client.tenant.instagram_page_id, items, chrono::Utc::now().timestamp_millis());
    let signature = souk_producers::gateway::sign(&t.client.tenant.instagram_app_secret, &body);
    let resp = reqwest::Client::new()
        .post(format!("{}/webhooks/instagram", t.client.base()))
        .header("content-type", "application/json")
        .header("x-hub-signature-256", signature)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// Every record of `topic`, decoded.
pub async fn decoded<T: serde::de::DeserializeOwned>(t: &Textile, topic: &str) -> Vec<T> {
    let mut out = Vec::new();
    for r in t.pipeline.read(topic).await {
        if let Some(payload) = r.payload {
            out.push(t.pipeline.codec.decode::<T>(&payload).await.unwrap());
        }
    }
    out
}

/// Waits (up to 2 minutes) until `probe` finds what it looks for.
pub async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
