//! The customer ledger processor (rules A6, S003.7 / SM-6): one keyed state machine per
//! `<tenant>|<customer>`. Append-only: every issued invoice and every recorded payment becomes one
//! `LedgerEntryAppended` with the balances after it (outstanding = Σ invoices − Σ payments), each
//! idempotent on its invoice_id / payment_id; payments send the customer a receipt; unpaid invoices
//! are reminded on the clock (see [`reminders`]). Pure: time is `ctx.now()` (ticks and events), ids
//! derive from the key and the entry's reference or from the causing event.

mod entries;
mod reminders;
pub mod state;

use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::billing::{LedgerEntryAppended, LedgerInput, PaymentReminderDue};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
pub use souk_schemas::key::CustomerKey;
use souk_schemas::orders::EscalationRaised;
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::StreamEvent;
use uuid::Uuid;

pub use entries::{INVOICE_KIND, PAYMENT_KIND, RECEIPT_PURPOSE};
pub use reminders::{ESCALATE_AT_REMINDER, OVERDUE_KIND, REMINDER_PURPOSE};
pub use state::LedgerState;

/// The processor's name in topology.toml.
pub const NAME: &str = "ledger";

/// One day of stream time in ms (reminder terms are in days).
pub const DAY_MS: i64 = 86_400_000;

/// Prefix of an invoice's reminder timer id (`reminder/<invoice_id>`).
pub const REMINDER_TIMER_PREFIX: &str = "reminder/";

/// The ledger state machine; stateless itself, one instance serves every customer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Ledger;

/// What the ledger emits, all under the customer's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LedgerOutput {
    /// An entry and the balances after it → `events` (`ledger.events`).
    LedgerEntryAppended(LedgerEntryAppended),
    /// An invoice is unpaid past its terms → `events` (`ledger.events`).
    PaymentReminderDue(PaymentReminderDue),
    /// A receipt or a reminder to the customer → `outbound` (`whatsapp.outbound`).
    OutboundMessageRequested(OutboundMessageRequested),
    /// An invoice still unpaid at its second reminder → `escalations`.
    EscalationRaised(EscalationRaised),
}

souk_schemas::stream_event!(LedgerOutput { LedgerEntryAppended, PaymentReminderDue, OutboundMessageRequested, EscalationRaised });

/// The reminder timer id of an invoice.
pub fn reminder_timer_id(invoice_id: &str) -> String {
    format!("{REMINDER_TIMER_PREFIX}{invoice_id}")
}

/// A ledger key `<tenant>|<customer>`, or the rejection of a malformed one.
pub fn parse_key(key: &str) -> Result<CustomerKey<'_>, Rejection> {
    CustomerKey::parse(key).map_err(|e| Rejection::new("BAD_KEY", e.to_string()))
}

/// An event about `customer` belongs under `key` only.
pub fn check_customer(key: &CustomerKey<'_>, customer: &str) -> Result<(), Rejection> {
    if customer != key.customer {
        return Err(Rejection::new("CUSTOMER_MISMATCH", format!("event for customer {customer:?} under key {:?}", key.text)));
    }
    Ok(())
}

/// The id of the ledger entry for `reference` (an invoice or payment id): UUIDv5 of the key, the
/// kind and the reference, the same whenever and however often it is computed.
pub fn entry_id(key: &CustomerKey<'_>, kind: &str, reference: &str) -> String {
    Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{}/{kind}/{reference}", key.text).as_bytes()).to_string()
}

impl Processor for Ledger {
    type State = LedgerState;
    type Input = LedgerInput;
    type Output = LedgerOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut LedgerState, event: &LedgerInput, ctx: &mut Ctx<LedgerOutput>) -> Result<(), Rejection> {
        if let LedgerInput::Tick(_) = event {
            return Ok(());
        }
        let key_text = ctx.key().to_string();
        let key = parse_key(&key_text)?;
        let tenant = &event.envelope().tenant_id;
        if tenant != key.tenant {
            return Err(Rejection::new("TENANT_MISMATCH", format!("event tenant {tenant:?} on key {key_text:?}")));
        }
        match event {
            LedgerInput::InvoiceIssued(e) => entries::invoice_issued(state, e, &key, ctx),
            LedgerInput::PaymentRecorded(e) => entries::payment_recorded(state, e, &key, ctx),
            LedgerInput::Tick(_) => Ok(()),
        }
    }

    fn on_timer(&self, state: &mut LedgerState, timer_id: &str, ctx: &mut Ctx<LedgerOutput>) {
        let key_text = ctx.key().to_string();
        let (Some(invoice_id), Ok(key)) = (timer_id.strip_prefix(REMINDER_TIMER_PREFIX), CustomerKey::parse(&key_text)) else {
            return;
        };
        reminders::reminder_due(state, invoice_id, &key, ctx);
    }

    fn output_name(&self, output: &LedgerOutput) -> &'static str {
        match output {
            LedgerOutput::LedgerEntryAppended(_) | LedgerOutput::PaymentReminderDue(_) => "events",
            LedgerOutput::OutboundMessageRequested(_) => "outbound",
            LedgerOutput::EscalationRaised(_) => "escalations",
        }
    }
}

/// Emits a plain-text message (no buttons) to the customer of `key`.
fn send(ctx: &mut Ctx<LedgerOutput>, key: &CustomerKey<'_>, order_id: Option<&str>, purpose: &str, text: String) {
    let message = OutboundMessageRequested { envelope: ctx.envelope(), to: key.customer.to_string(), order_id: order_id.map(str::to_string), purpose: purpose.to_string(), text, buttons: Vec::new() };
    ctx.emit(key.text.to_string(), LedgerOutput::OutboundMessageRequested(message));
}
