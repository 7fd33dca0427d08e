//! Failed-authentication anomalies on the real stack (rules AU3; source 002 §d and table (f)
//! examples 16–17 with API keys in place of passwords): six unknown keys from one address within
//! the hour raise `excessive_failed_logins` (high); one staff key used from four loopback
//! addresses within a day raises `multiple_ip_addresses` (medium) and tells the owner in the
//! notification feed. The audit never records a key, and personal data in a log line is masked.

mod support;

use reqwest::StatusCode;
use souk_schemas::security::{SecurityInput, SecurityOutput};
use support::inbox::{decoded, eventually};
use support::textile::Textile;

/// A client whose requests come from loopback address `127.0.0.<n>`.
fn from(n: u8) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, n])).build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_16_and_17_failed_keys_and_one_key_from_many_addresses() {
    let t = Textile::start_unseeded("http-auth-anomalies").await;
    let url = format!("{}/v1/rules", t.client.base());

    // Example 16: the 6th unknown key from 127.0.0.9 within the hour.
    for n in 0..6 {
        let resp = from(9).get(&url).bearer_auth(format!("stolen-key-{n}")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    }
    let anomaly = eventually("excessive_failed_logins", async || {
        decoded::<SecurityOutput>(&t, "security.events").await.into_iter().find_map(|e| match e {
            SecurityOutput::SecurityAnomaly(a) if a.kind == "excessive_failed_logins" => Some(a),
            _ => None,
        })
    })
    .await;
    assert_eq!((anomaly.severity.as_str(), anomaly.subject.as_str(), anomaly.count, anomaly.window_seconds), ("high", "127.0.0.9", 6, 3600));

    // Example 17: the viewer's key from 127.0.0.2–4 is three addresses (normal), from .5 a fourth.
    let viewer = t.client.tenant.staff_key("viewer").unwrap().to_string();
    for n in 2..=4 {
        assert_eq!(from(n).get(&url).bearer_auth(&viewer).send().await.unwrap().status(), StatusCode::OK);
    }
    t.caught_up("auth-anomalies", "security.inputs").await;
    let kinds = |events: &[SecurityOutput]| events.iter().filter(|e| matches!(e, SecurityOutput::SecurityAnomaly(a) if a.kind == "multiple_ip_addresses")).count();
    assert_eq!(kinds(&decoded::<SecurityOutput>(&t, "security.events").await), 0, "three addresses are normal");
    assert_eq!(from(5).get(&url).bearer_auth(&viewer).send().await.unwrap().status(), StatusCode::OK);
    t.caught_up("auth-anomalies", "security.inputs").await;
    let events: Vec<SecurityOutput> = decoded(&t, "security.events").await;
    let attempts: Vec<SecurityInput> = decoded(&t, "security.inputs").await;
    assert_eq!(kinds(&events), 1, "{events:?}\n{attempts:?}\n{}", t.log_tail());
    let note = eventually("the owner's security notification", async || {
        let feed = t.client.get("/v1/notifications").await.ok()?;
        feed["notifications"].as_array()?.iter().find(|n| n["kind"] == "security").cloned()
    })
    .await;
    assert_eq!(note["priority"], "medium", "{note}");
    assert_eq!(note["context"]["ips"], serde_json::json!(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"]), "{note}");
    let anomalies = decoded::<SecurityOutput>(&t, "security.events").await;
    assert_eq!(kinds(&anomalies), 1);

    // The audit holds addresses and holders, never a key.
    let attempts: Vec<SecurityInput> = decoded(&t, "security.inputs").await;
    let text = serde_json::to_string(&attempts).unwrap();
    assert!(!text.contains("stolen-key") && !text.contains(&viewer) && !text.contains(&t.client.tenant.api_key), "{text}");
    assert!(attempts.iter().any(|SecurityInput::AuthAttempted(a)| a.principal.as_deref() == Some("viewer-1") && a.success));

    // Example 19 (rules PR5): personal data reaching a log line is masked on the way out — here
    // the raw path of a refused request, which souk logs.
    let resp = from(9).get(format!("{}/v1/nowhere/john@x.com/+15551234567", t.client.base())).bearer_auth("stolen-key-x").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let logs = eventually("the refused path in the log", async || {
        let logs = t.logs();
        logs.contains("/v1/nowhere/").then_some(logs)
    })
    .await;
    assert!(logs.contains("/v1/nowhere/jo***@x.com/***-***-4567"), "{}", t.log_tail());
    assert!(!logs.contains("john@x.com") && !logs.contains("5551234567"));
}
