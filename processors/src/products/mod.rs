//! The product aggregate of the social inbox (rules IV1–IV5, source 002 §a.6 and F.2.4): one keyed
//! state machine per `<tenant>|<product_id>`, so all of a product's variants — and the total its
//! availability is judged on — change in one place and one order.
//!
//! - IV1 a product is defined once (a redelivered definition changes nothing), then patched;
//! - IV2 stock changes only by signed adjustments (and confirmed holds), each recorded with the
//!   levels before and after; one that would take a variant below zero, or below what is held on
//!   it, is refused with the reason;
//! - IV3 availability: total = Σ stock of the active variants, `out_of_stock` at 0, `low_stock` at
//!   or below the smallest variant threshold, else `available`; each change of status is an event;
//! - IV4 a low-stock notification only when the status leaves `available` downward, a restock
//!   event (and notification) only when it leaves `out_of_stock`;
//! - IV5 reservations hold units against available-to-promise (stock − held) with a TTL; expiry
//!   or release frees them, confirmation takes them out of stock.
//!
//! The customer-facing view (`products.availability`, compacted) says per variant only whether it
//! can be had — never how many (rules C4) — and is written only when it changes.

mod commands;
mod reservations;
#[cfg(test)]
mod tests;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use souk_runtime::{Ctx, Processor, Rejection};
use souk_schemas::products::{
    LowStockCrossed, ProductAvailability, ProductAvailabilityChanged, ProductCommand, ProductCommandRejected, ProductOutput, ProductUpdated, Restocked, VariantAvailability, VariantLevel,
};
use souk_schemas::social::NotificationRaised;
use souk_schemas::StreamEvent;
use std::collections::{BTreeMap, VecDeque};

/// The processor's name in topology.toml.
pub const NAME: &str = "product-inventory";
/// The low-stock threshold of a variant that states none (source §a.6).
pub const DEFAULT_LOW_STOCK_THRESHOLD: i32 = 10;
/// Command ids remembered per product, so a command delivered twice applies once.
pub const RECENT_COMMANDS: usize = 256;
/// Prefix of a reservation's expiry timer id.
pub const RESERVATION_TIMER_PREFIX: &str = "reservation/";

/// One variant in the product's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Variant {
    /// `<product_id>:<n>`.
    pub variant_id: String,
    /// Its name ("Default", "M").
    pub name: String,
    /// Its stock-keeping unit.
    pub sku: String,
    /// Its price; `None`: the product's base price.
    pub price: Option<Decimal>,
    /// Units on hand.
    pub stock: i64,
    /// Units open holds claim.
    pub reserved: i64,
    /// At or below this total the product is low on stock.
    pub low_stock_threshold: i32,
    /// Size, colour, ...
    pub attributes: BTreeMap<String, String>,
    /// `active` or `inactive`.
    pub status: String,
}

impl Variant {
    fn active(&self) -> bool {
        self.status == "active"
    }

    /// Available to promise: what no hold claims.
    pub fn available_to_promise(&self) -> i64 {
        self.stock - self.reserved
    }
}

/// An open hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hold {
    /// The command that placed it.
    pub command_id: String,
    /// The variant it claims.
    pub variant_id: String,
    /// Units claimed.
    pub quantity: i64,
    /// When it lapses (stream time, ms).
    pub expires_at: i64,
    /// Who it is for (a conversation id).
    pub holder: Option<String>,
}

/// A product's state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductState {
    /// Defined yet (a key never seen is not).
    pub defined: bool,
    /// Its id.
    pub product_id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its category (alternatives come from the same one).
    pub category: String,
    /// The price of variants without their own.
    pub base_price: Decimal,
    /// `active` or `inactive`.
    pub status: String,
    /// Image URLs.
    pub images: Vec<String>,
    /// Its variants in the order they were defined.
    pub variants: Vec<Variant>,
    /// Open holds by reservation id.
    pub holds: BTreeMap<String, Hold>,
    /// How recent holds ended, by reservation id (answers to redelivered commands), oldest first.
    pub closed_holds: VecDeque<(String, String)>,
    /// Command ids applied, oldest first.
    pub recent_commands: VecDeque<String>,
    /// The availability status last reported.
    pub availability: Option<String>,
    /// The customer-facing view last written.
    pub view: Option<CustomerView>,
    /// When it was defined (stream time, ms).
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// What the availability table says of a product (compared to write it only on change).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerView {
    /// The product name.
    pub name: String,
    /// Its category.
    pub category: String,
    /// On sale at all.
    pub active: bool,
    /// Availability status.
    pub status: String,
    /// Whether each active variant can be had.
    pub variants: Vec<VariantAvailability>,
}

/// A product's totals: Σ stock of its active variants and the smallest threshold among them.
pub fn totals(variants: &[Variant]) -> (i64, i32) {
    let active = variants.iter().filter(|v| v.active());
    let total = active.clone().map(|v| v.stock).sum();
    let low = active.map(|v| v.low_stock_threshold).min().unwrap_or(DEFAULT_LOW_STOCK_THRESHOLD);
    (total, low)
}

