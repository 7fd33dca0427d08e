//! Orders, their lines and history, customer sessions and the owner's pending approvals.

use super::billing::{invoice_for_order, InvoiceRow};
use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// An order session's latest snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrderRow {
    /// The order.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Workflow state.
    pub state: String,
    /// State before the latest change.
    pub previous_state: Option<String>,
    /// When the session opened.
    pub opened_at: DateTime<Utc>,
    /// Σ meters × price of accepted lines, when priced.
    pub subtotal: Option<Decimal>,
    /// Customer turns in negotiation.
    pub negotiation_turns: i32,
    /// Consecutive unclassifiable messages.
    pub unknown_streak: i32,
    /// What caused the latest change.
    pub cause: String,
    /// The inbound message behind it.
    pub cause_wamid: Option<String>,
    /// The event that last changed the row.
    pub last_event_id: String,
    /// Source time of that event.
    pub updated_at: DateTime<Utc>,
}

/// One line of an order's latest snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OrderLineRow {
    /// The line.
    pub line_id: String,
    /// 0-based position in the snapshot.
    pub position: i32,
    /// Material.
    pub material: String,
    /// Color.
    pub color: String,
    /// Original demand.
    pub requested_meters: Decimal,
    /// Current active quantity.
    pub normalized_meters: Decimal,
    /// NEGOTIATING, ACCEPTED, CANCELLED or REPLACED.
    pub status: String,
    /// The line that replaced this one.
    pub replaced_by: Option<String>,
    /// FULL_AVAILABLE, PARTIAL_AVAILABLE or OUT_OF_STOCK.
    pub inventory_status: Option<String>,
    /// Availability last seen.
    pub available_meters: Option<Decimal>,
    /// Price snapshot.
    pub price_per_meter: Option<Decimal>,
    /// Current hold.
    pub hold_id: Option<String>,
    /// Status of that hold.
    pub hold_status: Option<String>,
    /// Per-batch allocations (decimals as strings).
    pub allocations: serde_json::Value,
    /// Suggestions for an out-of-stock line.
    pub alternatives: serde_json::Value,
}

/// One entry of an order's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct HistoryRow {
    /// The event.
    pub event_id: String,
    /// ORDER_UPDATED, COMMAND_OUTCOME, INVOICE_ISSUED, ESCALATION_RAISED or MESSAGE_OUT.
    pub kind: String,
    /// The order's state after it (ORDER_UPDATED).
    pub state: Option<String>,
    /// Cause, command, invoice number, escalation kind or message purpose.
    pub cause: Option<String>,
    /// The rest, by kind.
    pub detail: serde_json::Value,
    /// Source time.
    pub occurred_at: DateTime<Utc>,
}

/// A customer's current (or last terminal) order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct SessionRow {
    /// Customer wa_id.
    pub customer: String,
    /// The order.
    pub order_id: String,
    /// Its state.
    pub state: String,
    /// False once the order is terminal.
    pub active: bool,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// Source time of the latest change.
    pub updated_at: DateTime<Utc>,
}

/// An order waiting for the owner's decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PendingApprovalRow {
    /// The order.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Subtotal, when priced.
    pub subtotal: Option<Decimal>,
    /// Lines to deliver.
    pub active_lines: i32,
    /// When it started waiting.
    pub waiting_since: DateTime<Utc>,
    /// Source time of the latest snapshot.
    pub updated_at: DateTime<Utc>,
}

/// Everything the dashboard shows about one order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderDetail {
    /// The order.
    pub order: OrderRow,
    /// Its lines, in order.
    pub lines: Vec<OrderLineRow>,
    /// Its history, oldest first.
    pub history: Vec<HistoryRow>,
    /// Its invoice, once issued.
    pub invoice: Option<InvoiceRow>,
}

/// Filters of the order list; `None` = any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    /// Only orders in this state.
    pub state: Option<String>,
    /// Only this customer's orders.
    pub customer: Option<String>,
    /// Page size (clamped by `clamp_limit`).
    pub limit: Option<i64>,
}

