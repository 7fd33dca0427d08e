//! Order snapshots → `orders`, `order_lines`, `sessions`, `pending_approvals`; command outcomes,
//! escalations, and every order's `order_history`.

use super::Meta;
use anyhow::Context;
use souk_schemas::orders::{CommandOutcome, EscalationRaised, OrderLine, OrderUpdated};
use sqlx::PgConnection;

/// The state whose orders are the owner's pending approvals.
const WAITING: &str = "WAITING_OWNER_CONFIRMATION";
/// Terminal states (rules A1): the customer has no active session after them.
const TERMINAL: [&str; 3] = ["ORDER_COMPLETED", "ORDER_REJECTED", "ORDER_CANCELLED"];

/// Appends one entry to an order's history (once per event id).
pub(super) async fn history(tx: &mut PgConnection, meta: &Meta<'_>, order_id: &str, kind: &str, state: Option<&str>, cause: Option<&str>, detail: serde_json::Value) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO order_history (tenant_id, order_id, event_id, kind, state, cause, detail, occurred_at, source_offset) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, order_id, event_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(order_id)
    .bind(meta.event_id)
    .bind(kind)
    .bind(state)
    .bind(cause)
    .bind(detail)
    .bind(meta.at)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("appending {kind} to the history of order {order_id}"))?;
    Ok(())
}

/// A new snapshot of an order: the order row, its lines, the customer's session, the pending
/// approvals, the link from the causing message to the order, and a history entry. A snapshot
/// older than the stored one (by source time) only adds its history entry.
pub(super) async fn order_updated(tx: &mut PgConnection, meta: &Meta<'_>, e: &OrderUpdated) -> anyhow::Result<()> {
    let opened_at = super::ts(e.opened_at, "opened_at").map_err(anyhow::Error::msg)?;
    let fresh = sqlx::query(
        "INSERT INTO orders (tenant_id, order_id, customer, state, previous_state, opened_at, subtotal, negotiation_turns, \
         unknown_streak, cause, cause_wamid, last_event_id, updated_at, source_offset) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
         ON CONFLICT (tenant_id, order_id) DO UPDATE SET customer = EXCLUDED.customer, state = EXCLUDED.state, \
         previous_state = EXCLUDED.previous_state, opened_at = EXCLUDED.opened_at, subtotal = EXCLUDED.subtotal, \
         negotiation_turns = EXCLUDED.negotiation_turns, unknown_streak = EXCLUDED.unknown_streak, cause = EXCLUDED.cause, \
         cause_wamid = EXCLUDED.cause_wamid, last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at, \
         source_offset = EXCLUDED.source_offset \
         WHERE orders.updated_at <= EXCLUDED.updated_at",
    )
    .bind(meta.tenant)
    .bind(&e.order_id)
    .bind(&e.customer)
    .bind(&e.state)
    .bind(&e.previous_state)
    .bind(opened_at)
    .bind(e.subtotal)
    .bind(e.negotiation_turns)
    .bind(e.unknown_streak)
    .bind(&e.cause)
    .bind(&e.cause_wamid)
    .bind(meta.event_id)
    .bind(meta.at)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting order {}", e.order_id))?
    .rows_affected()
        > 0;
    if fresh {
        replace_lines(tx, meta, e).await?;
        session(tx, meta, e, opened_at).await?;
        pending_approval(tx, meta, e).await?;
    } else {
        tracing::debug!(order_id = %e.order_id, event_id = meta.event_id, "older order snapshot; only its history is kept");
    }
    if let Some(wamid) = &e.cause_wamid {
        link_message(tx, meta, wamid, &e.order_id).await?;
    }
    let detail = serde_json::json!({
        "previous_state": e.previous_state,
        "cause_wamid": e.cause_wamid,
        "subtotal": e.subtotal,
        "lines": e.lines.len(),
        "negotiation_turns": e.negotiation_turns,
        "unknown_streak": e.unknown_streak,
    });
    history(tx, meta, &e.order_id, "ORDER_UPDATED", Some(&e.state), Some(&e.cause), detail).await
}

