//! The orchestration Postgres sink's standing intents on the real local stack (Apache Kafka +
//! Apicurio + Postgres): snapshots (`intents.events`) and progress ledger entries (`intents.events`,
//! `narrations`) of two tenants that use the same intent ids. A snapshot that is older (by source
//! time, or by offset at the same time) never replaces a newer one; a ledger entry is stored once
//! per event id although it is in the log twice; a ProgressLogged narrative (the narrator's facts)
//! is kept as `narrative_request` and never read back, so the narratives read are exactly the
//! Narrated ones; a context or card that is not JSON and a record keyed for another tenant are
//! dead-lettered; one tenant never reads the other's intents or entries. Then the sink's offsets are
//! wiped and the whole log is applied again, which must leave every row unchanged.
//! Needs `./dev up` (SOUK_KAFKA_BOOTSTRAP, SOUK_SCHEMA_REGISTRY_URL, SOUK_DATABASE_URL).

mod support;

use souk_projections::queries::{self, IntentFilter};
use souk_schemas::intents::{ConditionCheck, IntentEvent, Narrated, NarrationEvent, ProgressLogged, StandingIntentUpdated};
use souk_schemas::Envelope;
use sqlx::PgPool;
use support::Stack;

const SINK: &str = "orchestration-postgres";
const INPUTS: [&str; 2] = ["intents.events", "narrations"];
const T0: i64 = 1_760_000_000_000;
const MINUTE: i64 = 60_000;

struct Setup {
    stack: Stack,
    pool: PgPool,
    /// The tenant most records belong to, and another one using the same ids.
    a: String,
    b: String,
}

impl Setup {
    /// Runs the sink until its stored offsets reach the end of its inputs, then stops it.
    async fn run_to_end(&self) {
        support::run_orchestration_sink_to_end(&self.stack, &self.pool, &INPUTS).await;
    }

    /// Every row of `tenant` in both tables, as JSON, in a stable order.
    async fn rows(&self, tenant: &str) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        for table in ["standing_intents", "progress_ledger"] {
            let mut rows: Vec<String> = sqlx::query_scalar(&format!("SELECT to_jsonb(t)::text FROM {table} t WHERE tenant_id = $1")).bind(tenant).fetch_all(&self.pool).await.expect("rows");
            rows.sort();
            out.push(rows);
        }
        out
    }
}

async fn setup() -> Setup {
    let stack = support::stack("sinkintents").await;
    let pool = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let run = stack.prefix.trim_end_matches('.').to_string();
    Setup { stack, pool, a: format!("a-{run}"), b: format!("b-{run}") }
}

fn env(tenant: &str, id: &str, at: i64) -> Envelope {
    Envelope::external(tenant, id, T0 + at)
}

/// A snapshot of `intent`, created at T0: `checks_count` tells the snapshots apart.
fn snapshot(tenant: &str, id: &str, at: i64, intent: &str, user: &str, status: &str, checks_count: i64) -> (String, IntentEvent) {
    let e = StandingIntentUpdated {
        envelope: env(tenant, id, at),
        intent_id: intent.into(),
        user_id: user.into(),
        thread_id: format!("thread-{intent}"),
        description: "flowers on the next sunny Thursday".into(),
        status: status.into(),
        trust_level: "medium".into(),
        requires_approval: true,
        if_text: "Weather == Sunny AND Day == Thursday".into(),
        then_text: "Order Flowers".into(),
        checks: vec![
            ConditionCheck { kind: "weather".into(), value: "sunny".into(), met: status != "active", observed: Some("sunny".into()) },
            ConditionCheck { kind: "day_of_week".into(), value: "thursday".into(), met: true, observed: None },
        ],
        checks_count,
        last_checked_at: T0 + at,
        expires_at: T0 + 30 * 24 * 60 * MINUTE,
        approval_due_at: (status == "waiting_approval").then_some(T0 + at + 24 * 60 * MINUTE),
        bundle_id: None,
        reason: None,
        created_at: T0,
        vendors_found: 3,
    };
    (format!("{tenant}|{intent}"), IntentEvent::StandingIntentUpdated(e))
}

/// A ledger entry of intent i1.
fn entry(tenant: &str, id: &str, at: i64, step: i64, log_type: &str, text: &str, context: &str) -> (String, IntentEvent) {
    let e = ProgressLogged {
        envelope: env(tenant, id, at),
        subject_kind: "intent".into(),
        subject_id: "i1".into(),
        thread_id: "thread-i1".into(),
        step,
        step_name: "condition_wait".into(),
        log_type: log_type.into(),
        status: "waiting".into(),
        text: text.into(),
        context: context.into(),
        if_text: Some("Weather == Sunny".into()),
        then_text: None,
    };
    (format!("{tenant}|i1"), IntentEvent::ProgressLogged(e))
}

