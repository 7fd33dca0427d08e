//! Building and emitting the session's outputs: snapshots, replies, escalations, command outcomes,
//! hold commands to the pools and the invoice request. Keys: the session key for the customer's
//! own topics, `<tenant>|<material>|<color>` for pools, `<tenant>` for billing.

use super::lines::{amount, subtotal};
use super::state::{line_status, Session, WorkflowState};
use super::text::Reply;
use super::SessionOutput;
use souk_runtime::Ctx;
use souk_schemas::billing::{InvoiceLine, InvoiceRequested};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::inventory::{CommitRequested, ReleaseRequested, ReserveRequested};
use souk_schemas::key::{CustomerKey, PoolKey};
use souk_schemas::orders::{CommandOutcome, EscalationRaised, OrderLine, OrderUpdated};
use souk_schemas::whatsapp::OutboundMessageRequested;
use souk_schemas::Envelope;
use uuid::Uuid;

/// Time to live of a hold placed for an order (A3: 24 h).
pub const HOLD_TTL_MS: i64 = 86_400_000;
/// Escalation priority of every kind this processor raises (B7: none is urgency/deadlock/sentiment).
pub const ESCALATION_PRIORITY: &str = "medium";

/// Escalation kinds.
pub mod escalation_kind {
    /// Two unclassifiable messages in a row outside negotiation (B6).
    pub const LOW_CONFIDENCE: &str = "LOW_CONFIDENCE";
    /// The negotiation bound was hit (A7).
    pub const NEGOTIATION_STALLED: &str = "NEGOTIATION_STALLED";
    /// A hold expired before the owner decided (A3).
    pub const APPROVAL_OVERDUE: &str = "APPROVAL_OVERDUE";
    /// An approval could not be executed for lack of stock (A3).
    pub const INSUFFICIENT_STOCK: &str = "INSUFFICIENT_STOCK";
}

/// The tenant of a session key `<tenant>|<customer>`.
pub fn tenant_of(session_key: &str) -> &str {
    souk_schemas::key::tenant_of(session_key).unwrap_or(session_key)
}

/// The pool key of a line: `<tenant>|<material>|<color>`.
pub fn pool_key(tenant: &str, line: &OrderLine) -> String {
    PoolKey::of(tenant, &line.material, &line.color)
}

/// A deterministic id from parts that name what it identifies.
pub fn derived_id(name: &str) -> String {
    Uuid::new_v5(&SOUK_ID_NAMESPACE, name.as_bytes()).to_string()
}

/// The next output envelope, always of the key's tenant: answers the pools emit from a clock tick
/// (hold expiry) carry the tick's tenant `*`, which must not leak into what the session causes.
fn envelope(ctx: &mut Ctx<SessionOutput>) -> Envelope {
    let mut envelope = ctx.envelope();
    envelope.tenant_id = tenant_of(ctx.key()).to_string();
    envelope
}

/// Emits `event` under the session key.
fn emit_here(ctx: &mut Ctx<SessionOutput>, event: SessionOutput) {
    let key = ctx.key().to_string();
    ctx.emit(key, event);
}

/// The full snapshot after a change.
pub fn order_updated(ctx: &mut Ctx<SessionOutput>, session: &Session, previous: Option<WorkflowState>, cause: &str, cause_wamid: Option<&str>) {
    let envelope = envelope(ctx);
    let event = OrderUpdated {
        envelope,
        order_id: session.order_id.clone(),
        customer: session.customer.clone(),
        state: session.state.as_str().to_string(),
        previous_state: previous.map(|s| s.as_str().to_string()),
        cause: cause.to_string(),
        cause_wamid: cause_wamid.map(str::to_string),
        lines: session.lines.clone(),
        negotiation_turns: session.negotiation_turns,
        unknown_streak: session.unknown_streak,
        opened_at: session.opened_at,
        subtotal: subtotal(&session.lines),
    };
    // The same snapshot under the order's own key on the compacted directory (the gateway's
    // order → customer table); the same event, so the same envelope.
    let directory_key = souk_schemas::key::OrderKey::of(tenant_of(ctx.key()), &session.order_id);
    emit_here(ctx, SessionOutput::OrderUpdated(event.clone()));
    ctx.emit_to(DIRECTORY_OUTPUT, directory_key, SessionOutput::OrderUpdated(event));
}

/// The logical output of the order directory (`orders.directory`: latest snapshot per order id).
pub const DIRECTORY_OUTPUT: &str = "directory";

/// A reply to the customer of this key.
pub fn reply(ctx: &mut Ctx<SessionOutput>, order_id: Option<&str>, reply: Reply) {
    let envelope = envelope(ctx);
    let to = CustomerKey::parse(ctx.key()).map_or("", |k| k.customer).to_string();
    let event = OutboundMessageRequested { envelope, to, order_id: order_id.map(str::to_string), purpose: reply.purpose.to_string(), text: reply.text, buttons: reply.buttons };
    emit_here(ctx, SessionOutput::OutboundMessageRequested(event));
}

