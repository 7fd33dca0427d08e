//! `intents.events` and `narrations` → `standing_intents` (snapshots, only forward) and
//! `progress_ledger` (once per event): thought, activity and event entries as logged, narrative
//! facts as `narrative_request`, and the narratives the narrator rendered as `narrative`.

use super::{append_once, snapshot_upsert, ts, Meta};
use anyhow::Context;
use serde_json::Value;
use souk_schemas::intents::{Narrated, ProgressLogged, StandingIntentUpdated};
use sqlx::PgConnection;

const INTENT_COLUMNS: [&str; 22] = [
    "tenant_id",
    "intent_id",
    "user_id",
    "thread_id",
    "description",
    "status",
    "trust_level",
    "requires_approval",
    "if_text",
    "then_text",
    "checks",
    "checks_count",
    "last_checked_at",
    "expires_at",
    "approval_due_at",
    "bundle_id",
    "reason",
    "vendors_found",
    "created_at",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const LEDGER_COLUMNS: [&str; 20] = [
    "tenant_id",
    "event_id",
    "subject_kind",
    "subject_id",
    "thread_id",
    "step",
    "step_name",
    "log_type",
    "status",
    "text",
    "reasoning",
    "context",
    "card",
    "renderer",
    "entry_id",
    "if_text",
    "then_text",
    "at",
    "source_topic",
    "source_offset",
];

/// `text` parsed as the JSON it must be.
pub(super) fn json(text: &str, what: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("{what} is not JSON: {e}"))
}

/// The times of a snapshot, checked representable.
pub(super) fn check_intent(e: &StandingIntentUpdated) -> Result<(), String> {
    for (ms, what) in [(e.last_checked_at, "last_checked_at"), (e.expires_at, "expires_at"), (e.created_at, "created_at")] {
        ts(ms, what)?;
    }
    e.approval_due_at.map(|ms| ts(ms, "approval_due_at")).transpose()?;
    Ok(())
}

/// An intent's snapshot.
pub(super) async fn intent(tx: &mut PgConnection, meta: &Meta<'_>, e: &StandingIntentUpdated) -> anyhow::Result<()> {
    let time = |ms: i64, what: &str| ts(ms, what).map_err(anyhow::Error::msg);
    let approval_due = e.approval_due_at.map(|ms| time(ms, "approval_due_at")).transpose()?;
    sqlx::query(&snapshot_upsert("standing_intents", &["tenant_id", "intent_id"], &INTENT_COLUMNS))
        .bind(meta.tenant)
        .bind(&e.intent_id)
        .bind(&e.user_id)
        .bind(&e.thread_id)
        .bind(&e.description)
        .bind(&e.status)
        .bind(&e.trust_level)
        .bind(e.requires_approval)
        .bind(&e.if_text)
        .bind(&e.then_text)
        .bind(serde_json::to_value(&e.checks)?)
        .bind(e.checks_count)
        .bind(time(e.last_checked_at, "last_checked_at")?)
        .bind(time(e.expires_at, "expires_at")?)
        .bind(approval_due)
        .bind(&e.bundle_id)
        .bind(&e.reason)
        .bind(e.vendors_found)
        .bind(time(e.created_at, "created_at")?)
        .bind(meta.event_id)
        .bind(meta.at)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting standing intent {}", e.intent_id))?;
    Ok(())
}

/// A ledger entry as logged (a narrative's facts as `narrative_request`).
pub(super) async fn entry(tx: &mut PgConnection, meta: &Meta<'_>, topic: &str, e: &ProgressLogged) -> anyhow::Result<()> {
    let log_type = if e.log_type == "narrative" { "narrative_request" } else { e.log_type.as_str() };
    let context = json(&e.context, "context").map_err(anyhow::Error::msg)?;
    sqlx::query(&append_once("progress_ledger", &LEDGER_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.subject_kind)
        .bind(&e.subject_id)
        .bind(&e.thread_id)
        .bind(e.step)
        .bind(&e.step_name)
        .bind(log_type)
        .bind(&e.status)
        .bind(&e.text)
        .bind(None::<String>)
        .bind(context)
        .bind(None::<Value>)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(&e.if_text)
        .bind(&e.then_text)
        .bind(meta.at)
        .bind(topic)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending ledger entry {} of {}", e.step, e.subject_id))?;
    Ok(())
}

/// A narrative the user reads.
pub(super) async fn narrated(tx: &mut PgConnection, meta: &Meta<'_>, topic: &str, e: &Narrated) -> anyhow::Result<()> {
    let card = json(&e.card, "card").map_err(anyhow::Error::msg)?;
    sqlx::query(&append_once("progress_ledger", &LEDGER_COLUMNS))
        .bind(meta.tenant)
        .bind(meta.event_id)
        .bind(&e.subject_kind)
        .bind(&e.subject_id)
        .bind(&e.thread_id)
        .bind(e.step)
        .bind("narration")
        .bind("narrative")
        .bind(&e.status)
        .bind(&e.narrative)
        .bind(&e.reasoning)
        .bind(None::<Value>)
        .bind(card)
        .bind(&e.renderer)
        .bind(&e.entry_id)
        .bind(None::<String>)
        .bind(None::<String>)
        .bind(meta.at)
        .bind(topic)
        .bind(meta.offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("appending the narrative of {}", e.entry_id))?;
    Ok(())
}