const ORDER_COLUMNS: &str = "order_id, customer, state, previous_state, opened_at, subtotal, negotiation_turns, \
     unknown_streak, cause, cause_wamid, last_event_id, updated_at";

/// The orders in WAITING_OWNER_CONFIRMATION, longest waiting first.
pub async fn pending_approvals(db: &mut sqlx::PgConnection, tenant: &str) -> anyhow::Result<Vec<PendingApprovalRow>> {
    sqlx::query_as(
        "SELECT order_id, customer, subtotal, active_lines, waiting_since, updated_at FROM pending_approvals \
         WHERE tenant_id = $1 ORDER BY waiting_since, order_id",
    )
    .bind(tenant)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading pending approvals of tenant {tenant}"))
}

/// Orders, most recently changed first; among equal times the later snapshot of the customer's
/// partition first (migration 0006).
pub async fn orders(db: &mut sqlx::PgConnection, tenant: &str, filter: &OrderFilter) -> anyhow::Result<Vec<OrderRow>> {
    sqlx::query_as(&format!(
        "SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND ($2::text IS NULL OR state = $2) \
         AND ($3::text IS NULL OR customer = $3) ORDER BY updated_at DESC, source_offset DESC NULLS LAST, order_id LIMIT $4"
    ))
    .bind(tenant)
    .bind(&filter.state)
    .bind(&filter.customer)
    .bind(super::clamp_limit(filter.limit))
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("listing orders of tenant {tenant}"))
}

/// One order's snapshot.
pub async fn order(db: &mut sqlx::PgConnection, tenant: &str, order_id: &str) -> anyhow::Result<Option<OrderRow>> {
    sqlx::query_as(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE tenant_id = $1 AND order_id = $2"))
        .bind(tenant)
        .bind(order_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading order {order_id}"))
}

/// One order's lines, in snapshot order.
pub async fn order_lines(db: &mut sqlx::PgConnection, tenant: &str, order_id: &str) -> anyhow::Result<Vec<OrderLineRow>> {
    sqlx::query_as(
        "SELECT line_id, position, material, color, requested_meters, normalized_meters, status, replaced_by, inventory_status, \
         available_meters, price_per_meter, hold_id, hold_status, allocations, alternatives \
         FROM order_lines WHERE tenant_id = $1 AND order_id = $2 ORDER BY position",
    )
    .bind(tenant)
    .bind(order_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the lines of order {order_id}"))
}

/// One order's history, oldest first.
pub async fn order_history(db: &mut sqlx::PgConnection, tenant: &str, order_id: &str) -> anyhow::Result<Vec<HistoryRow>> {
    sqlx::query_as(
        "SELECT event_id, kind, state, cause, detail, occurred_at FROM order_history \
         WHERE tenant_id = $1 AND order_id = $2 ORDER BY occurred_at, kind, source_offset NULLS LAST, event_id",
    )
    .bind(tenant)
    .bind(order_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the history of order {order_id}"))
}

/// The order with its lines, history and invoice; `None` if the tenant has no such order.
pub async fn order_detail(db: &mut sqlx::PgConnection, tenant: &str, order_id: &str) -> anyhow::Result<Option<OrderDetail>> {
    let Some(order) = order(&mut *db, tenant, order_id).await? else {
        return Ok(None);
    };
    Ok(Some(OrderDetail {
        order,
        lines: order_lines(&mut *db, tenant, order_id).await?,
        history: order_history(&mut *db, tenant, order_id).await?,
        invoice: invoice_for_order(&mut *db, tenant, order_id).await?,
    }))
}

/// A customer's session row.
pub async fn session(db: &mut sqlx::PgConnection, tenant: &str, customer: &str) -> anyhow::Result<Option<SessionRow>> {
    sqlx::query_as("SELECT customer, order_id, state, active, opened_at, updated_at FROM sessions WHERE tenant_id = $1 AND customer = $2")
        .bind(tenant)
        .bind(customer)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading the session of {customer}"))
}