/// An escalation of `kind` about this customer (and order, if any); `scope` makes its id unique.
pub fn escalation(ctx: &mut Ctx<SessionOutput>, order_id: Option<&str>, kind: &str, scope: &str, detail: String) {
    let envelope = envelope(ctx);
    let customer = CustomerKey::parse(ctx.key()).ok().map(|k| k.customer.to_string());
    let event = EscalationRaised {
        envelope,
        escalation_id: derived_id(&format!("{}/escalation/{scope}/{kind}", ctx.key())),
        customer,
        order_id: order_id.map(str::to_string),
        kind: kind.to_string(),
        priority: ESCALATION_PRIORITY.to_string(),
        detail,
    };
    emit_here(ctx, SessionOutput::EscalationRaised(event));
}

/// Raises `kind` for the session unless it already was (each kind at most once per session).
pub fn escalate_once(ctx: &mut Ctx<SessionOutput>, session: &mut Session, kind: &str, detail: String) -> bool {
    if !session.escalated.insert(kind.to_string()) {
        return false;
    }
    let order_id = session.order_id.clone();
    escalation(ctx, Some(&order_id), kind, &order_id, detail);
    true
}

/// The answer to an owner command.
pub fn outcome(ctx: &mut Ctx<SessionOutput>, command_id: &str, order_id: &str, command: &str, refusal: Option<&str>, detail: String) {
    let envelope = envelope(ctx);
    let event = CommandOutcome {
        envelope,
        command_id: command_id.to_string(),
        order_id: order_id.to_string(),
        command: command.to_string(),
        accepted: refusal.is_none(),
        code: refusal.map(str::to_string),
        detail,
    };
    emit_here(ctx, SessionOutput::CommandOutcome(event));
}

/// Asks the line's pool to hold its normalized meters under a new `hold_id`, answering to this key.
pub fn reserve(ctx: &mut Ctx<SessionOutput>, order_id: &str, line: &mut OrderLine, hold_id: String) {
    line.hold_id = Some(hold_id.clone());
    line.hold_status = Some(super::state::hold_status::PENDING.to_string());
    line.allocations.clear();
    let envelope = envelope(ctx);
    let key = pool_key(tenant_of(ctx.key()), line);
    let event = ReserveRequested {
        envelope,
        hold_id,
        order_id: order_id.to_string(),
        line_id: line.line_id.clone(),
        meters: line.normalized_meters,
        ttl_ms: HOLD_TTL_MS,
        reply_to: Some(ctx.key().to_string()),
    };
    ctx.emit(key, SessionOutput::ReserveRequested(event));
}

/// Asks the line's pool to deduct its current hold.
pub fn commit(ctx: &mut Ctx<SessionOutput>, line: &OrderLine) {
    let envelope = envelope(ctx);
    let key = pool_key(tenant_of(ctx.key()), line);
    let event = CommitRequested { envelope, hold_id: line.hold_id.clone().unwrap_or_default(), reply_to: Some(ctx.key().to_string()) };
    ctx.emit(key, SessionOutput::CommitRequested(event));
}

/// Asks the line's pool to give its current hold back.
pub fn release(ctx: &mut Ctx<SessionOutput>, line: &OrderLine, reason: &str) {
    let envelope = envelope(ctx);
    let key = pool_key(tenant_of(ctx.key()), line);
    let event = ReleaseRequested { envelope, hold_id: line.hold_id.clone().unwrap_or_default(), reason: reason.to_string(), reply_to: Some(ctx.key().to_string()) };
    ctx.emit(key, SessionOutput::ReleaseRequested(event));
}

/// The one invoice request of an executed order (key `<tenant>`): accepted lines at their
/// normalized meters and snapshotted price. Every accepted line is priced (checked at approval).
pub fn invoice(ctx: &mut Ctx<SessionOutput>, session: &Session) {
    let lines = session
        .lines
        .iter()
        .filter(|l| l.status == line_status::ACCEPTED)
        .filter_map(|l| {
            let price = l.price_per_meter?;
            Some(InvoiceLine {
                line_id: l.line_id.clone(),
                material: l.material.clone(),
                color: l.color.clone(),
                meters: l.normalized_meters,
                price_per_meter: price,
                amount: amount(l.normalized_meters, price),
            })
        })
        .collect();
    let envelope = envelope(ctx);
    let tenant = tenant_of(ctx.key()).to_string();
    let event = InvoiceRequested { envelope, order_id: session.order_id.clone(), customer: session.customer.clone(), lines };
    ctx.emit(tenant, SessionOutput::InvoiceRequested(event));
}