/// The availability status of a total against a threshold (rules IV3: both comparisons inclusive).
pub fn availability(total: i64, low_threshold: i32) -> &'static str {
    if total <= 0 {
        "out_of_stock"
    } else if total <= i64::from(low_threshold) {
        "low_stock"
    } else {
        "available"
    }
}

/// The product state machine; stateless itself.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProductInventory;

impl Processor for ProductInventory {
    type State = ProductState;
    type Input = ProductCommand;
    type Output = ProductOutput;

    fn name(&self) -> &'static str {
        NAME
    }

    fn handle(&self, state: &mut ProductState, event: &ProductCommand, ctx: &mut Ctx<ProductOutput>) -> Result<(), Rejection> {
        if let ProductCommand::Tick(_) = event {
            return Ok(());
        }
        let (tenant, product_id) = ctx.key().split_once('|').ok_or_else(|| Rejection::new("BAD_KEY", format!("key {:?} is not <tenant>|<product_id>", ctx.key())))?;
        if event.envelope().tenant_id != tenant {
            return Err(Rejection::new("TENANT_MISMATCH", format!("event tenant {:?} on key {:?}", event.envelope().tenant_id, ctx.key())));
        }
        let (command_id, named) = match event {
            ProductCommand::ProductDefined(e) => (&e.command_id, &e.product_id),
            ProductCommand::ProductPatched(e) => (&e.command_id, &e.product_id),
            ProductCommand::StockAdjustRequested(e) => (&e.command_id, &e.product_id),
            ProductCommand::ReservationRequested(e) => (&e.command_id, &e.product_id),
            ProductCommand::ReservationSettled(e) => (&e.command_id, &e.product_id),
            ProductCommand::Tick(_) => return Ok(()),
        };
        if named != product_id {
            return Err(Rejection::new("KEY_MISMATCH", format!("product {named:?} on key {:?}", ctx.key())));
        }
        if state.recent_commands.contains(command_id) {
            // Delivered again: a hold command is answered again, anything else changes nothing.
            if let ProductCommand::ReservationRequested(e) = event {
                reservations::answer_again(state, &e.reservation_id, command_id, ctx);
            }
            return Ok(());
        }
        let before = state.clone();
        let outcome = match event {
            ProductCommand::ProductDefined(e) => commands::define(state, e, ctx),
            ProductCommand::ProductPatched(e) => commands::patch(state, e),
            ProductCommand::StockAdjustRequested(e) => commands::adjust(state, e, ctx),
            ProductCommand::ReservationRequested(e) => reservations::request(state, e, ctx),
            ProductCommand::ReservationSettled(e) => reservations::settle(state, e, ctx),
            ProductCommand::Tick(_) => Ok(()),
        };
        match outcome {
            Ok(()) if *state != before => {
                state.updated_at = ctx.now();
                after_change(state, command_id, ctx);
            }
            Ok(()) => {}
            Err(refusal) => {
                *state = before;
                reject(state, ctx, command_id, refusal);
            }
        }
        remember(&mut state.recent_commands, command_id);
        Ok(())
    }

    fn on_timer(&self, state: &mut ProductState, timer_id: &str, ctx: &mut Ctx<ProductOutput>) {
        if let Some(reservation_id) = timer_id.strip_prefix(RESERVATION_TIMER_PREFIX) {
            if reservations::expire(state, reservation_id, ctx) {
                state.updated_at = ctx.now();
                after_change(state, "", ctx);
            }
        }
    }

    fn output_name(&self, output: &ProductOutput) -> &'static str {
        match output {
            ProductOutput::ProductAvailability(_) => "availability",
            ProductOutput::NotificationRaised(_) => "notifications",
            _ => "events",
        }
    }
}

/// Why a command was refused: which command, a code and the owner-facing detail.
pub(crate) struct Refusal {
    pub command: &'static str,
    pub variant_id: Option<String>,
    pub code: &'static str,
    pub detail: String,
}

fn remember(recent: &mut VecDeque<String>, command_id: &str) {
    recent.push_back(command_id.to_string());
    while recent.len() > RECENT_COMMANDS {
        recent.pop_front();
    }
}

fn reject(state: &ProductState, ctx: &mut Ctx<ProductOutput>, command_id: &str, refusal: Refusal) {
    let envelope = ctx.envelope();
    let product_id = ctx.key().split_once('|').map_or(state.product_id.clone(), |(_, p)| p.to_string());
    let key = ctx.key().to_string();
    ctx.emit(
        key,
        ProductOutput::ProductCommandRejected(ProductCommandRejected {
            envelope,
            command_id: command_id.to_string(),
            product_id,
            variant_id: refusal.variant_id,
            command: refusal.command.to_string(),
            code: refusal.code.to_string(),
            detail: refusal.detail,
        }),
    );
}

