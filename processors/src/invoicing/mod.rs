//! The invoicing processor (rules A5, S003.6 / SM-5): one keyed state machine per tenant
//! (key `<tenant>`), the single writer of that tenant's invoice numbers. It turns an approved order's
//! `InvoiceRequested` into exactly one `InvoiceIssued` (id = UUIDv5 of the order, number
//! `INV-000001`, sequential per tenant, GST half-up to paise) for the customer's ledger, plus the
//! "Order approved. Invoice #…" message to the customer; `TenantSettingsChanged` sets the GST rate and
//! the payment terms used for later invoices. Pure: no clock (issued_at is the request's time), no
//! randomness (ids derive from the order and the causing event).

mod issue;
pub mod money;
pub mod state;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::billing::{BillingCommand, InvoiceIssued, TenantSettingsChanged};
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::StreamEvent;

pub use issue::{check_line, invoice_id, request_digest, totals, APPROVED_PURPOSE};
pub use state::{invoice_number, InvoicingState, Settings};

/// The processor's name in topology.toml.
pub const NAME: &str = "invoicing";

/// The invoicing state machine; stateless itself, one instance serves every tenant.
#[derive(Debug, Clone, Copy, Default)]
pub struct Invoicing;

/// What invoicing emits: the invoice (to the customer's ledger) and the customer's message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoicingOutput {
    /// The order's invoice → `invoices` (`ledger.inputs`), key `<tenant>|<customer>`.
    InvoiceIssued(InvoiceIssued),
    /// "Order approved. Invoice #…" → `outbound` (`whatsapp.outbound`), key `<tenant>|<customer>`.
    OutboundMessageRequested(OutboundMessageRequested),
}

souk_schemas::stream_event!(InvoicingOutput { InvoiceIssued, OutboundMessageRequested });

/// An invoice's amounts (rules A5): subtotal = Σ line amounts, GST = subtotal × rate rounded
/// half-up to paise, total = subtotal + GST.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Σ line amounts.
    pub subtotal: Decimal,
    /// subtotal × rate, half-up to 2 decimals.
    pub gst_amount: Decimal,
    /// subtotal + GST.
    pub total: Decimal,
}

impl Processor for Invoicing {
    type State = InvoicingState;
    type Input = BillingCommand;
    type Output = InvoicingOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut InvoicingState, event: &BillingCommand, ctx: &mut Ctx<InvoicingOutput>) -> Result<(), Rejection> {
        let tenant = &event.envelope().tenant_id;
        if ctx.key().is_empty() || ctx.key().contains('|') || ctx.key() != tenant {
            return Err(Rejection::new("BAD_KEY", format!("key {:?} is not the event's tenant {tenant:?}", ctx.key())));
        }
        match event {
            BillingCommand::InvoiceRequested(e) => issue::invoice_requested(state, e, ctx),
            BillingCommand::TenantSettingsChanged(e) => settings_changed(state, e),
        }
    }

    fn on_timer(&self, _state: &mut InvoicingState, _timer_id: &str, _ctx: &mut Ctx<InvoicingOutput>) {}

    fn output_name(&self, output: &InvoicingOutput) -> &'static str {
        match output {
            InvoicingOutput::InvoiceIssued(_) => "invoices",
            InvoicingOutput::OutboundMessageRequested(_) => "outbound",
        }
    }
}

/// `TenantSettingsChanged`: 0 ≤ rate < 1 with at most 4 decimals, reminder_days ≥ 1; applies to
/// invoices issued from now on (issued ones keep their rate and terms).
fn settings_changed(state: &mut InvoicingState, e: &TenantSettingsChanged) -> Result<(), Rejection> {
    if e.gst_rate < Decimal::ZERO || e.gst_rate >= Decimal::ONE || !money::fits_scale(e.gst_rate, money::RATE_SCALE) {
        return Err(Rejection::new("BAD_GST_RATE", format!("gst_rate {} must be in [0, 1) with at most {} decimals", e.gst_rate, money::RATE_SCALE)));
    }
    if e.reminder_days < 1 {
        return Err(Rejection::new("BAD_REMINDER_DAYS", format!("reminder_days {} < 1", e.reminder_days)));
    }
    state.settings = Settings { gst_rate: e.gst_rate, reminder_days: e.reminder_days };
    Ok(())
}
