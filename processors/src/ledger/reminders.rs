//! Payment reminders (rules A6): each invoice has a timer at issue + terms (tenant's
//! `reminder_days`, default 7) that re-arms every `reminder_days` while the invoice is unpaid; a paid
//! invoice's timer is cancelled. Time is stream time only (ticks on `ledger.inputs`).
//!
//! One cadence per customer: a timer reminds only when its invoice is the oldest unpaid one (the
//! reminder names it and the whole outstanding balance); a younger invoice's timer stays armed
//! silently until the older ones are paid. The second reminder of an invoice also raises a
//! `PAYMENT_OVERDUE` escalation (medium) so the owner can follow up in person; later ones do not.
//! When stream time jumps past several due dates at once, one reminder is sent (not one per missed
//! date) and the next is armed at the first due date after now.

use super::state::LedgerState;
use super::{reminder_timer_id, send, CustomerKey, LedgerOutput, DAY_MS};
use crate::invoicing::money::format_inr;
use souk_runtime::Ctx;
use souk_schemas::billing::PaymentReminderDue;
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::orders::EscalationRaised;
use uuid::Uuid;

/// `OutboundMessageRequested.purpose` of a reminder.
pub const REMINDER_PURPOSE: &str = "payment_reminder";
/// `EscalationRaised.kind` raised at an invoice's second reminder.
pub const OVERDUE_KIND: &str = "PAYMENT_OVERDUE";
/// The reminder of an invoice that also escalates to the owner.
pub const ESCALATE_AT_REMINDER: u32 = 2;

/// The reminder timer of `invoice_id` came due at stream time `ctx.now()`.
pub(super) fn reminder_due(state: &mut LedgerState, invoice_id: &str, key: &CustomerKey<'_>, ctx: &mut Ctx<LedgerOutput>) {
    let now = ctx.now();
    let outstanding = state.outstanding();
    let Some(position) = state.open.iter().position(|i| i.invoice_id == invoice_id) else {
        return; // paid meanwhile (its timer is normally cancelled then)
    };
    let invoice = &mut state.open[position];
    let period = i64::from(invoice.reminder_days) * DAY_MS;
    let elapsed = now.saturating_sub(invoice.issued_at).max(0);
    let next_due = invoice.issued_at.saturating_add((elapsed / period + 1).saturating_mul(period));
    ctx.schedule(reminder_timer_id(invoice_id), next_due);
    if position != 0 {
        return; // an older invoice is unpaid: its reminders carry the balance
    }
    invoice.reminders_sent += 1;
    let invoice = invoice.clone();
    let days = i32::try_from(elapsed / DAY_MS).unwrap_or(i32::MAX);
    let reminder = PaymentReminderDue { envelope: ctx.envelope(), customer: key.customer.to_string(), outstanding, oldest_unpaid_invoice: invoice.invoice_number.clone(), days_overdue: days };
    ctx.emit(key.text.to_string(), LedgerOutput::PaymentReminderDue(reminder));
    let text = format!("Reminder: {} is outstanding. Invoice #{} was issued {days} days ago.", format_inr(outstanding), invoice.invoice_number);
    send(ctx, key, Some(&invoice.order_id), REMINDER_PURPOSE, text);
    if invoice.reminders_sent == ESCALATE_AT_REMINDER {
        let escalation = EscalationRaised {
            envelope: ctx.envelope(),
            escalation_id: Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{}/{OVERDUE_KIND}/{invoice_id}", key.text).as_bytes()).to_string(),
            customer: Some(key.customer.to_string()),
            order_id: Some(invoice.order_id.clone()),
            kind: OVERDUE_KIND.to_string(),
            priority: "medium".to_string(),
            detail: format!("Invoice #{} unpaid after {} reminders ({days} days); outstanding {}.", invoice.invoice_number, invoice.reminders_sent, format_inr(outstanding)),
        };
        ctx.emit(key.text.to_string(), LedgerOutput::EscalationRaised(escalation));
    }
}