/// The snapshot, the availability edges (IV3, IV4) and the customer view after a change.
fn after_change(state: &mut ProductState, command_id: &str, ctx: &mut Ctx<ProductOutput>) {
    if !state.defined {
        return;
    }
    let key = ctx.key().to_string();
    let tenant = key.split_once('|').map_or("", |(t, _)| t).to_string();
    let (total, low) = totals(&state.variants);
    let status = availability(total, low);
    let mut snapshot = snapshot(state, ctx.envelope(), total, low, status);
    snapshot.command_id = command_id.to_string();
    ctx.emit(key.clone(), ProductOutput::ProductUpdated(snapshot));
    let previous = state.availability.clone();
    if previous.as_deref() != Some(status) {
        let envelope = ctx.envelope();
        let changed = ProductAvailabilityChanged { envelope, product_id: state.product_id.clone(), name: state.name.clone(), previous: previous.clone(), status: status.to_string() };
        ctx.emit(key.clone(), ProductOutput::ProductAvailabilityChanged(changed));
        if previous.as_deref() == Some("available") {
            low_stock_crossed(state, ctx, &tenant, total, low);
        }
        if previous.as_deref() == Some("out_of_stock") {
            restocked(state, ctx, &tenant, status);
        }
        state.availability = Some(status.to_string());
    }
    let view = CustomerView {
        name: state.name.clone(),
        category: state.category.clone(),
        active: state.status == "active",
        status: status.to_string(),
        variants: state
            .variants
            .iter()
            .filter(|v| v.active())
            .map(|v| VariantAvailability { variant_id: v.variant_id.clone(), name: v.name.clone(), attributes: v.attributes.clone(), available: v.available_to_promise() > 0 })
            .collect(),
    };
    if state.view.as_ref() != Some(&view) {
        let envelope = ctx.envelope();
        let record = ProductAvailability {
            envelope,
            product_id: state.product_id.clone(),
            name: view.name.clone(),
            category: view.category.clone(),
            active: view.active,
            status: view.status.clone(),
            variants: view.variants.clone(),
        };
        ctx.emit(key, ProductOutput::ProductAvailability(record));
        state.view = Some(view);
    }
}

fn snapshot(state: &ProductState, envelope: souk_schemas::Envelope, total: i64, low: i32, status: &str) -> ProductUpdated {
    ProductUpdated {
        envelope,
        command_id: String::new(),
        product_id: state.product_id.clone(),
        name: state.name.clone(),
        description: state.description.clone(),
        category: state.category.clone(),
        base_price: state.base_price,
        status: state.status.clone(),
        images: state.images.clone(),
        variants: state
            .variants
            .iter()
            .map(|v| VariantLevel {
                variant_id: v.variant_id.clone(),
                name: v.name.clone(),
                sku: v.sku.clone(),
                price: v.price.unwrap_or(state.base_price),
                stock_quantity: v.stock,
                reserved: v.reserved,
                low_stock_threshold: v.low_stock_threshold,
                attributes: v.attributes.clone(),
                status: v.status.clone(),
                available: v.stock > 0,
            })
            .collect(),
        total_stock: total,
        low_threshold: low,
        availability: status.to_string(),
        created_at: state.created_at,
        updated_at: state.updated_at,
    }
}

fn notification(ctx: &mut Ctx<ProductOutput>, kind: &str, title: String, body: String, context: serde_json::Value, product_id: &str) -> NotificationRaised {
    let envelope = ctx.envelope();
    NotificationRaised {
        notification_id: format!("{kind}-{}", envelope.event_id),
        envelope,
        kind: kind.to_string(),
        priority: "medium".into(),
        title,
        body,
        preview: None,
        subject: None,
        context: context.to_string(),
        link: Some(format!("/v1/products/{product_id}")),
    }
}

fn low_stock_crossed(state: &ProductState, ctx: &mut Ctx<ProductOutput>, tenant: &str, total: i64, low: i32) {
    let key = ctx.key().to_string();
    let envelope = ctx.envelope();
    let crossed = LowStockCrossed { envelope, product_id: state.product_id.clone(), name: state.name.clone(), current_stock: total, threshold: low };
    ctx.emit(key, ProductOutput::LowStockCrossed(crossed));
    let context = serde_json::json!({
        "product_name": state.name, "current_stock": total, "threshold": low,
        "action_url": format!("/inventory/products/{}", state.product_id),
    });
    let raised = notification(ctx, "low_stock", format!("Low stock: {}", state.name), format!("{} is running low: {total} left (threshold {low}).", state.name), context, &state.product_id);
    ctx.emit(tenant.to_string(), ProductOutput::NotificationRaised(raised));
}

fn restocked(state: &ProductState, ctx: &mut Ctx<ProductOutput>, tenant: &str, status: &str) {
    let key = ctx.key().to_string();
    let envelope = ctx.envelope();
    ctx.emit(key, ProductOutput::Restocked(Restocked { envelope, product_id: state.product_id.clone(), name: state.name.clone(), status: status.to_string() }));
    let context = serde_json::json!({ "product_name": state.name, "status": status, "action_url": format!("/inventory/products/{}", state.product_id) });
    let raised = notification(ctx, "restock", format!("Back in stock: {}", state.name), format!("{} is back in stock.", state.name), context, &state.product_id);
    ctx.emit(tenant.to_string(), ProductOutput::NotificationRaised(raised));
}
