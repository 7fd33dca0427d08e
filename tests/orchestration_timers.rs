//! Negotiation timers on stream time (rules N6, B4), end to end through HTTP with a driven clock:
//! ticks at chosen times are the only way time passes, so 15 minutes, an hour and a day are
//! tested in seconds, and exactly at the limit the timer fires while a second earlier it does not.

mod support;

use souk::demo::flowers::PARTNER_A;
use support::orchestration::{origin, Story, HOUR, MINUTE};
use support::textile::Textile;

/// Opens the change at stream time `x` (the clock ticks there first) with the leg `leg_in` away.
async fn opened<'t>(t: &'t Textile, leg_in: i64, is_jit: bool) -> (Story<'t>, i64) {
    let x = origin();
    t.tick_at(x).await;
    let story = Story::change_requested(t, "bundle-timers", "55.00", x, leg_in, is_jit).await;
    story.settled().await;
    (story, x)
}

/// Ticks at `at` and checks the negotiation is still waiting; then ticks at `fires` and returns
/// the escalation it raised.
async fn fires_at(story: &Story<'_>, silent_until: i64, fires: i64, waiting: &str) -> serde_json::Value {
    story.t.tick_at(silent_until).await;
    story.settled().await;
    assert_eq!(story.now().await["negotiations"][0]["status"], waiting, "a second before the limit nothing fires");
    assert!(story.escalations().await.is_empty());
    story.t.tick_at(fires).await;
    story.negotiation_in("escalated").await;
    story.settled().await;
    let escalations = story.escalations().await;
    assert_eq!(escalations.len(), 1, "a negotiation escalates once: {escalations:?}");
    escalations[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_just_in_time_partner_silent_for_15_minutes_escalates_timeout() {
    let t = Textile::start_driven("timer-jit").await;
    let (story, x) = opened(&t, 24 * HOUR, true).await;
    let e = fires_at(&story, x + 15 * MINUTE - 1_000, x + 15 * MINUTE, "awaiting_partner_reply").await;
    assert_eq!((e["kind"].as_str(), e["priority"].as_str()), (Some("TIMEOUT"), Some("high")));
    assert!(e["detail"].as_str().unwrap().ends_with("No reply within 15 minutes"), "{e}");
    assert!(story.now().await["messages"].as_array().unwrap().iter().any(|m| m["kind"] == "escalated"), "the user is told a person takes over");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partner_silent_for_60_minutes_escalates_timeout() {
    let t = Textile::start_driven("timer-60").await;
    let (story, x) = opened(&t, 24 * HOUR, false).await;
    // 15 minutes is nothing for a leg that is not just in time.
    let e = fires_at(&story, x + 60 * MINUTE - 1_000, x + 60 * MINUTE, "awaiting_partner_reply").await;
    assert_eq!((e["kind"].as_str(), e["priority"].as_str()), (Some("TIMEOUT"), Some("medium")));
    assert!(e["detail"].as_str().unwrap().ends_with("No reply within 60 minutes"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leg_two_hours_away_without_a_reply_escalates_urgency() {
    let t = Textile::start_driven("timer-urgency").await;
    // The leg starts 2 h 30 min after the request: urgent at 30 minutes, before the 60-minute timeout.
    let (story, x) = opened(&t, 2 * HOUR + 30 * MINUTE, false).await;
    let e = fires_at(&story, x + 30 * MINUTE - 1_000, x + 30 * MINUTE, "awaiting_partner_reply").await;
    assert_eq!((e["kind"].as_str(), e["priority"].as_str()), (Some("URGENCY"), Some("high")));
    assert!(e["detail"].as_str().unwrap().contains("has not replied and the leg starts in less than 2 hours"), "{e}");
    story.t.tick_at(x + 61 * MINUTE).await;
    story.settled().await;
    assert_eq!(story.escalations().await.len(), 1, "the reply timer was cancelled with the escalation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_user_silent_for_24_hours_on_a_counter_offer_escalates() {
    let t = Textile::start_driven("timer-24h").await;
    let (story, x) = opened(&t, 3 * 24 * HOUR, false).await;
    t.client.say(PARTNER_A, "wamid.partner-a.counter", "I don't have pink, but I have red roses").await.unwrap();
    let n = story.negotiation_in("awaiting_user_approval").await;
    assert_eq!((n["counter_offer_count"].as_i64(), n["proposal"].as_str()), (Some(1), Some("red roses")));
    let e = fires_at(&story, x + 24 * HOUR - 1_000, x + 24 * HOUR, "awaiting_user_approval").await;
    assert_eq!((e["kind"].as_str(), e["priority"].as_str()), (Some("TIMEOUT"), Some("medium")));
    assert!(e["detail"].as_str().unwrap().ends_with("No user approval within 24 hours"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unassigned_escalation_breaches_its_sla_and_its_priority_rises_once() {
    let t = Textile::start_driven("timer-sla").await;
    let (story, x) = opened(&t, 24 * HOUR, true).await;
    // The just-in-time timeout raises a high escalation at x + 15 min; 15 minutes to assign it.
    let e = fires_at(&story, x + 15 * MINUTE - 1_000, x + 15 * MINUTE, "awaiting_partner_reply").await;
    assert_eq!((e["priority"].as_str(), e["sla_breached"].as_bool()), (Some("high"), Some(false)));
    t.tick_at(x + 30 * MINUTE - 1_000).await;
    story.settled().await;
    t.caught_up("escalation", "escalation.inputs").await;
    t.caught_up("commerce-postgres", "escalation.events").await;
    assert_eq!(story.escalations().await[0]["sla_breached"], false, "a second early: no breach");
    t.tick_at(x + 30 * MINUTE).await;
    let breached = t.client.wait("the SLA breach", || async {
        let e = story.escalations().await;
        Ok(e.first().filter(|e| e["sla_breached"] == true).cloned())
    });
    let breached = breached.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert_eq!((breached["priority"].as_str(), breached["status"].as_str()), (Some("critical"), Some("pending")));
    t.tick_at(x + 5 * HOUR).await;
    t.caught_up("escalation", "escalation.inputs").await;
    t.caught_up("commerce-postgres", "escalation.events").await;
    assert_eq!(story.escalations().await[0]["priority"], "critical", "raised once, never again");
    assert_eq!(t.client.get("/v1/escalations?priority=critical").await.unwrap()["escalations"].as_array().unwrap().len(), 1);
}
