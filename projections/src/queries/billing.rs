//! Invoices, the customer ledger and payments.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// An issued invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct InvoiceRow {
    /// UUIDv5 of the order id.
    pub invoice_id: String,
    /// `INV-000123`.
    pub invoice_number: String,
    /// The order.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Σ line amounts.
    pub subtotal: Decimal,
    /// GST rate applied.
    pub gst_rate: Decimal,
    /// GST, half-up to 2 dp.
    pub gst_amount: Decimal,
    /// subtotal + GST.
    pub total: Decimal,
    /// Invoiced lines (decimals as strings).
    pub lines: serde_json::Value,
    /// Payment terms in days.
    pub reminder_days: i32,
    /// When it was issued.
    pub issued_at: DateTime<Utc>,
}

/// One append-only ledger entry with the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LedgerEntryRow {
    /// The entry.
    pub entry_id: String,
    /// INVOICE or PAYMENT.
    pub kind: String,
    /// invoice_id or payment_id.
    pub reference: String,
    /// For invoices.
    pub invoice_number: Option<String>,
    /// Positive amount.
    pub amount: Decimal,
    /// Σ invoices after it.
    pub total_invoiced: Decimal,
    /// Σ payments after it.
    pub total_paid: Decimal,
    /// Outstanding after it.
    pub outstanding_after: Decimal,
    /// Source time.
    pub occurred_at: DateTime<Utc>,
}

/// A customer's balance as of the latest entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LedgerBalanceRow {
    /// Σ invoices.
    pub total_invoiced: Decimal,
    /// Σ payments.
    pub total_paid: Decimal,
    /// total_invoiced − total_paid.
    pub outstanding: Decimal,
    /// The latest entry.
    pub last_entry_id: String,
    /// Its source time.
    pub updated_at: DateTime<Utc>,
}

/// A recorded payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PaymentRow {
    /// Idempotency key.
    pub payment_id: String,
    /// Amount paid.
    pub amount: Decimal,
    /// Cash, UPI, ...
    pub method: Option<String>,
    /// Bank/UPI reference.
    pub reference: Option<String>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
}

/// A customer's account: balance (none before the first entry), entries and payments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ledger {
    /// Customer wa_id.
    pub customer: String,
    /// Latest balance.
    pub balance: Option<LedgerBalanceRow>,
    /// Entries, oldest first.
    pub entries: Vec<LedgerEntryRow>,
    /// Payments, oldest first.
    pub payments: Vec<PaymentRow>,
}

const INVOICE_COLUMNS: &str = "invoice_id, invoice_number, order_id, customer, subtotal, gst_rate, gst_amount, total, lines, \
     reminder_days, issued_at";

/// The invoice with this number.
pub async fn invoice_by_number(db: &mut sqlx::PgConnection, tenant: &str, number: &str) -> anyhow::Result<Option<InvoiceRow>> {
    sqlx::query_as(&format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND invoice_number = $2"))
        .bind(tenant)
        .bind(number)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading invoice {number}"))
}

/// The invoice of an order, once issued.
pub async fn invoice_for_order(db: &mut sqlx::PgConnection, tenant: &str, order_id: &str) -> anyhow::Result<Option<InvoiceRow>> {
    sqlx::query_as(&format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE tenant_id = $1 AND order_id = $2"))
        .bind(tenant)
        .bind(order_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading the invoice of order {order_id}"))
}

/// A customer's balance, ledger entries and payments.
pub async fn ledger(db: &mut sqlx::PgConnection, tenant: &str, customer: &str) -> anyhow::Result<Ledger> {
    let balance = sqlx::query_as(
        "SELECT total_invoiced, total_paid, outstanding, last_entry_id, updated_at FROM ledger_balances \
         WHERE tenant_id = $1 AND customer = $2",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_optional(&mut *db)
    .await
    .with_context(|| format!("reading the balance of {customer}"))?;
    let entries = sqlx::query_as(
        "SELECT entry_id, kind, reference, invoice_number, amount, total_invoiced, total_paid, outstanding_after, occurred_at \
         FROM ledger_entries WHERE tenant_id = $1 AND customer = $2 ORDER BY occurred_at, source_offset NULLS LAST, entry_id",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the ledger of {customer}"))?;
    let payments = sqlx::query_as(
        "SELECT payment_id, amount, method, reference, recorded_at FROM payments \
         WHERE tenant_id = $1 AND customer = $2 ORDER BY recorded_at, payment_id",
    )
    .bind(tenant)
    .bind(customer)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the payments of {customer}"))?;
    Ok(Ledger { customer: customer.to_string(), balance, entries, payments })
}