async fn replace_lines(tx: &mut PgConnection, meta: &Meta<'_>, e: &OrderUpdated) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM order_lines WHERE tenant_id = $1 AND order_id = $2")
        .bind(meta.tenant)
        .bind(&e.order_id)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("removing the lines of order {}", e.order_id))?;
    for (position, line) in e.lines.iter().enumerate() {
        insert_line(tx, meta, &e.order_id, position as i32, line).await?;
    }
    Ok(())
}

async fn insert_line(tx: &mut PgConnection, meta: &Meta<'_>, order_id: &str, position: i32, l: &OrderLine) -> anyhow::Result<()> {
    let allocations = serde_json::to_value(&l.allocations).context("serializing allocations")?;
    let alternatives = serde_json::to_value(&l.alternatives).context("serializing alternatives")?;
    sqlx::query(
        "INSERT INTO order_lines (tenant_id, order_id, line_id, position, material, color, requested_meters, normalized_meters, \
         status, replaced_by, inventory_status, available_meters, price_per_meter, hold_id, hold_status, allocations, alternatives) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) \
         ON CONFLICT (tenant_id, order_id, line_id) DO UPDATE SET position = EXCLUDED.position, material = EXCLUDED.material, \
         color = EXCLUDED.color, requested_meters = EXCLUDED.requested_meters, normalized_meters = EXCLUDED.normalized_meters, \
         status = EXCLUDED.status, replaced_by = EXCLUDED.replaced_by, inventory_status = EXCLUDED.inventory_status, \
         available_meters = EXCLUDED.available_meters, price_per_meter = EXCLUDED.price_per_meter, hold_id = EXCLUDED.hold_id, \
         hold_status = EXCLUDED.hold_status, allocations = EXCLUDED.allocations, alternatives = EXCLUDED.alternatives",
    )
    .bind(meta.tenant)
    .bind(order_id)
    .bind(&l.line_id)
    .bind(position)
    .bind(&l.material)
    .bind(&l.color)
    .bind(l.requested_meters)
    .bind(l.normalized_meters)
    .bind(&l.status)
    .bind(&l.replaced_by)
    .bind(&l.inventory_status)
    .bind(l.available_meters)
    .bind(l.price_per_meter)
    .bind(&l.hold_id)
    .bind(&l.hold_status)
    .bind(allocations)
    .bind(alternatives)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting line {} of order {order_id}", l.line_id))?;
    Ok(())
}

/// The customer's session row follows their newest order; a terminal snapshot of another order never
/// replaces an active session.
async fn session(tx: &mut PgConnection, meta: &Meta<'_>, e: &OrderUpdated, opened_at: chrono::DateTime<chrono::Utc>) -> anyhow::Result<()> {
    let active = !TERMINAL.contains(&e.state.as_str());
    sqlx::query(
        "INSERT INTO sessions (tenant_id, customer, order_id, state, active, opened_at, last_event_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (tenant_id, customer) DO UPDATE SET order_id = EXCLUDED.order_id, state = EXCLUDED.state, \
         active = EXCLUDED.active, opened_at = EXCLUDED.opened_at, last_event_id = EXCLUDED.last_event_id, \
         updated_at = EXCLUDED.updated_at \
         WHERE sessions.updated_at <= EXCLUDED.updated_at \
           AND (sessions.order_id = EXCLUDED.order_id OR EXCLUDED.active OR NOT sessions.active)",
    )
    .bind(meta.tenant)
    .bind(&e.customer)
    .bind(&e.order_id)
    .bind(&e.state)
    .bind(active)
    .bind(opened_at)
    .bind(meta.event_id)
    .bind(meta.at)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting the session of {}", e.customer))?;
    Ok(())
}

