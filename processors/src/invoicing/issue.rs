//! Issuing an order's invoice (rules A5, S003.6, SM-5): validate the lines, number the
//! invoice per tenant, compute subtotal, GST (half-up to paise) and total in Decimal, and tell the
//! customer. A repeated request for the same order answers with the same invoice, never a second
//! number, and sends no second message.

use super::money::{check_scale, format_inr, round_money, METER_SCALE, MONEY_SCALE};
use super::state::{invoice_number, InvoicingState, IssuedInvoice};
use super::{InvoicingOutput, Totals};
use rust_decimal::Decimal;
use souk_runtime::{Ctx, Rejection};
use souk_schemas::billing::{InvoiceIssued, InvoiceLine, InvoiceRequested};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::whatsapp::OutboundMessageRequested;
use std::collections::BTreeSet;
use uuid::Uuid;

/// `OutboundMessageRequested.purpose` of the approval message.
pub const APPROVED_PURPOSE: &str = "approved";

/// The invoice id of an order: UUIDv5 of the order id (rules A5), so every component that
/// knows the order can name its invoice.
pub fn invoice_id(order_id: &str) -> String {
    Uuid::new_v5(&SOUK_ID_NAMESPACE, order_id.as_bytes()).to_string()
}

/// A digest of what was asked to be invoiced (customer and lines, decimals normalized), to tell
/// a repeated request from a conflicting one for the same order.
pub fn request_digest(customer: &str, lines: &[InvoiceLine]) -> String {
    let mut text = customer.to_string();
    for l in lines {
        text.push_str(&format!("\n{}|{}|{}|{}|{}|{}", l.line_id, l.material, l.color, l.meters.normalize(), l.price_per_meter.normalize(), l.amount.normalize()));
    }
    Uuid::new_v5(&SOUK_ID_NAMESPACE, text.as_bytes()).to_string()
}

/// Checks one line: meters > 0 (≤ 3 dp), price > 0 (≤ 2 dp), and `amount` = meters × price, exact
/// when that product has at most 2 decimals, else rounded half-up to paise (the wire carries
/// money with 2 decimals, so the requester rounds each line the same way).
pub fn check_line(line: &InvoiceLine) -> Result<(), Rejection> {
    let id = &line.line_id;
    if id.is_empty() {
        return Err(Rejection::new("BAD_LINE_ID", "empty line_id"));
    }
    if line.meters <= Decimal::ZERO {
        return Err(Rejection::new("NON_POSITIVE_METERS", format!("line {id}: meters {} <= 0", line.meters)));
    }
    check_scale(line.meters, METER_SCALE, "meters")?;
    if line.price_per_meter <= Decimal::ZERO {
        return Err(Rejection::new("NON_POSITIVE_PRICE", format!("line {id}: price_per_meter {} <= 0", line.price_per_meter)));
    }
    check_scale(line.price_per_meter, MONEY_SCALE, "price_per_meter")?;
    check_scale(line.amount, MONEY_SCALE, "amount")?;
    let exact = line.meters.checked_mul(line.price_per_meter).ok_or_else(|| overflow(id))?;
    if line.amount != round_money(exact) {
        return Err(Rejection::new("AMOUNT_MISMATCH", format!("line {id}: amount {} != {} × {} = {exact}", line.amount, line.meters, line.price_per_meter)));
    }
    Ok(())
}

fn overflow(what: &str) -> Rejection {
    Rejection::new("AMOUNT_OVERFLOW", format!("{what}: amount out of range"))
}

/// Subtotal = Σ line amounts, GST = subtotal × rate rounded half-up to paise, total = subtotal + GST.
pub fn totals(lines: &[InvoiceLine], gst_rate: Decimal) -> Result<Totals, Rejection> {
    let subtotal = lines.iter().try_fold(Decimal::ZERO, |sum, l| sum.checked_add(l.amount)).ok_or_else(|| overflow("subtotal"))?;
    let gst_amount = round_money(subtotal.checked_mul(gst_rate).ok_or_else(|| overflow("gst"))?);
    let total = subtotal.checked_add(gst_amount).ok_or_else(|| overflow("total"))?;
    Ok(Totals { subtotal, gst_amount, total })
}

