//! Standing intents end to end (rules SI1–SI7, B5, B5a): through HTTP on a running `souk run`,
//! with a driven clock — ticks at chosen times are the only way time passes, so a wait of days is
//! tested in seconds. Observations come in through `POST /v1/observations` with the source's time,
//! the intent's progress and narrated updates are read back from `GET /v1/standing-intents/{id}`.

mod support;

use chrono::{Datelike, Duration, Utc, Weekday};
use serde_json::{json, Value};
use souk::demo::flowers::{self, DESTINATION, PARTNER_A};
use support::orchestration::{rfc, HOUR};
use support::textile::Textile;

const DAY: i64 = 24 * HOUR;

/// The next Tuesday 09:00 UTC at least an hour from now: Thursday starts 39 hours later.
fn tuesday() -> i64 {
    let mut d = (Utc::now() + Duration::hours(2)).date_naive() + Duration::days(1);
    while d.weekday() != Weekday::Tue {
        d += Duration::days(1);
    }
    d.and_hms_opt(9, 0, 0).unwrap().and_utc().timestamp_millis()
}

fn date_of(at: i64) -> String {
    chrono::DateTime::from_timestamp_millis(at).unwrap().format("%Y-%m-%d").to_string()
}

/// Ticks at `tuesday`, declares the flower partners and creates `intent_id` with `conditions`.
async fn created(t: &Textile, tuesday: i64, intent_id: &str, conditions: Value, trust: &str, requires_approval: bool) {
    t.tick_at(tuesday).await;
    flowers::declare_partners(&t.client, "55.00").await.unwrap();
    let body = json!({
        "intent_id": intent_id, "user_id": flowers::USER, "description": "Send flowers on the next sunny Thursday",
        "conditions": conditions, "trust_level": trust, "requires_approval": requires_approval, "payment_method": "pm_card_visa",
        "legs": [{ "name": "Flowers", "product_id": "red-flowers-a", "within_minutes": 180, "destination": { "lat": DESTINATION.0, "lng": DESTINATION.1 } }],
    });
    let (status, answer) = t.client.owner(reqwest::Method::POST, "/v1/standing-intents", Some(body)).await.unwrap();
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["thread_id"], format!("thread-{intent_id}"));
}

/// The intent once `ready` holds for it (its progress included).
async fn intent_when(t: &Textile, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    let found = t.client.wait(what, || async {
        let (status, intent) = t.client.owner(reqwest::Method::GET, &format!("/v1/standing-intents/{id}"), None).await?;
        Ok((status == 200 && ready(&intent)).then_some(intent))
    });
    found.await.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()))
}

/// The narrated updates of the user's thread, in order (none before the intent is projected).
async fn narratives(t: &Textile, id: &str) -> Vec<String> {
    let (status, progress) = t.client.owner(reqwest::Method::GET, &format!("/v1/standing-intents/{id}/progress?log_type=narrative"), None).await.unwrap();
    if status == 404 {
        return Vec::new();
    }
    progress["entries"].as_array().unwrap().iter().map(|e| e["text"].as_str().unwrap_or_default().to_string()).collect()
}

async fn narrated(t: &Textile, id: &str, text: &str) {
    let what = format!("the narrative {text:?}");
    let found = t.client.wait(&what, || async { Ok(narratives(t, id).await.iter().any(|n| n == text).then_some(())) });
    if let Err(e) = found.await {
        panic!("{e:#}\nnarratives: {:?}\n{}", narratives(t, id).await, t.log_tail());
    }
}

async fn forecast(t: &Textile, id: &str, date: &str, value: &str, at: i64) {
    let body = json!({ "observation_id": id, "kind": "weather", "location": "amsterdam", "date": date, "value": value, "observed_at": rfc(at), "source": "forecast-test" });
    let (status, answer) = t.client.owner(reqwest::Method::POST, "/v1/observations", Some(body)).await.unwrap();
    assert_eq!(status, 202, "{answer}");
}

/// The intent's machine has applied everything on its input so far.
async fn decided(t: &Textile) {
    t.caught_up("intent-watch", "observations").await;
    t.caught_up("standing-intent", "intents.inputs").await;
    t.caught_up("orchestration-postgres", "intents.events").await;
}

