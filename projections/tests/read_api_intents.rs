//! The read API's standing intent routes against real Postgres: intents and progress ledger rows of
//! two tenants are seeded with plain SQL (tenant B reuses tenant A's ids), the router is served on
//! a loopback port and called over HTTP. Covers the JSON shape (times RFC 3339, checks as an array,
//! context and card as JSON), newest-first listing with its filters, the ledger's order and its
//! `log_type` filter, that the narrator's facts (`narrative_request`) are never served, the 400s of
//! a bad query, the 404 `UNKNOWN_STANDING_INTENT`, and tenant isolation.
//! Needs Postgres (`./dev up`; SOUK_DATABASE_URL).

mod api_support;

use api_support::{exec, ids, keys, Api};
use serde_json::{json, Value};
use sqlx::PgPool;

const KEY_A: &str = "intents-key-a";
const KEY_B: &str = "intents-key-b";

const CHECKS: &str = r#"[{"kind": "weather", "value": "sunny", "met": false, "observed": "rainy"}, {"kind": "day_of_week", "value": "thursday", "met": true, "observed": null}]"#;

/// Tenant A: intents i1 (waiting for approval, with a ledger), i2 (another user's, newer) and i3
/// (completed, oldest, no ledger); tenant B: its own i1 with one entry.
async fn seed(pool: &PgPool, a: &str, b: &str) {
    let intent = "INSERT INTO standing_intents (tenant_id, intent_id, user_id, thread_id, description, status, trust_level, requires_approval, if_text, then_text, \
         checks, checks_count, last_checked_at, expires_at, approval_due_at, bundle_id, reason, vendors_found, created_at, last_event_id, updated_at, source_offset) VALUES ";
    exec(
        pool,
        &format!(
            "{intent} ($1, 'i1', 'u1', 'thread-i1', 'flowers on the next sunny Thursday', 'waiting_approval', 'medium', true, 'Weather == Sunny AND Day == Thursday', \
             'Order Flowers', '{CHECKS}', 5, '2026-01-01T12:00:00Z', '2026-01-31T09:00:00Z', '2026-01-02T12:00:00Z', NULL, NULL, 3, '2026-01-01T09:00:00Z', 'e1', '2026-01-01T12:00:00Z', 7), \
             ($1, 'i2', 'u2', 'thread-i2', 'chocolates under 40', 'active', 'high', false, 'Price(p2) <= 40.00', 'Order Chocolates', '[]', 0, \
             '2026-01-01T10:00:00Z', '2026-01-31T10:00:00Z', NULL, NULL, NULL, 1, '2026-01-01T10:00:00Z', 'e2', '2026-01-01T10:00:00Z', 1), \
             ($1, 'i3', 'u1', 'thread-i3', 'a cake', 'completed', 'low', true, 'Day == Friday', 'Order Cake', '[]', 2, \
             '2026-01-01T08:30:00Z', '2026-01-31T08:00:00Z', NULL, 'b7', 'bundle placed', 2, '2026-01-01T08:00:00Z', 'e3', '2026-01-01T08:30:00Z', 2)"
        ),
        a,
    )
    .await;
    exec(
        pool,
        &format!(
            "{intent} ($1, 'i1', 'u-b', 'thread-b', 'B intent', 'cancelled', 'high', false, 'x', 'y', '[]', 9, '2026-01-01T12:00:00Z', \
             '2026-01-31T09:00:00Z', NULL, NULL, 'cancelled by the user', 0, '2026-01-01T11:00:00Z', 'e4', '2026-01-01T12:00:00Z', 0)"
        ),
        b,
    )
    .await;
    let ledger = "INSERT INTO progress_ledger (tenant_id, event_id, subject_kind, subject_id, thread_id, step, step_name, log_type, status, text, reasoning, \
         context, card, renderer, entry_id, if_text, then_text, at, source_topic, source_offset) VALUES ";
    exec(
        pool,
        &format!(
            "{ledger} \
             ($1, 'ev-3', 'intent', 'i1', 'thread-i1', 3, 'condition_wait', 'event', 'decision_made', 'All conditions met.', NULL, '{{\"met\": 2}}', NULL, NULL, NULL, NULL, NULL, '2026-01-01T12:00:00Z', 'intents.events', 9), \
             ($1, 'na-2', 'intent', 'i1', 'thread-i1', 2, 'narration', 'narrative', 'waiting', 'Still raining; I keep watching.', 'rain', NULL, \
               '{{\"type\": \"AdaptiveCard\", \"version\": \"1.5\"}}', 'narrator-offline-1', 'nr-2', NULL, NULL, '2026-01-01T11:00:00Z', 'narrations', 4), \
             ($1, 'nr-2', 'intent', 'i1', 'thread-i1', 2, 'condition_wait', 'narrative_request', 'waiting', 'facts for the narrator', NULL, '{{\"weather\": \"rainy\"}}', NULL, NULL, NULL, NULL, NULL, '2026-01-01T11:00:00Z', 'intents.events', 5), \
             ($1, 'ac-2', 'intent', 'i1', 'thread-i1', 2, 'condition_wait', 'activity', 'waiting', 'Checked the forecast.', NULL, '[]', NULL, NULL, NULL, 'Weather == Sunny', NULL, '2026-01-01T11:00:00Z', 'intents.events', 3), \
             ($1, 'th-1', 'intent', 'i1', 'thread-i1', 1, 'vendor_scout', 'thought', 'scouting', 'Three florists deliver.', NULL, '{{\"vendors\": 3}}', NULL, NULL, NULL, 'Weather == Sunny', 'Order Flowers', '2026-01-01T09:00:00Z', 'intents.events', 1), \
             ($1, 'wx-1', 'weather', 'i1', 'thread-i1', 1, 'observe', 'event', 'seen', 'another subject kind with the same id', NULL, '{{}}', NULL, NULL, NULL, NULL, NULL, '2026-01-01T09:00:00Z', 'intents.events', 1)"
        ),
        a,
    )
    .await;
    exec(
        pool,
        &format!(
            "{ledger} ($1, 'b-1', 'intent', 'i1', 'thread-b', 1, 'cancel', 'event', 'cancelled', 'B entry', NULL, '{{}}', NULL, NULL, NULL, NULL, NULL, '2026-01-01T12:00:00Z', 'intents.events', 0)"
        ),
        b,
    )
    .await;
}

