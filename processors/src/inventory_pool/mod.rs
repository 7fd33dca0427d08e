//! The inventory pool processor (rules A2–A3): one keyed state machine per
//! `<tenant>|<material>|<color>` that takes stock in, places holds against availability, commits,
//! releases and expires them, and reports stock levels. Pure: time is `ctx.now()`, ids come from
//! `ctx.envelope()`, expiry is a timer.
//!
//! Idempotency on `hold_id`: a redelivered command for a hold that is open or remembered as closed
//! gets an answer equal to the first one (same data; the envelope derives from the new cause).
//!
//! Replies: every answer about a hold (reserved, refused, committed, released, expired, command
//! refused — re-answers included) also goes, with its own envelope, to the requester's `reply_to` key
//! on the `replies` output: the hold's `reply_to` when the pool knows the hold, else the command's.
//!
//! Holds vs on hand: batches keep their *physical* stock (changed only by receipt, adjustment and
//! commit); an open hold is a claim of whole rolls plus loose (+ cut) meters. Availability is derived:
//! on hand minus all claims, opening on paper as many rolls as the loose claims need. A release or
//! expiry only drops the claim (the stock is exactly as before); a commit deducts exactly its claim,
//! opening a roll physically only when loose stock runs short. Reserve and adjustment keep every
//! claim covered by on hand, so no commit order can drive a batch negative. See [`state`] and
//! [`allocation::available`].

pub mod allocation;
mod holds;
pub mod state;
mod stock;

use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::inventory::{InventoryCommand, InventoryEvent, StockLevelChanged};
pub use souk_schemas::key::PoolKey;
use souk_schemas::{Envelope, StreamEvent};
pub use state::PoolState;

/// The processor's name in topology.toml.
pub const NAME: &str = "inventory-pool";

/// Logical output (topology.toml) of the copies of hold answers addressed to the requester's
/// `reply_to` key: `orders.inputs`, the order session's input.
pub const REPLIES_OUTPUT: &str = "replies";
/// The logical output of the latest level per pool (`inventory.levels`, compacted).
pub const LEVELS_OUTPUT: &str = "levels";

/// Prefix of a hold's expiry timer id (`hold-expiry/<hold_id>`).
pub const HOLD_TIMER_PREFIX: &str = "hold-expiry/";

/// Wire scale of meters (Avro decimal(18,3)); more decimals cannot be represented downstream.
pub(crate) const METER_SCALE: u32 = 3;
/// Wire scale of prices (Avro decimal(18,2)).
pub(crate) const PRICE_SCALE: u32 = 2;

/// The inventory pool state machine; stateless itself, one instance serves every pool.
#[derive(Debug, Clone, Copy, Default)]
pub struct InventoryPool;

/// The timer id of a hold's expiry.
pub fn hold_timer_id(hold_id: &str) -> String {
    format!("{HOLD_TIMER_PREFIX}{hold_id}")
}

/// A pool key `<tenant>|<material>|<color>`, or the rejection of a malformed one.
pub fn parse_key(key: &str) -> Result<PoolKey<'_>, Rejection> {
    PoolKey::parse(key).map_err(|e| Rejection::new("BAD_KEY", e.to_string()))
}

impl Processor for InventoryPool {
    type State = PoolState;
    type Input = InventoryCommand;
    type Output = InventoryEvent;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut PoolState, event: &InventoryCommand, ctx: &mut Ctx<InventoryEvent>) -> Result<(), Rejection> {
        if let InventoryCommand::Tick(_) = event {
            return Ok(());
        }
        let key_text = ctx.key().to_string();
        let key = parse_key(&key_text)?;
        let tenant = &event.envelope().tenant_id;
        if tenant != key.tenant {
            return Err(Rejection::new("TENANT_MISMATCH", format!("event tenant {tenant:?} on key {:?}", ctx.key())));
        }
        if state.material.is_empty() {
            state.material = key.material.to_string();
            state.color = key.color.to_string();
        }
        let reply_to = match event {
            InventoryCommand::ReserveRequested(e) => e.reply_to.as_deref(),
            InventoryCommand::CommitRequested(e) => e.reply_to.as_deref(),
            InventoryCommand::ReleaseRequested(e) => e.reply_to.as_deref(),
            _ => None,
        };
        holds::check_reply_to(reply_to, key.tenant)?;
        match event {
            InventoryCommand::BatchReceived(e) => stock::batch_received(state, e, &key, ctx),
            InventoryCommand::BatchAdjusted(e) => stock::batch_adjusted(state, e, ctx),
            InventoryCommand::ReserveRequested(e) => holds::reserve(state, e, ctx),
            InventoryCommand::CommitRequested(e) => holds::commit(state, e, ctx),
            InventoryCommand::ReleaseRequested(e) => holds::release(state, e, ctx),
            InventoryCommand::CatalogItemUpserted(e) => stock::catalog_upserted(state, e, ctx),
            InventoryCommand::Tick(_) => Ok(()),
        }
    }

    fn on_timer(&self, state: &mut PoolState, timer_id: &str, ctx: &mut Ctx<InventoryEvent>) {
        if let Some(hold_id) = timer_id.strip_prefix(HOLD_TIMER_PREFIX) {
            holds::expire(state, hold_id, ctx);
        }
    }
}

/// Emits `event` under the pool's own key.
fn emit(ctx: &mut Ctx<InventoryEvent>, event: InventoryEvent) {
    let key = ctx.key().to_string();
    ctx.emit(key, event);
}

/// Emits an answer about a hold on the pool's key and, when `reply_to` is set, a copy with its own
/// envelope under the requester's key on [`REPLIES_OUTPUT`], so a saga (the order session) hears
/// about its holds on its own input topic without reading every pool's events.
fn answer(ctx: &mut Ctx<InventoryEvent>, reply_to: Option<&str>, make: impl Fn(Envelope) -> InventoryEvent) {
    let envelope = ctx.envelope();
    emit(ctx, make(envelope));
    if let Some(reply_to) = reply_to {
        let envelope = ctx.envelope();
        ctx.emit_to(REPLIES_OUTPUT, reply_to, make(envelope));
    }
}

/// Emits the pool's `StockLevelChanged`.
fn emit_levels(state: &PoolState, ctx: &mut Ctx<InventoryEvent>) {
    let (batches, on_hand_meters, held_meters, available_meters) = state.levels();
    let envelope = ctx.envelope();
    let level = InventoryEvent::StockLevelChanged(StockLevelChanged {
        envelope,
        material: state.material.clone(),
        color: state.color.clone(),
        batches,
        on_hand_meters,
        held_meters,
        available_meters,
        price_per_meter: state.price_per_meter,
        aliases: state.aliases.clone(),
    });
    // The same event on the compacted levels topic: the latest level per pool, as a table.
    emit(ctx, level.clone());
    let key = ctx.key().to_string();
    ctx.emit_to(LEVELS_OUTPUT, key, level);
}
