//! The order-session processor (rules S003.2, SM-2, A1–A12): one keyed state machine per
//! customer `<tenant>|<wa_id>` that turns resolved customer intents, owner decisions and the
//! inventory pools' answers into an order: negotiation of shortfalls, the final summary, holds on
//! confirm, owner approval (commit + invoice request) or rejection (release).
//!
//! Pure: time is `ctx.now()`, every id is derived from causing ids, and every change of the session
//! emits exactly one full `OrderUpdated` snapshot. Customer messages are deduplicated on their wamid
//! (besides the runtime's event-id dedup); each one gets at most one reply, with one call to action.
//!
//! Module map: [`state`] (per-key state), [`lines`] (pure line helpers), [`text`] (replies),
//! `customer` (intents), `decisions` (item decisions), `owner` (approve/reject), `holds` (the pools'
//! answers and the hold saga), `outputs` (emission).

mod customer;
mod decisions;
mod holds;
pub mod lines;
pub mod outputs;
mod owner;
pub mod state;
pub mod text;

pub use outputs::DIRECTORY_OUTPUT;
use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::billing::InvoiceRequested;
use souk_schemas::inventory::{CommitRequested, ReleaseRequested, ReserveRequested};
use souk_schemas::key::CustomerKey;
use souk_schemas::orders::{CommandOutcome, EscalationRaised, OrderInput, OrderUpdated};
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::StreamEvent;
pub use state::{Session, SessionState, WorkflowState};

/// The processor's name in topology.toml.
pub const NAME: &str = "order-session";

/// The order-session state machine; stateless itself, one instance serves every customer.
#[derive(Debug, Clone, Copy, Default)]
pub struct OrderSession;

/// Everything the session emits. Variant names are the Avro records' short names (the wire
/// converter maps `{"ShortName": {...}}` onto the output topic's union).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SessionOutput {
    /// Full snapshot after a change (`orders.events`, session key).
    OrderUpdated(OrderUpdated),
    /// Answer to an owner command (`orders.events`, session key).
    CommandOutcome(CommandOutcome),
    /// Hold a line's meters (`inventory.commands`, pool key).
    ReserveRequested(ReserveRequested),
    /// Deduct a hold (`inventory.commands`, pool key).
    CommitRequested(CommitRequested),
    /// Give a hold back (`inventory.commands`, pool key).
    ReleaseRequested(ReleaseRequested),
    /// A reply to the customer (`whatsapp.outbound`, session key).
    OutboundMessageRequested(OutboundMessageRequested),
    /// A human must look (`escalations`, session key).
    EscalationRaised(EscalationRaised),
    /// The executed order's invoice (`billing.commands`, tenant key).
    InvoiceRequested(InvoiceRequested),
}

souk_schemas::stream_event!(SessionOutput { OrderUpdated, CommandOutcome, ReserveRequested, CommitRequested, ReleaseRequested, OutboundMessageRequested, EscalationRaised, InvoiceRequested });

impl Processor for OrderSession {
    type State = SessionState;
    type Input = OrderInput;
    type Output = SessionOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut SessionState, event: &OrderInput, ctx: &mut Ctx<SessionOutput>) -> Result<(), Rejection> {
        if let OrderInput::Tick(_) = event {
            return Ok(());
        }
        // Pool answers caused by a clock tick (hold expiry) carry the tick's tenant `*`; the pool
        // already checked that their `reply_to` key is of its own tenant.
        let tenant = match event {
            OrderInput::IntentResolved(_) | OrderInput::OwnerDecision(_) => Some(event.envelope().tenant_id.as_str()),
            _ => None,
        };
        check_key(ctx.key(), tenant)?;
        match event {
            OrderInput::IntentResolved(e) => customer::on_intent(state, e, ctx),
            OrderInput::OwnerDecision(e) => owner::on_decision(state, e, ctx),
            OrderInput::Reserved(e) => holds::on_reserved(state, e, ctx),
            OrderInput::ReserveRejected(e) => holds::on_reserve_rejected(state, e, ctx),
            OrderInput::Committed(e) => holds::on_committed(state, e, ctx),
            OrderInput::Released(e) => holds::on_released(state, e, ctx),
            OrderInput::HoldExpired(e) => holds::on_expired(state, e, ctx),
            OrderInput::HoldCommandRejected(e) => holds::on_command_rejected(state, e, ctx),
            OrderInput::Tick(_) => {}
        }
        Ok(())
    }

    fn on_timer(&self, _state: &mut SessionState, _timer_id: &str, _ctx: &mut Ctx<SessionOutput>) {}

    fn output_name(&self, output: &SessionOutput) -> &'static str {
        match output {
            SessionOutput::OrderUpdated(_) | SessionOutput::CommandOutcome(_) => "events",
            SessionOutput::ReserveRequested(_) | SessionOutput::CommitRequested(_) | SessionOutput::ReleaseRequested(_) => "inventory",
            SessionOutput::OutboundMessageRequested(_) => "outbound",
            SessionOutput::EscalationRaised(_) => "escalations",
            SessionOutput::InvoiceRequested(_) => "billing",
        }
    }
}

/// The key must be `<tenant>|<customer>`, of the event's own tenant when `tenant` is given.
fn check_key(key: &str, tenant: Option<&str>) -> Result<(), Rejection> {
    let parsed = match tenant {
        Some(tenant) => CustomerKey::parse_in(key, tenant),
        None => CustomerKey::parse(key),
    };
    parsed.map(|_| ()).map_err(|e| Rejection::new("BAD_KEY", e.to_string()))
}

/// Stores the session after a step: one `OrderUpdated` if it changed (or is new), and a terminal
/// session moves to the closed-order memory.
fn finish(state: &mut SessionState, before: Option<&Session>, session: Session, cause: &str, cause_wamid: Option<&str>, ctx: &mut Ctx<SessionOutput>) {
    if before != Some(&session) {
        outputs::order_updated(ctx, &session, before.map(|b| b.state), cause, cause_wamid);
    }
    if session.state.is_terminal() {
        state.close(&session);
    } else {
        state.session = Some(session);
    }
}

/// Runs `step` on the active session (if any) and [`finish`]es it; returns false without a session.
fn with_session(state: &mut SessionState, cause: &str, ctx: &mut Ctx<SessionOutput>, step: impl FnOnce(&mut Session, &mut Ctx<SessionOutput>)) -> bool {
    let Some(mut session) = state.session.take() else {
        return false;
    };
    let before = session.clone();
    step(&mut session, ctx);
    finish(state, Some(&before), session, cause, None, ctx);
    true
}
