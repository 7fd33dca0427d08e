//! Billing → `invoices`, `payments`, `ledger_entries`, `ledger_balances`, `payment_reminders`.
//! Every row is keyed by its source id and written once (the first record wins), so a redelivered
//! invoice or payment never counts twice; balances follow the newest ledger entry.

use super::Meta;
use anyhow::Context;
use souk_schemas::billing::{InvoiceIssued, LedgerEntryAppended, PaymentRecorded, PaymentReminderDue};
use sqlx::PgConnection;

/// The order's one invoice, plus an entry in the order's history. An invoice that clashes with a
/// different stored one on number or order (an upstream bug) is logged and skipped, not retried.
pub(super) async fn invoice(tx: &mut PgConnection, meta: &Meta<'_>, e: &InvoiceIssued) -> anyhow::Result<()> {
    let issued_at = super::ts(e.issued_at, "issued_at").map_err(anyhow::Error::msg)?;
    let lines = serde_json::to_value(&e.lines).context("serializing invoice lines")?;
    let inserted = sqlx::query(
        "INSERT INTO invoices (tenant_id, invoice_id, invoice_number, order_id, customer, subtotal, gst_rate, gst_amount, total, \
         lines, reminder_days, issued_at, last_event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(&e.invoice_id)
    .bind(&e.invoice_number)
    .bind(&e.order_id)
    .bind(&e.customer)
    .bind(e.subtotal)
    .bind(e.gst_rate)
    .bind(e.gst_amount)
    .bind(e.total)
    .bind(lines)
    .bind(e.reminder_days)
    .bind(issued_at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting invoice {}", e.invoice_number))?
    .rows_affected();
    if inserted == 0 {
        let same: Option<(String,)> = sqlx::query_as("SELECT invoice_id FROM invoices WHERE tenant_id = $1 AND invoice_id = $2")
            .bind(meta.tenant)
            .bind(&e.invoice_id)
            .fetch_optional(&mut *tx)
            .await
            .context("looking up a clashing invoice")?;
        if same.is_none() {
            tracing::warn!(tenant = meta.tenant, invoice_id = %e.invoice_id, invoice_number = %e.invoice_number, order_id = %e.order_id,
                "invoice clashes with a stored one on its number or order; not projected");
            return Ok(());
        }
    }
    let detail = serde_json::json!({
        "invoice_id": e.invoice_id,
        "invoice_number": e.invoice_number,
        "subtotal": e.subtotal,
        "gst_amount": e.gst_amount,
        "total": e.total,
    });
    super::orders::history(tx, meta, &e.order_id, "INVOICE_ISSUED", None, Some(&e.invoice_number), detail).await
}

/// A payment as recorded (idempotent on payment_id).
pub(super) async fn payment(tx: &mut PgConnection, meta: &Meta<'_>, e: &PaymentRecorded) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO payments (tenant_id, payment_id, customer, amount, method, reference, recorded_at, event_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (tenant_id, payment_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(&e.payment_id)
    .bind(&e.customer)
    .bind(e.amount)
    .bind(&e.method)
    .bind(&e.reference)
    .bind(meta.at)
    .bind(meta.event_id)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting payment {}", e.payment_id))?;
    Ok(())
}

/// One ledger entry (append-only) and the customer's balance after it.
pub(super) async fn ledger_entry(tx: &mut PgConnection, meta: &Meta<'_>, e: &LedgerEntryAppended) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO ledger_entries (tenant_id, entry_id, customer, kind, reference, invoice_number, amount, total_invoiced, \
         total_paid, outstanding_after, occurred_at, source_offset) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
         ON CONFLICT (tenant_id, entry_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(&e.entry_id)
    .bind(&e.customer)
    .bind(&e.kind)
    .bind(&e.reference)
    .bind(&e.invoice_number)
    .bind(e.amount)
    .bind(e.total_invoiced)
    .bind(e.total_paid)
    .bind(e.outstanding)
    .bind(meta.at)
    .bind(meta.offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting ledger entry {}", e.entry_id))?;
    sqlx::query(
        "INSERT INTO ledger_balances (tenant_id, customer, total_invoiced, total_paid, outstanding, last_entry_id, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (tenant_id, customer) DO UPDATE SET total_invoiced = EXCLUDED.total_invoiced, \
         total_paid = EXCLUDED.total_paid, outstanding = EXCLUDED.outstanding, last_entry_id = EXCLUDED.last_entry_id, \
         updated_at = EXCLUDED.updated_at WHERE ledger_balances.updated_at <= EXCLUDED.updated_at",
    )
    .bind(meta.tenant)
    .bind(&e.customer)
    .bind(e.total_invoiced)
    .bind(e.total_paid)
    .bind(e.outstanding)
    .bind(&e.entry_id)
    .bind(meta.at)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("upserting the balance of {}", e.customer))?;
    Ok(())
}

/// An overdue reminder the ledger raised.
pub(super) async fn reminder(tx: &mut PgConnection, meta: &Meta<'_>, e: &PaymentReminderDue) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO payment_reminders (tenant_id, event_id, customer, outstanding, oldest_unpaid_invoice, days_overdue, due_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(meta.tenant)
    .bind(meta.event_id)
    .bind(&e.customer)
    .bind(e.outstanding)
    .bind(&e.oldest_unpaid_invoice)
    .bind(e.days_overdue)
    .bind(meta.at)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("inserting reminder for {}", e.customer))?;
    Ok(())
}
