//! Command rate limits per API key on the real stack (rules AU2; source 002 §a.9 and table (f)
//! example 15 with API keys in place of sign-ups): with the source's defaults, the 61st command of
//! a key within a minute is answered 429 with `retry_after` (and `Retry-After`) and produces
//! nothing; another key of the tenant, reads and webhooks go on.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;
use support::inbox::say;
use support::textile::Textile;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_15_the_61st_command_of_a_key_in_a_minute_is_429_with_retry_after() {
    let t = Textile::start_unseeded_configured("http-rate-limits", |tenant| tenant.rate_limits = None).await;
    let http = reqwest::Client::new();
    let patch = |key: String, n: usize| {
        let http = http.clone();
        let url = format!("{}/v1/rules/rule-rate-{n}", t.client.base());
        async move { http.patch(url).bearer_auth(key).json(&json!({"priority": 1, "command_id": format!("rate-{n}")})).send().await.unwrap() }
    };
    let owner = t.client.tenant.api_key.clone();
    for n in 0..60 {
        let resp = patch(owner.clone(), n).await;
        assert_eq!(resp.status(), StatusCode::ACCEPTED, "command {n}");
    }
    let refused = patch(owner.clone(), 60).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let header: u64 = refused.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "RATE_LIMITED", "{body}");
    let retry_after = body["retry_after"].as_u64().unwrap();
    assert!((1..=60).contains(&retry_after) && retry_after == header, "{body} / {header}");
    assert!(body["reason"].as_str().unwrap().contains("60 commands per minute"), "{body}");

    // The refused command produced nothing: its id has no outcome once the others have one.
    let admin = t.client.tenant.staff_key("admin").unwrap().to_string();
    assert_eq!(patch(admin, 61).await.status(), StatusCode::ACCEPTED, "another key has its own window");
    support::inbox::eventually("the 60 outcomes", async || {
        let (status, _) = t.client.owner(Method::GET, "/v1/commands/rate-59", None).await.ok()?;
        (status == StatusCode::OK).then_some(())
    })
    .await;
    t.caught_up("rules-postgres", "rules.events").await;
    let (status, _) = t.client.owner(Method::GET, "/v1/commands/rate-60", None).await.unwrap();
    assert_eq!(status, StatusCode::NOT_FOUND, "a refused command is never published");

    // Reads and webhooks are not limited.
    assert_eq!(t.client.owner(Method::GET, "/v1/rules", None).await.unwrap().0, StatusCode::OK);
    assert_eq!(say(&t, &[("ig-rate-1", "mid.rate.1", "Hi!")]).await.0, StatusCode::OK);
}
