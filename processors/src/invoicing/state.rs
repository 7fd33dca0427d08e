//! The per-tenant state of invoicing: billing settings, the last invoice number, and a bounded
//! memory of the invoices issued (by order), so a repeated request gets the same invoice back.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, VecDeque};

/// How many issued invoices a tenant remembers for idempotent answers (oldest forgotten first).
///
/// The whole tenant state is one changelog record, rewritten after every batch that touches the
/// tenant, so the memory must stay small (~200 bytes per invoice, ~200 KB in all). A request
/// repeated after 1024 newer invoices of the same tenant would get a new number; repeats come from
/// redeliveries and saga retries of a just-approved order, long before that.
pub const ISSUED_REMEMBERED: usize = 1024;

/// The GST rate of a tenant that never set one (rules A5: 5 %).
pub fn default_gst_rate() -> Decimal {
    Decimal::new(5, 2)
}

/// The payment terms / reminder cadence of a tenant that never set one (rules A6: 7 days).
pub const DEFAULT_REMINDER_DAYS: i32 = 7;

/// One tenant's invoicing state; `Default` is a tenant never seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoicingState {
    /// Billing settings in force for the next invoice.
    #[serde(default)]
    pub settings: Settings,
    /// The number of the last invoice issued (0 = none yet); the next one is `last_number + 1`.
    #[serde(default)]
    pub last_number: u64,
    /// Issued invoices by order id (one invoice per order, rules A5).
    #[serde(default)]
    pub issued: BTreeMap<String, IssuedInvoice>,
    /// Order ids of `issued` in issue order; bounds `issued` deterministically.
    #[serde(default)]
    pub issued_order: VecDeque<String>,
}

/// A tenant's billing settings (`TenantSettingsChanged`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// GST rate, 0 ≤ rate < 1, at most 4 decimals.
    pub gst_rate: Decimal,
    /// Days until an unpaid invoice is reminded, and between reminders (≥ 1).
    pub reminder_days: i32,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings { gst_rate: default_gst_rate(), reminder_days: DEFAULT_REMINDER_DAYS }
    }
}

/// What is needed to issue an order's invoice again, identically: its number, the settings and
/// time it was issued with, and a digest of the request (customer and lines) it answered.
/// Amounts are recomputed from the lines and the stored rate (a pure function), not stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedInvoice {
    /// Sequence number (`INV-000001` is 1).
    pub number: u64,
    /// Digest of the customer and lines of the request ([`super::issue::request_digest`]).
    pub request_digest: String,
    /// Rate applied.
    pub gst_rate: Decimal,
    /// Payment terms applied.
    pub reminder_days: i32,
    /// Epoch ms of issue.
    pub issued_at: i64,
}

impl InvoicingState {
    /// Remembers an issued invoice, forgetting the oldest beyond [`ISSUED_REMEMBERED`].
    pub fn remember(&mut self, order_id: &str, invoice: IssuedInvoice) {
        if self.issued.insert(order_id.to_string(), invoice).is_none() {
            self.issued_order.push_back(order_id.to_string());
        }
        while self.issued_order.len() > ISSUED_REMEMBERED {
            if let Some(oldest) = self.issued_order.pop_front() {
                self.issued.remove(&oldest);
            }
        }
    }
}

/// The display form of invoice number `n`: `INV-000001` (six digits at least, per tenant).
pub fn invoice_number(n: u64) -> String {
    format!("INV-{n:06}")
}