/// A narrative of intent i1.
fn narration(tenant: &str, id: &str, at: i64, step: i64, entry_id: &str, text: &str, card: &str) -> (String, NarrationEvent) {
    let e = Narrated {
        envelope: env(tenant, id, at),
        subject_kind: "intent".into(),
        subject_id: "i1".into(),
        thread_id: "thread-i1".into(),
        entry_id: entry_id.into(),
        step,
        status: "waiting".into(),
        narrative: text.into(),
        reasoning: "the forecast says rain".into(),
        renderer: "narrator-offline-1".into(),
        card: card.into(),
    };
    (format!("{tenant}|i1"), NarrationEvent::Narrated(e))
}

const CARD: &str = r#"{"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlock", "text": "Waiting for sun"}]}"#;

/// Tenant A: intent i1 (snapshots with a stale and a same-time one, a thought, the narrator's
/// facts, an event, a narrative, duplicates) and a newer intent i2 of another user; tenant B: its
/// own i1. Three records are dead letters.
async fn produce(s: &Setup) {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let thought = entry(a, "thought-1", MINUTE, 1, "thought", "Three florists deliver to Amsterdam.", r#"{"vendors": 3}"#);
    let facts = entry(a, "facts-1", 2 * MINUTE, 2, "narrative", "facts for the narrator", r#"{"weather": "rainy", "day": "tuesday"}"#);
    let facts_id = env(a, "facts-1", 0).event_id;
    // Another user's intent, created after i1: listed first.
    let mut i2 = snapshot(a, "i2-snap", 20 * MINUTE, "i2", "u2", "active", 1);
    if let IntentEvent::StandingIntentUpdated(e) = &mut i2.1 {
        e.created_at = T0 + 20 * MINUTE;
    }
    let events = vec![
        i2,
        snapshot(a, "snap-1", MINUTE, "i1", "u1", "active", 1),
        thought.clone(),
        facts,
        snapshot(a, "snap-2", 10 * MINUTE, "i1", "u1", "waiting_approval", 5),
        entry(a, "event-1", 10 * MINUTE, 3, "event", "All conditions met.", r#"{"met": ["weather", "day_of_week"]}"#),
        // The same stream time as snap-2, later in the log: newer.
        snapshot(a, "snap-3", 10 * MINUTE, "i1", "u1", "waiting_approval", 6),
        // Declared earlier than the stored snapshot, produced later: ignored.
        snapshot(a, "snap-0", 5 * MINUTE, "i1", "u1", "active", 3),
        // In the log twice (a producer retry): stored once.
        thought,
        // Dead letters: a context that is not JSON; a record keyed for another tenant.
        entry(a, "bad-context", 11 * MINUTE, 4, "thought", "never shown", "{not json"),
        (format!("{b}|i1"), entry(a, "misdirected", 11 * MINUTE, 4, "thought", "never shown", "{}").1),
        snapshot(b, "snap-b", MINUTE, "i1", "u-b", "cancelled", 9),
        entry(b, "activity-b", MINUTE, 1, "activity", "B's activity", "{}"),
    ];
    s.stack.produce("intents.events", &events).await;
    let narrative = narration(a, "narrated-1", 3 * MINUTE, 2, &facts_id, "It's raining in Amsterdam; I'll keep watching.", CARD);
    let narrations = vec![
        narrative.clone(),
        narrative,
        // Dead letter: a card that is not JSON.
        narration(a, "bad-card", 4 * MINUTE, 2, &facts_id, "never shown", "<card/>"),
        narration(b, "narrated-b", 2 * MINUTE, 1, "x", "B's narrative", "{}"),
    ];
    s.stack.produce("narrations", &narrations).await;
}

async fn assert_projected(s: &Setup) {
    let (a, b) = (s.a.as_str(), s.b.as_str());
    let detail = queries::standing_intent(&mut s.pool.acquire().await.unwrap(), a, "i1").await.expect("intent").expect("i1 of A");
    let i = &detail.intent;
    assert_eq!((i.status.as_str(), i.checks_count, i.user_id.as_str()), ("waiting_approval", 6, "u1"), "the later offset at the same time wins; the stale snapshot lost");
    assert_eq!(i.updated_at.timestamp_millis(), T0 + 10 * MINUTE);
    assert_eq!(i.approval_due_at.map(|t| t.timestamp_millis()), Some(T0 + 10 * MINUTE + 24 * 60 * MINUTE));
    assert_eq!(i.checks, serde_json::json!([{"kind": "weather", "value": "sunny", "met": true, "observed": "sunny"}, {"kind": "day_of_week", "value": "thursday", "met": true, "observed": null}]));

    let steps: Vec<(i64, &str, &str)> = detail.progress.iter().map(|e| (e.step, e.log_type.as_str(), e.text.as_str())).collect();
    assert_eq!(
        steps,
        [(1, "thought", "Three florists deliver to Amsterdam."), (2, "narrative", "It's raining in Amsterdam; I'll keep watching."), (3, "event", "All conditions met.")],
        "in order, once per event id; the narrator's facts are not read back, the bad records never stored"
    );
    let (thought, narrative) = (&detail.progress[0], &detail.progress[1]);
    assert_eq!((thought.context.clone(), thought.card.clone(), thought.if_text.as_deref()), (Some(serde_json::json!({"vendors": 3})), None, Some("Weather == Sunny")));
    assert_eq!((narrative.reasoning.as_deref(), narrative.renderer.as_deref(), narrative.context.clone()), (Some("the forecast says rain"), Some("narrator-offline-1"), None));
    assert_eq!(narrative.card.as_ref().map(|c| c["version"].clone()), Some(serde_json::json!("1.5")));
    let stored: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT log_type, entry_id FROM progress_ledger WHERE tenant_id = $1 AND subject_id = 'i1' ORDER BY at, step, source_offset").bind(a).fetch_all(&s.pool).await.expect("ledger");
    let facts_id = env(a, "facts-1", 0).event_id;
    assert_eq!(
        stored,
        [("thought".into(), None), ("narrative_request".into(), None), ("narrative".into(), Some(facts_id)), ("event".into(), None)],
        "the facts are kept as narrative_request; the narrative names the entry it renders"
    );
    let narratives = queries::intent_progress(&mut s.pool.acquire().await.unwrap(), a, "i1", Some("narrative")).await.expect("progress");
    assert_eq!(narratives.len(), 1, "the narratives are exactly the Narrated ones");
    assert!(queries::intent_progress(&mut s.pool.acquire().await.unwrap(), a, "i1", Some("narrative_request")).await.expect("progress").is_empty(), "never served");

    let list = queries::standing_intents(&mut s.pool.acquire().await.unwrap(), a, &IntentFilter::default()).await.expect("list");
    assert_eq!(list.iter().map(|i| i.intent_id.as_str()).collect::<Vec<_>>(), ["i2", "i1"], "newest first");
    let u2 = queries::standing_intents(&mut s.pool.acquire().await.unwrap(), a, &IntentFilter { user_id: Some("u2".into()), ..Default::default() }).await.expect("list");
    assert_eq!(u2.iter().map(|i| i.intent_id.as_str()).collect::<Vec<_>>(), ["i2"]);
    let cancelled = queries::standing_intents(&mut s.pool.acquire().await.unwrap(), a, &IntentFilter { status: Some("cancelled".into()), ..Default::default() }).await.expect("list");
    assert!(cancelled.is_empty(), "tenant B's cancelled intent is not tenant A's");

    // Tenant B reads its own i1 under the same id, and nothing of tenant A's.
    let detail_b = queries::standing_intent(&mut s.pool.acquire().await.unwrap(), b, "i1").await.expect("intent").expect("i1 of B");
    assert_eq!((detail_b.intent.user_id.as_str(), detail_b.intent.status.as_str(), detail_b.intent.checks_count), ("u-b", "cancelled", 9));
    let texts: Vec<&str> = detail_b.progress.iter().map(|e| e.text.as_str()).collect();
    assert_eq!(texts, ["B's activity", "B's narrative"], "the misdirected record was dead-lettered, not projected for B");
    assert!(queries::standing_intent(&mut s.pool.acquire().await.unwrap(), b, "i2").await.expect("intent").is_none());
    assert!(!queries::standing_intent_exists(&mut s.pool.acquire().await.unwrap(), b, "i2").await.expect("exists"));
    assert_eq!(queries::standing_intents(&mut s.pool.acquire().await.unwrap(), b, &IntentFilter::default()).await.expect("list").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn intents_project_forward_once_per_event_and_per_tenant() {
    let _ = tracing_subscriber::fmt().with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "souk_sinks=info".into())).with_test_writer().try_init();
    let s = setup().await;
    produce(&s).await;
    s.run_to_end().await;
    let dlq = s.stack.topology.dlq_topic(SINK);
    let dead = tokio::task::block_in_place(|| souk_runtime::testkit::watermarks(&s.stack.bootstrap, &dlq, 0).expect("dlq watermarks").1);
    assert_eq!(dead, 3, "a context and a card that are not JSON and the misdirected record are dead letters (stale snapshots are applied and lose)");
    assert_projected(&s).await;
    let rows = (s.rows(&s.a).await, s.rows(&s.b).await);

    // Forget the offsets: the whole log is applied again (every snapshot and entry redelivered).
    sqlx::query("DELETE FROM sink_offsets WHERE sink = $1 AND topic = ANY($2)")
        .bind(SINK)
        .bind(INPUTS.iter().map(|t| s.stack.topology.topic(t)).collect::<Vec<_>>())
        .execute(&s.pool)
        .await
        .expect("reset offsets");
    s.run_to_end().await;
    assert_eq!((s.rows(&s.a).await, s.rows(&s.b).await), rows, "re-applying every record leaves every row unchanged");
    assert_projected(&s).await;
}