fn sunny_thursday() -> Value {
    json!({ "weather": "sunny", "location": "amsterdam", "day_of_week": "thursday" })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sunny_thursday_intent_waits_through_a_rainy_forecast_and_fires_on_the_sunny_one() {
    let t = Textile::start_driven("intent-sunny").await;
    let x = tuesday();
    let thursday = date_of(x + 39 * HOUR);
    created(&t, x, "si-sunny", sunny_thursday(), "medium", false).await;
    narrated(&t, "si-sunny", "Found 1 vendors for your request!").await;
    forecast(&t, "f1", &thursday, "sunny", x + HOUR).await;
    forecast(&t, "f2", &thursday, "rainy", x + 2 * HOUR).await;
    narrated(&t, "si-sunny", "Still waiting to buy the flowers because the forecast for Thursday just changed to 'Rainy'—monitoring for a clear window.").await;
    // Thursday 00:00: the check finds it Thursday, and rainy.
    t.tick_at(x + 39 * HOUR).await;
    decided(&t).await;
    // One tick jumps the clock: the check fires once then, on its hourly grid.
    let intent = intent_when(&t, "si-sunny", "the Thursday check", |i| i["checks"][1]["met"] == true).await;
    assert_eq!(intent["status"], "active", "{intent}");
    let weather = &intent["checks"][0];
    assert_eq!((weather["met"].as_bool(), weather["observed"].as_str()), (Some(false), Some("rainy")));
    assert_eq!(intent["checks"][1]["met"], true, "it is Thursday");
    forecast(&t, "f3", &thursday, "sunny", x + 40 * HOUR).await;
    let intent = intent_when(&t, "si-sunny", "executing", |i| i["status"] == "executing").await;
    assert_eq!(intent["bundle_id"], "si-si-sunny");
    assert_eq!(intent["if_text"], "Weather == Sunny AND Day Of Week == Thursday");
    assert_eq!(intent["then_text"], "Order Flowers");
    narrated(&t, "si-sunny", "I'm placing your order for the flowers because all your conditions are met (Weather == Sunny AND Day Of Week == Thursday).").await;
    let bundle = flowers::bundle_when(&t.client, "si-si-sunny", "the placed bundle", |b| b["bundle"]["legs"].as_array().is_some_and(|l| l.len() == 1)).await;
    let bundle = bundle.unwrap_or_else(|e| panic!("{e:#}\n{}", t.log_tail()));
    assert_eq!(bundle["bundle"]["legs"][0]["product_id"], "red-flowers-a");
    assert_eq!(bundle["bundle"]["thread_id"], "thread-si-sunny", "the bundle lives in the intent's thread");
    let progress = t.client.get("/v1/standing-intents/si-sunny/progress").await.unwrap();
    let kinds: Vec<&str> = progress["entries"].as_array().unwrap().iter().filter_map(|e| e["log_type"].as_str()).collect();
    for kind in ["thought", "narrative", "event", "activity"] {
        assert!(kinds.contains(&kind), "the ledger has {kind} entries: {kinds:?}");
    }
    let card = progress["entries"].as_array().unwrap().iter().find(|e| e["log_type"] == "narrative").unwrap()["card"].clone();
    assert_eq!(card["version"], "1.5", "each narrative comes with its Progress Ledger card: {card}");

    // The checkout (rules CO1–CO3): Partner A reserves, the card is charged, the intent is done.
    t.wait_sent(PARTNER_A, 1).await;
    t.client.press(PARTNER_A, "wamid.si-sunny.reserve", "neg:accept", "Accept").await.unwrap();
    let intent = intent_when(&t, "si-sunny", "completed", |i| i["status"] == "completed").await;
    assert!(intent["reason"].is_null(), "{intent}");
    narrated(&t, "si-sunny", "Your order has been placed successfully!").await;
    let paid = t.stripe.payment_intents();
    assert_eq!(paid.len(), 1, "one payment for the intent's bundle: {paid:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_condition_that_never_holds_is_cancelled_after_30_days() {
    let t = Textile::start_driven("intent-30-days").await;
    let x = tuesday();
    created(&t, x, "si-never", sunny_thursday(), "high", false).await;
    t.tick_at(x + 30 * DAY - 1_000).await;
    decided(&t).await;
    assert_eq!(intent_when(&t, "si-never", "the intent", |_| true).await["status"], "active", "a second before 30 days it still waits");
    t.tick_at(x + 30 * DAY).await;
    let intent = intent_when(&t, "si-never", "cancelled", |i| i["status"] == "cancelled").await;
    assert_eq!(intent["reason"], "Intent cancelled - the conditions were not met within 30 days");
    narrated(&t, "si-never", "Intent cancelled - the conditions were not met within 30 days").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unanswered_approval_proceeds_for_high_trust_and_cancels_for_medium() {
    let t = Textile::start_driven("intent-approval").await;
    let x = tuesday();
    created(&t, x, "si-high", json!({ "day_of_week": "thursday" }), "high", true).await;
    created(&t, x, "si-medium", json!({ "day_of_week": "thursday" }), "medium", true).await;
    let thursday = x + 39 * HOUR;
    t.tick_at(thursday).await;
    for id in ["si-high", "si-medium"] {
        intent_when(&t, id, "waiting for approval", |i| i["status"] == "waiting_approval").await;
        narrated(&t, id, "I'm waiting for your approval on the flowers before proceeding with the booking.").await;
    }
    t.tick_at(thursday + DAY - 1_000).await;
    decided(&t).await;
    for id in ["si-high", "si-medium"] {
        assert_eq!(intent_when(&t, id, "the intent", |_| true).await["status"], "waiting_approval", "a second before 24 h nothing happens");
    }
    t.tick_at(thursday + DAY).await;
    let high = intent_when(&t, "si-high", "high trust proceeding", |i| i["status"] == "executing").await;
    assert_eq!(high["bundle_id"], "si-si-high");
    narrated(&t, "si-high", "Proceeding automatically based on your preferences").await;
    let medium = intent_when(&t, "si-medium", "medium trust cancelled", |i| i["status"] == "cancelled").await;
    assert_eq!(medium["reason"], "Intent cancelled - no approval received");
    assert!(medium["bundle_id"].is_null(), "nothing is ordered for a cancelled intent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_user_cancels_a_waiting_intent_and_bad_intents_are_refused_with_their_reason() {
    let t = Textile::start_driven("intent-cancel").await;
    let x = tuesday();
    created(&t, x, "si-cancel", sunny_thursday(), "medium", true).await;
    intent_when(&t, "si-cancel", "active", |i| i["status"] == "active").await;
    let (status, answer) = t.client.owner(reqwest::Method::DELETE, "/v1/standing-intents/si-cancel", None).await.unwrap();
    assert_eq!(status, 202, "{answer}");
    let intent = intent_when(&t, "si-cancel", "cancelled", |i| i["status"] == "cancelled").await;
    assert_eq!(intent["reason"], "Intent cancelled as requested");
    forecast(&t, "f1", &date_of(x + 39 * HOUR), "sunny", x + 39 * HOUR).await;
    t.tick_at(x + 40 * HOUR).await;
    decided(&t).await;
    assert_eq!(intent_when(&t, "si-cancel", "the intent", |_| true).await["status"], "cancelled", "a cancelled intent ignores the world");

    let refused = |body: Value| {
        let client = &t.client;
        async move { client.owner(reqwest::Method::POST, "/v1/standing-intents", Some(body)).await.unwrap() }
    };
    let leg = |within: i64| json!([{ "name": "Flowers", "product_id": "red-flowers-a", "within_minutes": within, "destination": { "lat": DESTINATION.0, "lng": DESTINATION.1 } }]);
    let (status, e) = refused(json!({ "user_id": "u", "description": "d", "conditions": sunny_thursday(), "legs": leg(5) , "payment_method": "pm_card_visa" })).await;
    assert_eq!((status.as_u16(), e["error"].as_str()), (400, Some("INFEASIBLE")), "{e}");
    assert!(e["reason"].as_str().unwrap().contains("more than its 5 minutes"), "{e}");
    let (status, e) = refused(json!({ "user_id": "u", "description": "d", "conditions": {}, "legs": leg(180) , "payment_method": "pm_card_visa" })).await;
    assert_eq!((status.as_u16(), e["reason"].as_str()), (400, Some("conditions: a standing intent needs at least one condition")), "{e}");
    let (status, e) = refused(json!({ "user_id": "u", "description": "d", "conditions": { "weather": "sunny" }, "legs": leg(180) , "payment_method": "pm_card_visa" })).await;
    assert_eq!(status, 400, "a weather condition needs its location: {e}");
    let (status, e) = refused(json!({ "user_id": "u", "description": "d", "conditions": { "day_of_week": "someday" }, "legs": leg(180) , "payment_method": "pm_card_visa" })).await;
    assert_eq!(status, 400, "{e}");
}
