//! Billing events (rules A5–A6): invoices numbered per tenant, the per-customer ledger,
//! payments and reminders. `billing.commands` is keyed `<tenant>` (one numbering writer per tenant);
//! `ledger.*` is keyed `<tenant>|<customer>`.

use crate::clock::Tick;
use crate::envelope::Envelope;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One invoiced line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLine {
    /// Order line id.
    pub line_id: String,
    /// Material.
    pub material: String,
    /// Color.
    pub color: String,
    /// Meters delivered (normalized meters).
    pub meters: Decimal,
    /// Price snapshot.
    pub price_per_meter: Decimal,
    /// meters × price, exact.
    pub amount: Decimal,
}

/// An approved order asks for its one invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequested {
    pub envelope: Envelope,
    /// The order.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Lines to invoice.
    pub lines: Vec<InvoiceLine>,
}

/// Tenant billing settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantSettingsChanged {
    pub envelope: Envelope,
    /// GST rate, e.g. 0.0500.
    pub gst_rate: Decimal,
    /// Payment terms and reminder cadence in days.
    pub reminder_days: i32,
}

/// The order's invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceIssued {
    pub envelope: Envelope,
    /// UUIDv5 of the order id.
    pub invoice_id: String,
    /// `INV-000001`.
    pub invoice_number: String,
    /// The order.
    pub order_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Lines.
    pub lines: Vec<InvoiceLine>,
    /// Σ amounts.
    pub subtotal: Decimal,
    /// Rate applied.
    pub gst_rate: Decimal,
    /// subtotal × rate, half-up to 2 dp.
    pub gst_amount: Decimal,
    /// subtotal + GST.
    pub total: Decimal,
    /// Epoch ms.
    pub issued_at: i64,
    /// Payment terms in days.
    pub reminder_days: i32,
}

/// A payment from a customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecorded {
    pub envelope: Envelope,
    /// Idempotency key.
    pub payment_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// Amount paid (> 0).
    pub amount: Decimal,
    /// Cash, UPI, ...
    pub method: Option<String>,
    /// Bank/UPI reference.
    pub reference: Option<String>,
}

/// An append-only ledger entry and the balance after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerEntryAppended {
    pub envelope: Envelope,
    /// Deterministic id.
    pub entry_id: String,
    /// Customer wa_id.
    pub customer: String,
    /// `INVOICE` or `PAYMENT`.
    pub kind: String,
    /// invoice_id or payment_id.
    pub reference: String,
    /// For invoices.
    pub invoice_number: Option<String>,
    /// Positive amount of the entry.
    pub amount: Decimal,
    /// Σ invoices.
    pub total_invoiced: Decimal,
    /// Σ payments.
    pub total_paid: Decimal,
    /// total_invoiced − total_paid.
    pub outstanding: Decimal,
}

/// A customer owes money past the payment terms.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentReminderDue {
    pub envelope: Envelope,
    /// Customer wa_id.
    pub customer: String,
    /// Outstanding balance.
    pub outstanding: Decimal,
    /// Number of the oldest unpaid invoice.
    pub oldest_unpaid_invoice: String,
    /// Days since it was issued.
    pub days_overdue: i32,
}

/// Everything on `billing.commands` (key `<tenant>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BillingCommand {
    InvoiceRequested(InvoiceRequested),
    TenantSettingsChanged(TenantSettingsChanged),
}

/// Everything on `ledger.inputs` (key `<tenant>|<customer>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerInput {
    InvoiceIssued(InvoiceIssued),
    PaymentRecorded(PaymentRecorded),
    Tick(Tick),
}

/// Everything on `ledger.events`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerEvent {
    LedgerEntryAppended(LedgerEntryAppended),
    PaymentReminderDue(PaymentReminderDue),
}

crate::stream_event!(BillingCommand { InvoiceRequested, TenantSettingsChanged });
crate::stream_event!(LedgerInput { InvoiceIssued, PaymentRecorded, Tick } tick Tick);
crate::stream_event!(LedgerEvent { LedgerEntryAppended, PaymentReminderDue });