/// Exactly the orders in WAITING_OWNER_CONFIRMATION; `waiting_since` keeps the entry time.
async fn pending_approval(tx: &mut PgConnection, meta: &Meta<'_>, e: &OrderUpdated) -> anyhow::Result<()> {
    if e.state != WAITING {
        sqlx::query("DELETE FROM pending_approvals WHERE tenant_id = $1 AND order_id = $2")
            .bind(meta.tenant)
            .bind(&e.order_id)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("removing the pending approval of order {}", e.order_id))?;
        return Ok(());
    }
    let active_lines = e.lines.iter().filter(|l| l.status != "CANCELLED" && l.status != "REPLACED").count() as i32;
    sqlx::query(
        "INSERT INTO pending_approvals (tenant_id, order_id, customer, subtotal, active_lines, waiting_since, last_event_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $6) \
         ON CONFLICT (tenant_id, order_id) DO UPDATE SET customer = EXCLUDED.customer, subtotal = EXCLUDED.subtotal, \
         active_lines = EXCLUDED.active_lines, last_event_id = EXCLUDED.last_event_id, updated_at = EXCLUDED.updated_at",
    )
    .bind(meta.tenant)
    .bind(&e.order_id)
    .bind(&e.customer)
    .bind(e.subtotal)
    .bind(active_lines)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting the pending approval of order {}", e.order_id))?;
    Ok(())
}

/// Records which order an inbound message belongs to and fills it in if the message is projected
/// already (otherwise the message picks it up when it arrives).
async fn link_message(tx: &mut PgConnection, meta: &Meta<'_>, wamid: &str, order_id: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO message_order_links (tenant_id, wamid, order_id) VALUES ($1, $2, $3) \
         ON CONFLICT (tenant_id, wamid) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(wamid)
    .bind(order_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("linking message {wamid} to order {order_id}"))?;
    sqlx::query(
        "UPDATE messages SET order_id = l.order_id FROM message_order_links l \
         WHERE messages.tenant_id = $1 AND messages.message_id = $2 AND messages.direction = 'in' \
           AND messages.order_id IS NULL AND l.tenant_id = $1 AND l.wamid = $2",
    )
    .bind(meta.tenant)
    .bind(wamid)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("setting the order of message {wamid}"))?;
    Ok(())
}

/// The latest answer to an owner command, plus a history entry for its order.
pub(super) async fn command_outcome(tx: &mut PgConnection, meta: &Meta<'_>, e: &CommandOutcome) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO command_outcomes (tenant_id, command_id, order_id, command, accepted, code, detail, occurred_at, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
         ON CONFLICT (tenant_id, command_id) DO UPDATE SET order_id = EXCLUDED.order_id, command = EXCLUDED.command, \
         accepted = EXCLUDED.accepted, code = EXCLUDED.code, detail = EXCLUDED.detail, occurred_at = EXCLUDED.occurred_at, \
         event_id = EXCLUDED.event_id WHERE command_outcomes.occurred_at <= EXCLUDED.occurred_at",
    )
    .bind(meta.tenant)
    .bind(&e.command_id)
    .bind(&e.order_id)
    .bind(&e.command)
    .bind(e.accepted)
    .bind(&e.code)
    .bind(&e.detail)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting the outcome of command {}", e.command_id))?;
    let detail = serde_json::json!({ "command_id": e.command_id, "command": e.command, "accepted": e.accepted, "code": e.code, "detail": e.detail });
    history(tx, meta, &e.order_id, "COMMAND_OUTCOME", None, Some(&e.command), detail).await
}

/// A new escalation (status `pending`); a replay never resets a status the owner changed.
pub(super) async fn escalation(tx: &mut PgConnection, meta: &Meta<'_>, e: &EscalationRaised) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO escalations (tenant_id, escalation_id, customer, order_id, kind, priority, detail, raised_at, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (tenant_id, escalation_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(&e.escalation_id)
    .bind(&e.customer)
    .bind(&e.order_id)
    .bind(&e.kind)
    .bind(&e.priority)
    .bind(&e.detail)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting escalation {}", e.escalation_id))?;
    match &e.order_id {
        Some(order_id) => {
            let detail = serde_json::json!({ "escalation_id": e.escalation_id, "kind": e.kind, "priority": e.priority, "detail": e.detail });
            history(tx, meta, order_id, "ESCALATION_RAISED", None, Some(&e.kind), detail).await
        }
        None => Ok(()),
    }
}
