//! The per-customer ledger state (rules A6): running totals, the invoices not yet covered by
//! payments (FIFO: payments pay the oldest invoice first), and bounded memories of the invoice and
//! payment ids already entered, for idempotency.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How many invoice ids and how many payment ids a customer's ledger remembers (each; oldest
/// forgotten first). Open invoices are always known besides. A payment redelivered after 1024 newer
/// payments of the same customer would be entered twice; redeliveries (webhook retries, replays)
/// arrive long before that, and exact redeliveries of a record are also dropped by the runtime.
pub const IDS_REMEMBERED: usize = 1024;

/// One customer's ledger; `Default` is a customer never seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerState {
    /// Σ invoice totals.
    pub total_invoiced: Decimal,
    /// Σ payments.
    pub total_paid: Decimal,
    /// Invoices not fully paid, oldest first (arrival order at this ledger = issue order).
    pub open: Vec<OpenInvoice>,
    /// Σ totals of the invoices payments fully covered (dropped from `open`).
    pub settled_total: Decimal,
    /// Invoice ids already entered.
    pub invoices_seen: RecentIds,
    /// Payment ids already entered.
    pub payments_seen: RecentIds,
}

/// An invoice the customer has not fully paid yet, with what its reminders need.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenInvoice {
    /// UUIDv5 of the order.
    pub invoice_id: String,
    /// `INV-000001`.
    pub invoice_number: String,
    /// The order it bills.
    pub order_id: String,
    /// Invoice total.
    pub total: Decimal,
    /// Epoch ms of issue.
    pub issued_at: i64,
    /// Payment terms and reminder cadence in days.
    pub reminder_days: i32,
    /// Reminders sent for it so far.
    pub reminders_sent: u32,
}

/// A bounded, ordered memory of ids (oldest forgotten first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentIds {
    /// Ids in the order they were remembered.
    pub ids: VecDeque<String>,
}

impl RecentIds {
    /// True when `id` is remembered.
    pub fn contains(&self, id: &str) -> bool {
        self.ids.iter().any(|known| known == id)
    }

    /// Remembers `id`, forgetting the oldest beyond [`IDS_REMEMBERED`].
    pub fn remember(&mut self, id: &str) {
        self.ids.push_back(id.to_string());
        while self.ids.len() > IDS_REMEMBERED {
            self.ids.pop_front();
        }
    }
}

impl LedgerState {
    /// total invoiced − total paid; negative when the customer paid ahead (a credit).
    pub fn outstanding(&self) -> Decimal {
        self.total_invoiced - self.total_paid
    }

    /// True when the invoice was already entered (open, or remembered).
    pub fn knows_invoice(&self, invoice_id: &str) -> bool {
        self.open.iter().any(|i| i.invoice_id == invoice_id) || self.invoices_seen.contains(invoice_id)
    }

    /// Allocates payments to invoices oldest first and drops the fully paid ones from `open`;
    /// returns their ids (their reminders are no longer needed).
    pub fn settle(&mut self) -> Vec<String> {
        let mut settled = Vec::new();
        while let Some(oldest) = self.open.first() {
            if self.total_paid - self.settled_total < oldest.total {
                break;
            }
            self.settled_total += oldest.total;
            settled.push(self.open.remove(0).invoice_id);
        }
        settled
    }
}
