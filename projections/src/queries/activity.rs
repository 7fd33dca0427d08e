//! The message log, escalations, owner command outcomes and payment reminders.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// One WhatsApp message, either direction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MessageRow {
    /// wamid (inbound) or the request's event id (outbound).
    pub message_id: String,
    /// `in` or `out`.
    pub direction: String,
    /// Customer wa_id.
    pub customer: String,
    /// The order it belongs to, when known.
    pub order_id: Option<String>,
    /// Inbound message kind, or outbound purpose.
    pub kind: Option<String>,
    /// The text.
    pub text: Option<String>,
    /// Outbound reply buttons, or the inbound chosen reply.
    pub buttons: serde_json::Value,
    /// received | pending | sent | delivered | read | failed.
    pub status: String,
    /// Meta's message id (outbound: once dispatched).
    pub wamid: Option<String>,
    /// Why it failed.
    pub error: Option<serde_json::Value>,
    /// Source time.
    pub occurred_at: DateTime<Utc>,
    /// Time of the latest change.
    pub updated_at: DateTime<Utc>,
}

/// Filters of the message log; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageFilter {
    /// Only this customer's messages.
    pub customer: Option<String>,
    /// Only messages about this order.
    pub order_id: Option<String>,
    /// Page size (clamped by `clamp_limit`).
    pub limit: Option<i64>,
}

/// Something a human must handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct EscalationRow {
    /// The escalation.
    pub escalation_id: String,
    /// Customer, if any.
    pub customer: Option<String>,
    /// Order, if any.
    pub order_id: Option<String>,
    /// Kind.
    pub kind: String,
    /// `medium`, `high` or `critical` (a breached assign SLA raises it once).
    pub priority: String,
    /// What happened.
    pub detail: String,
    /// pending → assigned → in_progress → resolved.
    pub status: String,
    /// When it was raised.
    pub raised_at: DateTime<Utc>,
    /// Who has it.
    pub assignee: Option<String>,
    /// When it must be assigned by (rules B7).
    pub assign_due_at: Option<DateTime<Utc>>,
    /// The assign SLA ran out while it was pending.
    pub sla_breached: bool,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was done.
    pub notes: Option<String>,
}

/// Filters of `GET /v1/escalations`.
#[derive(Debug, Clone, Default)]
pub struct EscalationFilter<'a> {
    /// Only this status.
    pub status: Option<&'a str>,
    /// Only this kind.
    pub kind: Option<&'a str>,
    /// Only this priority.
    pub priority: Option<&'a str>,
}

/// The answer to an owner command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct CommandOutcomeRow {
    /// The command.
    pub command_id: String,
    /// The order (owner decisions).
    pub order_id: Option<String>,
    /// The escalation (escalation lifecycle commands).
    pub escalation_id: Option<String>,
    /// The product (product commands).
    pub product_id: Option<String>,
    /// The rule (rule commands).
    pub rule_id: Option<String>,
    /// APPROVE or REJECT, escalation, product, stock, reservation, rule, teach, confirm, change, delete.
    pub command: String,
    /// Applied?
    pub accepted: bool,
    /// Refusal code (e.g. INVALID_STATE).
    pub code: Option<String>,
    /// Explanation.
    pub detail: String,
    /// Source time.
    pub occurred_at: DateTime<Utc>,
}

/// An overdue-payment reminder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReminderRow {
    /// Customer wa_id.
    pub customer: String,
    /// Outstanding balance.
    pub outstanding: Decimal,
    /// The oldest unpaid invoice.
    pub oldest_unpaid_invoice: String,
    /// Days since it was issued.
    pub days_overdue: i32,
    /// When it was raised.
    pub due_at: DateTime<Utc>,
}

/// Messages, oldest first (the conversation order): by time, then direction, then the position in
/// the source partition, which orders replies decided within the same stream-time instant.
pub async fn messages(db: &mut sqlx::PgConnection, tenant: &str, filter: &MessageFilter) -> anyhow::Result<Vec<MessageRow>> {
    sqlx::query_as(
        "SELECT message_id, direction, customer, order_id, kind, text, buttons, status, wamid, error, occurred_at, updated_at \
         FROM messages WHERE tenant_id = $1 AND ($2::text IS NULL OR customer = $2) AND ($3::text IS NULL OR order_id = $3) \
         ORDER BY occurred_at, direction, source_offset NULLS LAST, message_id LIMIT $4",
    )
    .bind(tenant)
    .bind(&filter.customer)
    .bind(&filter.order_id)
    .bind(super::clamp_limit(filter.limit))
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading messages of tenant {tenant}"))
}

/// Escalations, optionally in one status, oldest first.
pub async fn escalations(db: &mut sqlx::PgConnection, tenant: &str, filter: &EscalationFilter<'_>) -> anyhow::Result<Vec<EscalationRow>> {
    sqlx::query_as(
        "SELECT escalation_id, customer, order_id, kind, priority, detail, status, raised_at, assignee, assign_due_at, sla_breached, resolved_at, notes FROM escalations \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR kind = $3) AND ($4::text IS NULL OR priority = $4) \
         ORDER BY CASE priority WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, raised_at, escalation_id",
    )
    .bind(tenant)
    .bind(filter.status)
    .bind(filter.kind)
    .bind(filter.priority)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading escalations of tenant {tenant}"))
}

/// The latest answer to one owner command; `None` while it is still being processed.
pub async fn command_outcome(db: &mut sqlx::PgConnection, tenant: &str, command_id: &str) -> anyhow::Result<Option<CommandOutcomeRow>> {
    sqlx::query_as(
        "SELECT command_id, order_id, escalation_id, product_id, rule_id, command, accepted, code, detail, occurred_at FROM command_outcomes \
         WHERE tenant_id = $1 AND command_id = $2",
    )
    .bind(tenant)
    .bind(command_id)
    .fetch_optional(&mut *db)
    .await
    .with_context(|| format!("reading the outcome of command {command_id}"))
}

/// A customer's payment reminders, oldest first.
pub async fn payment_reminders(db: &mut sqlx::PgConnection, tenant: &str, customer: &str) -> anyhow::Result<Vec<ReminderRow>> {
    sqlx::query_as(
        "SELECT customer, outstanding, oldest_unpaid_invoice, days_overdue, due_at FROM payment_reminders \
         WHERE tenant_id = $1 AND customer = $2 ORDER BY due_at, event_id",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the reminders of {customer}"))
}
