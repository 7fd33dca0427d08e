//! Negotiations end to end through HTTP (rules N3–N8, B1–B3, B7): what a partner's reply does —
//! three counter-offers deadlock, frustration escalates and pauses the machine until a human
//! writes, "No, we don't have …" is a refusal that re-sources — what a hard lock and the user's
//! "No" do, and the escalation lifecycle on a negotiation's escalation (assign → start → resolve,
//! and a command that does not fit refused with its reason).

mod support;

use reqwest::Method;
use serde_json::json;
use souk::demo::flowers::{PARTNER_A, PARTNER_B};
use support::orchestration::{Story, HOUR};
use support::textile::Textile;

fn now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

async fn partner_a_says(t: &Textile, id: &str, text: &str) {
    t.client.say(PARTNER_A, &format!("wamid.a.{id}"), text).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_counter_offers_are_a_deadlock() {
    let t = Textile::start_unseeded("neg-deadlock").await;
    let story = Story::change_requested(&t, "bundle-deadlock", "55.00", now(), 24 * HOUR, false).await;
    partner_a_says(&t, "1", "I don't have pink, but I have red roses").await;
    story.negotiation_in("awaiting_user_approval").await;
    partner_a_says(&t, "2", "How about white lilies?").await;
    let b = flowers_thread_until(&story, |b| b["negotiations"][0]["counter_offer_count"] == 2).await;
    assert_eq!(b["negotiations"][0]["proposal"], "white lilies", "a new offer replaces the proposal");
    partner_a_says(&t, "3", "I can do it for 10% more").await;
    let n = story.negotiation_in("escalated").await;
    assert_eq!(n["counter_offer_count"], 3);
    story.settled().await;
    let e = story.escalations().await;
    assert_eq!((e.len(), e[0]["kind"].as_str(), e[0]["priority"].as_str()), (1, Some("DEADLOCK"), Some("high")));
    assert!(e[0]["detail"].as_str().unwrap().ends_with("3 counter-offers without resolution"), "{e:?}");
    let thread = story.now().await;
    let texts: Vec<&str> = thread["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"Flower Shop A can't provide pink flowers, but offers red roses. Should I accept?"), "{texts:?}");
}

async fn flowers_thread_until(story: &Story<'_>, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    souk::demo::flowers::bundle_when(&story.t.client, &story.bundle, "the bundle", ready).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn frustration_escalates_and_pauses_the_machine_until_a_human_writes() {
    let t = Textile::start_unseeded("neg-sentiment").await;
    let story = Story::change_requested(&t, "bundle-sentiment", "55.00", now(), 24 * HOUR, false).await;
    partner_a_says(&t, "1", "I already told you no pink!").await;
    let n = story.negotiation_in("escalated").await;
    assert_eq!(n["paused"], true);
    story.settled().await;
    let e = story.escalations().await;
    assert_eq!((e[0]["kind"].as_str(), e[0]["priority"].as_str()), (Some("SENTIMENT"), Some("high")), "{e:?}");
    // The machine is paused: the partner's next message is logged for the human, nothing is sent.
    partner_a_says(&t, "2", "hello??").await;
    let nid = n["negotiation_id"].as_str().unwrap();
    let replies = t.client.wait("the second reply logged", || async {
        let n = t.client.get(&format!("/v1/negotiations/{nid}")).await?;
        Ok(n["replies"].as_array().filter(|r| r.len() == 2).cloned())
    });
    assert_eq!(replies.await.unwrap()[0]["classification"], "frustrated");
    story.settled().await;
    assert_eq!(t.sends_to(PARTNER_A).len(), 1, "the paused machine sent the partner nothing");
    // A human writes through the escalation.
    let id = e[0]["escalation_id"].as_str().unwrap().replace('/', "%2F");
    let cmd =
        t.client.command(Method::POST, &format!("/v1/escalations/{id}/intervene"), json!({ "text": "Hi, this is Maya from souk. Sorry for the repeated question!", "actor": "maya" })).await.unwrap();
    assert!(!cmd.is_empty());
    let sent = t.wait_sent(PARTNER_A, 2).await;
    assert_eq!(sent[1].text(), Some("Hi, this is Maya from souk. Sorry for the repeated question!"));
    assert!(sent[1].button_ids().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_we_dont_have_is_a_refusal_that_re_sources() {
    let t = Textile::start_unseeded("neg-refusal").await;
    let story = Story::change_requested(&t, "bundle-refusal", "55.00", now(), 24 * HOUR, false).await;
    partner_a_says(&t, "1", "No, we don't have pink flowers").await;
    let n = story.negotiation_in("awaiting_recovery_approval").await;
    let detail = t.client.get(&format!("/v1/negotiations/{}", n["negotiation_id"].as_str().unwrap())).await.unwrap();
    assert_eq!(detail["replies"][0]["classification"], "reject", "a plain no is a refusal, never confusion");
    assert_eq!(n["proposal"], "Pink Flowers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hard_locked_leg_is_never_swapped_and_escalates() {
    let t = Textile::start_unseeded("neg-hardlock").await;
    souk::demo::flowers::declare_partners(&t.client, "55.00").await.unwrap();
    let mut locked = souk_producers::simulator::live_demo::florist("Flower Shop A", (40.7128, -74.0060), PARTNER_A, true);
    locked["lock_type"] = json!("hard");
    t.client.command(Method::PUT, "/v1/partners/partner-a", locked).await.unwrap();
    let story = Story::order_and_ask(&t, "bundle-locked", now(), 24 * HOUR, false).await;
    assert_eq!(story.now().await["bundle"]["legs"][0]["hard_locked"], true);
    partner_a_says(&t, "1", "No, we don't have pink flowers").await;
    let n = story.negotiation_in("escalated").await;
    assert!(n["reason"].as_str().unwrap().contains("Flower Shop A is hard-locked and cannot be swapped"), "{n}");
    story.settled().await;
    assert_eq!(story.escalations().await[0]["kind"], "STALLED");
    assert!(t.sends_to(PARTNER_B).is_empty(), "nobody else is asked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_user_rejecting_the_alternative_keeps_the_leg_and_escalates() {
    let t = Textile::start_unseeded("neg-userno").await;
    let story = Story::change_requested(&t, "bundle-userno", "55.00", now(), 24 * HOUR, false).await;
    partner_a_says(&t, "1", "No, we don't have pink flowers").await;
    story.negotiation_in("awaiting_recovery_approval").await;
    story.user_says("m2", "No").await;
    let n = story.negotiation_in("escalated").await;
    assert_eq!(n["reason"], "No alternative accepted: the user rejected the replacement");
    story.settled().await;
    let b = story.now().await;
    assert_eq!((b["bundle"]["legs"][0]["partner_id"].as_str(), b["bundle"]["legs"][0]["item"].as_str()), (Some("partner-a"), Some("Red Flowers")), "the leg is unchanged");
    assert_eq!(t.sends_to(PARTNER_A).len(), 1, "nothing was cancelled with Partner A");
    assert!(t.sends_to(PARTNER_B).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_escalation_is_assigned_started_and_resolved_with_notes() {
    let t = Textile::start_unseeded("esc-lifecycle").await;
    let story = Story::change_requested(&t, "bundle-esc", "55.00", now(), 24 * HOUR, false).await;
    partner_a_says(&t, "1", "I already told you no pink!").await;
    story.negotiation_in("escalated").await;
    story.settled().await;
    let e = story.escalations().await;
    let id = e[0]["escalation_id"].as_str().unwrap().to_string();
    let path = |verb: &str| format!("/v1/escalations/{}/{verb}", id.replace('/', "%2F"));
    let client = &t.client;
    let outcome = |cmd: String| async move { client.wait_command(&cmd).await.unwrap() };

    let early = outcome(t.client.command(Method::POST, &path("resolve"), json!({ "notes": "too early" })).await.unwrap()).await;
    assert_eq!((early["accepted"].as_bool(), early["code"].as_str(), early["escalation_id"].as_str()), (Some(false), Some("NOT_ASSIGNED"), Some(id.as_str())), "{early}");
    let assigned = outcome(t.client.command(Method::POST, &path("assign"), json!({ "assignee": "maya" })).await.unwrap()).await;
    assert_eq!(assigned["accepted"], true, "{assigned}");
    outcome(t.client.command(Method::POST, &path("start"), json!({})).await.unwrap()).await;
    let resolved = outcome(t.client.command(Method::POST, &path("resolve"), json!({ "notes": "Called the florist; the user keeps red." })).await.unwrap()).await;
    assert_eq!(resolved["accepted"], true, "{resolved}");
    let all = t.client.get("/v1/escalations?status=resolved&kind=SENTIMENT").await.unwrap();
    let row = &all["escalations"][0];
    assert_eq!((row["assignee"].as_str(), row["notes"].as_str(), row["sla_breached"].as_bool()), (Some("maya"), Some("Called the florist; the user keeps red."), Some(false)), "{all}");
    assert!(!row["resolved_at"].is_null());
    assert!(t.client.get("/v1/escalations?status=pending").await.unwrap()["escalations"].as_array().unwrap().is_empty());
    let (status, _) = t.client.owner(Method::GET, "/v1/escalations?priority=urgent", None).await.unwrap();
    assert_eq!(status, 400);
}