async fn start() -> Api {
    api_support::serve("intentapi", KEY_A, KEY_B, |pool, a, b| async move { seed(&pool, &a, &b).await }).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standing_intent_routes_are_tenant_scoped_and_shaped() {
    let api = start().await;

    // Authentication and bad queries.
    for path in ["/v1/standing-intents", "/v1/standing-intents/i1", "/v1/standing-intents/i1/progress"] {
        let (status, body) = api.get(path, None).await;
        assert_eq!((status, body["error"].as_str()), (401, Some("MISSING_API_KEY")), "{path}: {body}");
    }
    for bad in [
        "/v1/standing-intents?limit=0",
        "/v1/standing-intents?limit=501",
        "/v1/standing-intents?limit=many",
        "/v1/standing-intents?status=lost",
        "/v1/standing-intents?colour=red",
        "/v1/standing-intents/i1/progress?log_type=narrative_request",
        "/v1/standing-intents/i1/progress?log_type=diary",
        "/v1/standing-intents/i1/progress?step=1",
    ] {
        let (status, body) = api.get(bad, Some(KEY_A)).await;
        assert_eq!((status, body["error"].as_str()), (400, Some("BAD_QUERY")), "{bad}: {body}");
    }

    // The list: newest first, by user and status, a page.
    assert_eq!(ids(&api.ok("/v1/standing-intents", KEY_A).await["standing_intents"], "intent_id"), ["i2", "i1", "i3"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents?user_id=u1", KEY_A).await["standing_intents"], "intent_id"), ["i1", "i3"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents?status=completed", KEY_A).await["standing_intents"], "intent_id"), ["i3"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents?user_id=u1&limit=1", KEY_A).await["standing_intents"], "intent_id"), ["i1"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents?status=cancelled", KEY_A).await["standing_intents"], "intent_id"), Vec::<&str>::new(), "B's cancelled intent is not A's");

    // One intent: every column, times RFC 3339, checks as an array, and its ledger.
    let i1 = api.ok("/v1/standing-intents/i1", KEY_A).await;
    assert_eq!(
        keys(&i1),
        [
            "approval_due_at",
            "bundle_id",
            "checks",
            "checks_count",
            "created_at",
            "description",
            "expires_at",
            "if_text",
            "intent_id",
            "last_checked_at",
            "progress",
            "reason",
            "requires_approval",
            "status",
            "then_text",
            "thread_id",
            "trust_level",
            "updated_at",
            "user_id",
            "vendors_found"
        ]
    );
    assert_eq!((i1["status"].as_str(), i1["trust_level"].as_str(), i1["requires_approval"].as_bool()), (Some("waiting_approval"), Some("medium"), Some(true)));
    assert_eq!((i1["checks_count"].as_i64(), i1["vendors_found"].as_i64(), i1["bundle_id"].as_str()), (Some(5), Some(3), None));
    assert_eq!((i1["last_checked_at"].as_str(), i1["approval_due_at"].as_str(), i1["created_at"].as_str()), (Some("2026-01-01T12:00:00Z"), Some("2026-01-02T12:00:00Z"), Some("2026-01-01T09:00:00Z")));
    assert_eq!(i1["checks"], serde_json::from_str::<Value>(CHECKS).unwrap());
    assert_eq!(ids(&i1["progress"], "event_id"), ["th-1", "ac-2", "na-2", "ev-3"], "by (at, step, source_offset); the narrator's facts and other subject kinds left out");
    let entries = i1["progress"].as_array().unwrap();
    assert_eq!(keys(&entries[0]), ["at", "card", "context", "event_id", "if_text", "log_type", "reasoning", "renderer", "status", "step", "step_name", "text", "then_text"]);
    assert_eq!((entries[0]["context"].clone(), entries[0]["then_text"].as_str(), entries[0]["at"].as_str()), (json!({"vendors": 3}), Some("Order Flowers"), Some("2026-01-01T09:00:00Z")));
    assert_eq!(entries[1]["context"], json!([]));
    let narrative = &entries[2];
    assert_eq!((narrative["log_type"].as_str(), narrative["reasoning"].as_str(), narrative["renderer"].as_str()), (Some("narrative"), Some("rain"), Some("narrator-offline-1")));
    assert_eq!((narrative["card"]["version"].as_str(), narrative["context"].clone()), (Some("1.5"), Value::Null));
    let i3 = api.ok("/v1/standing-intents/i3", KEY_A).await;
    assert_eq!((i3["bundle_id"].as_str(), i3["reason"].as_str(), i3["approval_due_at"].clone(), i3["progress"].clone()), (Some("b7"), Some("bundle placed"), Value::Null, json!([])));

    // The progress route: the same ledger, one log type, an intent without entries.
    let progress = api.ok("/v1/standing-intents/i1/progress", KEY_A).await;
    assert_eq!(keys(&progress), ["entries", "intent_id"]);
    assert_eq!((progress["intent_id"].as_str(), progress["entries"].clone()), (Some("i1"), i1["progress"].clone()));
    for (log_type, expected) in [("thought", vec!["th-1"]), ("activity", vec!["ac-2"]), ("event", vec!["ev-3"]), ("narrative", vec!["na-2"])] {
        let body = api.ok(&format!("/v1/standing-intents/i1/progress?log_type={log_type}"), KEY_A).await;
        assert_eq!(ids(&body["entries"], "event_id"), expected, "{log_type}");
    }
    assert_eq!(api.ok("/v1/standing-intents/i3/progress", KEY_A).await["entries"], json!([]), "known, no entries yet");

    // Tenant B reads its own i1 under the same id, never tenant A's; unknown intents are 404s.
    let b1 = api.ok("/v1/standing-intents/i1", KEY_B).await;
    assert_eq!((b1["user_id"].as_str(), b1["status"].as_str()), (Some("u-b"), Some("cancelled")));
    assert_eq!(ids(&b1["progress"], "event_id"), ["b-1"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents/i1/progress", KEY_B).await["entries"], "event_id"), ["b-1"]);
    assert_eq!(ids(&api.ok("/v1/standing-intents", KEY_B).await["standing_intents"], "intent_id"), ["i1"]);
    for (path, key) in [("/v1/standing-intents/i2", KEY_B), ("/v1/standing-intents/i2/progress", KEY_B), ("/v1/standing-intents/nobody", KEY_A), ("/v1/standing-intents/nobody/progress", KEY_A)] {
        let (status, body) = api.get(path, Some(key)).await;
        assert_eq!((status, body["error"].as_str()), (404, Some("UNKNOWN_STANDING_INTENT")), "{path}: {body}");
        assert!(body["reason"].as_str().is_some_and(|r| !r.is_empty()), "{body}");
    }
}
