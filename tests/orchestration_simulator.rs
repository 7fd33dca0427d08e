//! The partner simulator as the partners (seed-000 module 25, §6.1): the live demo set up over
//! HTTP, with Flower Shop A and B answering souk's WhatsApp messages themselves through the signed
//! webhook — A refuses pink, B accepts the order — so the recovery runs with nobody but the user
//! typing; and the manual mode, where a request waits in the queue until an admin answers it.

mod support;

use reqwest::Method;
use serde_json::json;
use souk::demo::flowers::{self, PARTNER_A, PARTNER_B};
use support::orchestration::{rfc, Story, HOUR};
use support::textile::Textile;

async fn setup(t: &Textile, body: serde_json::Value) -> serde_json::Value {
    let (status, answer) = t.client.owner(Method::POST, "/v1/simulator/live-demo/setup", Some(body)).await.unwrap();
    assert_eq!(status, 200, "{answer}");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_live_demo_runs_with_simulated_partners_answering_by_themselves() {
    let t = Textile::start_unseeded("sim-demo").await;
    t.hand_over_to_simulator();
    let ready = setup(&t, json!({})).await;
    assert_eq!(ready["demo_ready"], true);
    assert_eq!((ready["partner_a"]["name"].as_str(), ready["partner_b"]["whatsapp"].as_str()), (Some("Flower Shop A"), Some("+1234567891")));
    assert_eq!(ready["partner_a"]["trust_score"], 100, "licence + insurance + tax id + 2 reviews + 95 % on time, capped");

    let now = chrono::Utc::now().timestamp_millis();
    let bundle = flowers::order_bundle(&t.client, "bundle-sim", &rfc(now), &rfc(now + 24 * HOUR), &rfc(now + 26 * HOUR), false).await.unwrap();
    flowers::chat(&t.client, &bundle, "m1", "I want pink flowers instead of red").await.unwrap();
    // Partner A reads the request and refuses by itself; re-sourcing proposes Partner B.
    let b = flowers::thread_has(&t.client, &bundle, "recovery_proposal").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert!(flowers::thread(&b).iter().any(|m| m.ends_with("The new timeline shows a 5-minute delay. Should I proceed?")), "{b}");
    let nid = b["negotiations"][0]["negotiation_id"].as_str().unwrap().to_string();
    let n = t.client.get(&format!("/v1/negotiations/{nid}")).await.unwrap();
    assert_eq!(n["replies"][0]["text"], "No, we don't have pink flowers available", "{n}");

    flowers::chat(&t.client, &bundle, "m2", "Yes, proceed").await.unwrap();
    let b = flowers::thread_has(&t.client, &bundle, "recovered").await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert_eq!(b["negotiations"][0]["status"], "recovered_autonomously");
    let b = flowers::bundle_when(&t.client, &bundle, "the leg from Partner B", |b| b["bundle"]["legs"][0]["partner_id"] == "partner-b").await.unwrap();
    assert_eq!(b["bundle"]["legs"][0]["item"], "Pink Flowers");
    let n = t.client.get(&format!("/v1/negotiations/{nid}")).await.unwrap();
    let replies: Vec<(&str, &str)> = n["replies"].as_array().unwrap().iter().map(|r| (r["partner_id"].as_str().unwrap(), r["classification"].as_str().unwrap())).collect();
    assert_eq!(replies, vec![("partner-a", "reject"), ("partner-b", "accept")]);
    // Informational messages (A's cancellation) get no answer: each partner answered once.
    t.settle().await;
    assert_eq!((t.sends_to(PARTNER_A).len(), t.sends_to(PARTNER_B).len()), (2, 1));

    let (status, reset) = t.client.owner(Method::POST, "/v1/simulator/live-demo/reset", None).await.unwrap();
    assert_eq!((status.as_u16(), reset["demo_ready"].as_bool()), (200, Some(false)));
    let partners = t.client.wait("the partners removed", || async {
        let p = t.client.get("/v1/partners").await?;
        Ok(p["partners"].as_array().filter(|ps| ps.len() == 2 && ps.iter().all(|p| p["active"] == false)).cloned())
    });
    partners.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_manual_partner_waits_in_the_queue_until_an_admin_answers() {
    let t = Textile::start_unseeded("sim-manual").await;
    t.hand_over_to_simulator();
    setup(&t, json!({})).await;
    let manual = json!({ "name": "Flower Shop A", "mode": "manual", "stock": [{ "item": "Red Flowers", "inventory_count": 10 }] });
    let (status, _) = t.client.owner(Method::PUT, &format!("/v1/simulator/partners/{PARTNER_A}"), Some(manual)).await.unwrap();
    assert_eq!(status, 202);

    let story = Story::change_requested(&t, "bundle-manual", "55.00", chrono::Utc::now().timestamp_millis(), 24 * HOUR, false).await;
    let queue = t.client.wait("a pending request in the manual queue", || async {
        let q = t.client.get("/v1/simulator/queue?status=pending").await?;
        Ok(q["queue"].as_array().filter(|items| !items.is_empty()).cloned())
    });
    let queue = queue.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    let item = &queue[0];
    assert_eq!((item["number"].as_str(), item["request_kind"].as_str(), item["product"].as_str()), (Some(PARTNER_A), Some("product_change"), Some("pink flowers")));
    story.settled().await;
    assert_eq!(story.now().await["negotiations"][0]["status"], "awaiting_partner_reply", "nobody answered yet");

    let queue_id = item["queue_id"].as_str().unwrap();
    let answer = json!({ "text": "No, we don't have pink flowers", "responded_by": "maya" });
    let (status, body) = t.client.owner(Method::POST, &format!("/v1/simulator/queue/{queue_id}/respond"), Some(answer.clone())).await.unwrap();
    assert_eq!(status, 202, "{body}");
    story.negotiation_in("awaiting_recovery_approval").await;
    let (status, body) = t.client.owner(Method::POST, &format!("/v1/simulator/queue/{queue_id}/respond"), Some(answer)).await.unwrap();
    assert_eq!((status.as_u16(), body["error"].as_str()), (409, Some("ALREADY_RESPONDED")), "{body}");
    let q = t.client.get("/v1/simulator/queue").await.unwrap();
    assert_eq!((q["queue"][0]["status"].as_str(), q["queue"][0]["responded_by"].as_str()), (Some("responded"), Some("maya")));
}
