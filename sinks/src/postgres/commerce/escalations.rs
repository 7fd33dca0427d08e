//! The escalation lifecycle's snapshots and refusals (escalation.events, rules B7) → the
//! `escalations` rows (status, priority, assignee, SLA, resolution; migration 0009) and the
//! answers to the lifecycle commands in `command_outcomes`.

use super::Meta;
use anyhow::Context;
use chrono::DateTime;
use souk_schemas::escalations::{EscalationCommandRejected, EscalationUpdated};
use sqlx::PgConnection;

/// The escalation as the lifecycle says now; an older snapshot changes nothing.
pub(super) async fn updated(tx: &mut PgConnection, meta: &Meta<'_>, e: &EscalationUpdated) -> anyhow::Result<()> {
    let time = |ms: i64| DateTime::from_timestamp_millis(ms).context("a time out of range");
    sqlx::query(
        "INSERT INTO escalations (tenant_id, escalation_id, customer, order_id, kind, priority, detail, raised_at, event_id, status, assignee, assign_due_at, sla_breached, resolved_at, notes, updated_at, lifecycle_offset) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (tenant_id, escalation_id) DO UPDATE SET priority = EXCLUDED.priority, status = EXCLUDED.status, assignee = EXCLUDED.assignee, \
           assign_due_at = EXCLUDED.assign_due_at, sla_breached = EXCLUDED.sla_breached, resolved_at = EXCLUDED.resolved_at, notes = EXCLUDED.notes, \
           updated_at = EXCLUDED.updated_at, lifecycle_offset = EXCLUDED.lifecycle_offset \
         WHERE escalations.lifecycle_offset IS NULL OR escalations.lifecycle_offset < EXCLUDED.lifecycle_offset",
    )
    .bind(meta.tenant)
    .bind(&e.escalation_id)
    .bind(&e.customer)
    .bind(&e.order_id)
    .bind(&e.kind)
    .bind(&e.priority)
    .bind(&e.detail)
    .bind(time(e.raised_at)?)
    .bind(meta.event_id)
    .bind(&e.status)
    .bind(&e.assignee)
    .bind(time(e.assign_due_at)?)
    .bind(e.sla_breached)
    .bind(e.resolved_at.map(time).transpose()?)
    .bind(&e.notes)
    .bind(meta.at)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("updating escalation {}", e.escalation_id))?;
    match &e.command_id {
        Some(command_id) => outcome(tx, meta, command_id, &e.escalation_id, true, None, &format!("escalation {} is {}", e.escalation_id, e.status)).await,
        None => Ok(()),
    }
}

/// A lifecycle command refused: its answer.
pub(super) async fn rejected(tx: &mut PgConnection, meta: &Meta<'_>, e: &EscalationCommandRejected) -> anyhow::Result<()> {
    outcome(tx, meta, &e.command_id, &e.escalation_id, false, Some(&e.code), &e.detail).await
}

async fn outcome(tx: &mut PgConnection, meta: &Meta<'_>, command_id: &str, escalation_id: &str, accepted: bool, code: Option<&str>, detail: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO command_outcomes (tenant_id, command_id, order_id, escalation_id, command, accepted, code, detail, occurred_at, event_id) \
         VALUES ($1, $2, NULL, $3, 'escalation', $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, command_id) DO UPDATE SET accepted = EXCLUDED.accepted, code = EXCLUDED.code, detail = EXCLUDED.detail, occurred_at = EXCLUDED.occurred_at, event_id = EXCLUDED.event_id",
    )
    .bind(meta.tenant)
    .bind(command_id)
    .bind(escalation_id)
    .bind(accepted)
    .bind(code)
    .bind(detail)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording the outcome of escalation command {command_id}"))?;
    Ok(())
}
