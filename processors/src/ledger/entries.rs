//! Ledger entries (rules A6, S003.7 / SM-6): an issued invoice adds an INVOICE entry, a
//! recorded payment a PAYMENT entry and a receipt to the customer; each idempotent on its id (a
//! repeat emits nothing). Payments are never part of an approval: they arrive on their own.

use super::state::{LedgerState, OpenInvoice};
use super::{check_customer, entry_id, reminder_timer_id, send, CustomerKey, LedgerOutput, DAY_MS};
use crate::invoicing::money::{check_scale, format_inr, MONEY_SCALE};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::billing::{InvoiceIssued, LedgerEntryAppended, PaymentRecorded};

/// `LedgerEntryAppended.kind` of an invoice.
pub const INVOICE_KIND: &str = "INVOICE";
/// `LedgerEntryAppended.kind` of a payment.
pub const PAYMENT_KIND: &str = "PAYMENT";
/// `OutboundMessageRequested.purpose` of a payment receipt.
pub const RECEIPT_PURPOSE: &str = "payment_receipt";

/// `amount` > 0 with at most 2 decimals.
fn check_amount(amount: Decimal, field: &str) -> Result<(), Rejection> {
    if amount <= Decimal::ZERO {
        return Err(Rejection::new("NON_POSITIVE_AMOUNT", format!("{field} {amount} <= 0")));
    }
    check_scale(amount, MONEY_SCALE, field)
}

/// `InvoiceIssued`: enter the invoice once, schedule its first reminder at issue + terms.
pub(super) fn invoice_issued(state: &mut LedgerState, e: &InvoiceIssued, key: &CustomerKey<'_>, ctx: &mut Ctx<LedgerOutput>) -> Result<(), Rejection> {
    check_customer(key, &e.customer)?;
    if e.invoice_id.is_empty() {
        return Err(Rejection::new("BAD_INVOICE_ID", "empty invoice_id"));
    }
    check_amount(e.total, "total")?;
    if e.reminder_days < 1 {
        return Err(Rejection::new("BAD_REMINDER_DAYS", format!("reminder_days {} < 1", e.reminder_days)));
    }
    if state.knows_invoice(&e.invoice_id) {
        return Ok(());
    }
    state.total_invoiced += e.total;
    state.invoices_seen.remember(&e.invoice_id);
    state.open.push(OpenInvoice {
        invoice_id: e.invoice_id.clone(),
        invoice_number: e.invoice_number.clone(),
        order_id: e.order_id.clone(),
        total: e.total,
        issued_at: e.issued_at,
        reminder_days: e.reminder_days,
        reminders_sent: 0,
    });
    let due = e.issued_at.saturating_add(i64::from(e.reminder_days) * DAY_MS);
    ctx.schedule(reminder_timer_id(&e.invoice_id), due);
    settle(state, ctx);
    append(state, ctx, key, INVOICE_KIND, &e.invoice_id, Some(&e.invoice_number), e.total);
    Ok(())
}

/// `PaymentRecorded`: enter the payment once (amount > 0, ≤ 2 dp), pay invoices oldest first and
/// send the receipt. Overpayment is allowed: the outstanding goes negative, a credit that pays
/// the next invoices.
pub(super) fn payment_recorded(state: &mut LedgerState, e: &PaymentRecorded, key: &CustomerKey<'_>, ctx: &mut Ctx<LedgerOutput>) -> Result<(), Rejection> {
    check_customer(key, &e.customer)?;
    if e.payment_id.is_empty() {
        return Err(Rejection::new("BAD_PAYMENT_ID", "empty payment_id"));
    }
    check_amount(e.amount, "amount")?;
    if state.payments_seen.contains(&e.payment_id) {
        return Ok(());
    }
    state.total_paid += e.amount;
    state.payments_seen.remember(&e.payment_id);
    settle(state, ctx);
    append(state, ctx, key, PAYMENT_KIND, &e.payment_id, None, e.amount);
    let outstanding = state.outstanding();
    let balance = if outstanding < Decimal::ZERO { format!("Credit {}", format_inr(-outstanding)) } else { format!("Outstanding {}", format_inr(outstanding)) };
    let text = format!("Payment of {} received. {balance}.", format_inr(e.amount));
    send(ctx, key, None, RECEIPT_PURPOSE, text);
    Ok(())
}

/// Drops fully paid invoices and their reminder timers.
fn settle(state: &mut LedgerState, ctx: &mut Ctx<LedgerOutput>) {
    for invoice_id in state.settle() {
        ctx.cancel(&reminder_timer_id(&invoice_id));
    }
}

/// Emits the entry with the balances after it.
fn append(state: &LedgerState, ctx: &mut Ctx<LedgerOutput>, key: &CustomerKey<'_>, kind: &str, reference: &str, invoice_number: Option<&str>, amount: Decimal) {
    let entry = LedgerEntryAppended {
        envelope: ctx.envelope(),
        entry_id: entry_id(key, kind, reference),
        customer: key.customer.to_string(),
        kind: kind.to_string(),
        reference: reference.to_string(),
        invoice_number: invoice_number.map(str::to_string),
        amount,
        total_invoiced: state.total_invoiced,
        total_paid: state.total_paid,
        outstanding: state.outstanding(),
    };
    ctx.emit(key.text.to_string(), LedgerOutput::LedgerEntryAppended(entry));
}
