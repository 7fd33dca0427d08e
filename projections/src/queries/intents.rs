//! Standing intents and their progress ledger (`migrations/0011_standing_intents.sql`), tenant
//! scoped. The ledger shows thought, activity, event and narrative entries; the narrator's input
//! facts (`narrative_request`) are never served.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;

/// The log types a reader may ask for.
pub const LEDGER_LOG_TYPES: [&str; 4] = ["thought", "activity", "event", "narrative"];

/// A standing intent's latest snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct StandingIntentRow {
    /// The intent.
    pub intent_id: String,
    /// Whose.
    pub user_id: String,
    /// The user's thread its narratives go to.
    pub thread_id: String,
    /// What the user asked.
    pub description: String,
    /// active, waiting_approval, executing, completed or cancelled.
    pub status: String,
    /// high, medium or low.
    pub trust_level: String,
    /// The user is asked before it executes.
    pub requires_approval: bool,
    /// The card's IF.
    pub if_text: String,
    /// The card's THEN.
    pub then_text: String,
    /// Each condition at the last evaluation: kind, value, met, observed.
    pub checks: serde_json::Value,
    /// Scheduled checks so far.
    pub checks_count: i64,
    /// The last evaluation.
    pub last_checked_at: DateTime<Utc>,
    /// When the longest wait ends.
    pub expires_at: DateTime<Utc>,
    /// When an unanswered approval times out.
    pub approval_due_at: Option<DateTime<Utc>>,
    /// The bundle it placed.
    pub bundle_id: Option<String>,
    /// Why it ended.
    pub reason: Option<String>,
    /// Partners the scout found at creation.
    pub vendors_found: i32,
    /// When it was created (stream time).
    pub created_at: DateTime<Utc>,
    /// Source time of the snapshot.
    pub updated_at: DateTime<Utc>,
}

/// One ledger entry.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ProgressEntryRow {
    /// The event that wrote it.
    pub event_id: String,
    /// The intent's step number.
    pub step: i64,
    /// vendor_scout, condition_wait, approval, checkout, cancel, narration.
    pub step_name: String,
    /// thought, activity, event or narrative.
    pub log_type: String,
    /// The status it reports (waiting, approval, decision_made, …).
    pub status: String,
    /// The entry; a narrative is what the user reads.
    pub text: String,
    /// A narrative's reasoning.
    pub reasoning: Option<String>,
    /// A thought's, activity's or event's facts as logged (JSON); null for a narrative.
    pub context: Option<serde_json::Value>,
    /// A narrative's Progress Ledger card (Adaptive Card 1.5).
    pub card: Option<serde_json::Value>,
    /// A narrative's renderer (narrator-offline-1 or llm:<model>).
    pub renderer: Option<String>,
    /// The card's IF at the time.
    pub if_text: Option<String>,
    /// The card's THEN at the time.
    pub then_text: Option<String>,
    /// Source time.
    pub at: DateTime<Utc>,
}

/// An intent with its ledger.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StandingIntentDetail {
    /// The snapshot.
    #[serde(flatten)]
    pub intent: StandingIntentRow,
    /// Its ledger, in order.
    pub progress: Vec<ProgressEntryRow>,
}

/// Filters of the intent list.
#[derive(Debug, Clone, Default)]
pub struct IntentFilter {
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only in this status.
    pub status: Option<String>,
    /// Page size.
    pub limit: Option<i64>,
}

const INTENT_COLUMNS: &str = "intent_id, user_id, thread_id, description, status, trust_level, requires_approval, if_text, then_text, checks, checks_count, \
     last_checked_at, expires_at, approval_due_at, bundle_id, reason, vendors_found, created_at, updated_at";

/// Standing intents of `tenant`, newest first.
pub async fn standing_intents(db: &mut sqlx::PgConnection, tenant: &str, filter: &IntentFilter) -> anyhow::Result<Vec<StandingIntentRow>> {
    sqlx::query_as(&format!(
        "SELECT {INTENT_COLUMNS} FROM standing_intents WHERE tenant_id = $1 AND ($2::text IS NULL OR user_id = $2) AND ($3::text IS NULL OR status = $3) \
         ORDER BY created_at DESC, intent_id LIMIT $4"
    ))
    .bind(tenant)
    .bind(&filter.user_id)
    .bind(&filter.status)
    .bind(super::clamp_limit(filter.limit))
    .fetch_all(&mut *db)
    .await
    .context("reading standing intents")
}

/// The ledger of intent `intent_id` (optionally one log type), in order.
pub async fn intent_progress(db: &mut sqlx::PgConnection, tenant: &str, intent_id: &str, log_type: Option<&str>) -> anyhow::Result<Vec<ProgressEntryRow>> {
    sqlx::query_as(
        "SELECT event_id, step, step_name, log_type, status, text, reasoning, context, card, renderer, if_text, then_text, at FROM progress_ledger \
         WHERE tenant_id = $1 AND subject_kind = 'intent' AND subject_id = $2 AND log_type <> 'narrative_request' AND ($3::text IS NULL OR log_type = $3) \
         ORDER BY at, step, source_offset, event_id",
    )
    .bind(tenant)
    .bind(intent_id)
    .bind(log_type)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the progress of standing intent {intent_id}"))
}

/// Whether `tenant` has standing intent `intent_id` (a snapshot was projected).
pub async fn standing_intent_exists(db: &mut sqlx::PgConnection, tenant: &str, intent_id: &str) -> anyhow::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM standing_intents WHERE tenant_id = $1 AND intent_id = $2)")
        .bind(tenant)
        .bind(intent_id)
        .fetch_one(&mut *db)
        .await
        .with_context(|| format!("looking up standing intent {intent_id}"))
}

/// Intent `intent_id` of `tenant` with its ledger, if it exists.
pub async fn standing_intent(db: &mut sqlx::PgConnection, tenant: &str, intent_id: &str) -> anyhow::Result<Option<StandingIntentDetail>> {
    let intent: Option<StandingIntentRow> = sqlx::query_as(&format!("SELECT {INTENT_COLUMNS} FROM standing_intents WHERE tenant_id = $1 AND intent_id = $2"))
        .bind(tenant)
        .bind(intent_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading standing intent {intent_id}"))?;
    let Some(intent) = intent else { return Ok(None) };
    Ok(Some(StandingIntentDetail { intent, progress: intent_progress(&mut *db, tenant, intent_id, None).await? }))
}