/// Validates the request as a whole: order, customer (a key part: no `|`), at least one line,
/// distinct line ids, every line well-formed.
fn check_request(e: &InvoiceRequested) -> Result<(), Rejection> {
    if e.order_id.is_empty() {
        return Err(Rejection::new("BAD_ORDER_ID", "empty order_id"));
    }
    if e.customer.is_empty() || e.customer.contains('|') {
        return Err(Rejection::new("BAD_CUSTOMER", format!("customer {:?} cannot be a key part", e.customer)));
    }
    if e.lines.is_empty() {
        return Err(Rejection::new("NO_LINES", format!("order {} has no lines to invoice", e.order_id)));
    }
    let mut ids = BTreeSet::new();
    for line in &e.lines {
        if !ids.insert(line.line_id.as_str()) {
            return Err(Rejection::new("DUPLICATE_LINE", format!("line {} appears twice", line.line_id)));
        }
        check_line(line)?;
    }
    Ok(())
}

/// `InvoiceRequested`: issue the order's one invoice, or answer a repeat with the same invoice.
pub(super) fn invoice_requested(state: &mut InvoicingState, e: &InvoiceRequested, ctx: &mut Ctx<InvoicingOutput>) -> Result<(), Rejection> {
    check_request(e)?;
    let digest = request_digest(&e.customer, &e.lines);
    if let Some(issued) = state.issued.get(&e.order_id) {
        if issued.request_digest != digest {
            return Err(Rejection::new("INVOICE_CONFLICT", format!("order {} was invoiced as {} for other lines or another customer", e.order_id, invoice_number(issued.number))));
        }
        let issued = issued.clone();
        emit_invoice(e, &issued, ctx)?;
        return Ok(());
    }
    let issued =
        IssuedInvoice { number: state.last_number + 1, request_digest: digest, gst_rate: state.settings.gst_rate, reminder_days: state.settings.reminder_days, issued_at: e.envelope.occurred_at };
    let invoice = emit_invoice(e, &issued, ctx)?;
    tell_customer(&invoice, ctx);
    state.last_number = issued.number;
    state.remember(&e.order_id, issued);
    Ok(())
}

/// Emits the `InvoiceIssued` of `issued` for the request's lines (key `<tenant>|<customer>`).
fn emit_invoice(e: &InvoiceRequested, issued: &IssuedInvoice, ctx: &mut Ctx<InvoicingOutput>) -> Result<InvoiceIssued, Rejection> {
    let Totals { subtotal, gst_amount, total } = totals(&e.lines, issued.gst_rate)?;
    let invoice = InvoiceIssued {
        envelope: ctx.envelope(),
        invoice_id: invoice_id(&e.order_id),
        invoice_number: invoice_number(issued.number),
        order_id: e.order_id.clone(),
        customer: e.customer.clone(),
        lines: e.lines.clone(),
        subtotal,
        gst_rate: issued.gst_rate,
        gst_amount,
        total,
        issued_at: issued.issued_at,
        reminder_days: issued.reminder_days,
    };
    ctx.emit(customer_key(ctx, &e.customer), InvoicingOutput::InvoiceIssued(invoice.clone()));
    Ok(invoice)
}

/// The approval message with the invoice number and amounts (rules F3.1).
fn tell_customer(invoice: &InvoiceIssued, ctx: &mut Ctx<InvoicingOutput>) {
    let text = format!("Order approved. Invoice #{}. Total {} (incl. GST {}).", invoice.invoice_number, format_inr(invoice.total), format_inr(invoice.gst_amount));
    let message =
        OutboundMessageRequested { envelope: ctx.envelope(), to: invoice.customer.clone(), order_id: Some(invoice.order_id.clone()), purpose: APPROVED_PURPOSE.to_string(), text, buttons: Vec::new() };
    ctx.emit(customer_key(ctx, &invoice.customer), InvoicingOutput::OutboundMessageRequested(message));
}

/// `<tenant>|<customer>`: the key of everything invoicing emits.
fn customer_key(ctx: &Ctx<InvoicingOutput>, customer: &str) -> String {
    souk_schemas::key::CustomerKey::of(ctx.key(), customer)
}
