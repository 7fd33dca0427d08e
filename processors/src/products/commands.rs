//! Defining, patching and adjusting a product (rules IV1, IV2).

use super::{ProductState, Refusal, Variant};
use souk_runtime::Ctx;
use souk_schemas::products::{ProductDefined, ProductOutput, ProductPatched, StockAdjustRequested, StockMovementRecorded};

/// IV1: the first definition creates the product and its variants (an initial stock is a
/// movement); a second definition under another command is refused — changes are patches.
pub(super) fn define(state: &mut ProductState, e: &ProductDefined, ctx: &mut Ctx<ProductOutput>) -> Result<(), Refusal> {
    if state.defined {
        return Err(Refusal { command: "define", variant_id: None, code: "PRODUCT_EXISTS", detail: format!("Product {} already exists; change it with PATCH", e.product_id) });
    }
    state.defined = true;
    state.product_id = e.product_id.clone();
    state.name = e.name.clone();
    state.description = e.description.clone();
    state.category = e.category.clone();
    state.base_price = e.base_price;
    state.status = e.status.clone();
    state.images = e.images.clone();
    state.created_at = ctx.now();
    state.variants = e
        .variants
        .iter()
        .map(|v| Variant {
            variant_id: v.variant_id.clone(),
            name: v.name.clone(),
            sku: v.sku.clone(),
            price: v.price,
            stock: v.stock_quantity.max(0),
            reserved: 0,
            low_stock_threshold: v.low_stock_threshold,
            attributes: v.attributes.clone(),
            status: v.status.clone(),
        })
        .collect();
    let reason = if e.source == "csv" { "csv import" } else { "initial stock" };
    let initial: Vec<(String, i64)> = state.variants.iter().filter(|v| v.stock > 0).map(|v| (v.variant_id.clone(), v.stock)).collect();
    for (variant_id, stock) in initial {
        movement(ctx, &e.command_id, &e.product_id, &variant_id, "initial", stock, 0, reason);
    }
    Ok(())
}

/// IV1: a patch of an existing product.
pub(super) fn patch(state: &mut ProductState, e: &ProductPatched) -> Result<(), Refusal> {
    if !state.defined {
        return Err(unknown_product("patch", &e.product_id));
    }
    if let Some(name) = &e.name {
        state.name = name.clone();
    }
    if let Some(description) = &e.description {
        state.description = description.clone();
    }
    if let Some(category) = &e.category {
        state.category = category.clone();
    }
    if let Some(price) = e.base_price {
        state.base_price = price;
    }
    if let Some(status) = &e.status {
        state.status = status.clone();
    }
    Ok(())
}

/// IV2: a signed adjustment; never below zero, never below what holds claim.
pub(super) fn adjust(state: &mut ProductState, e: &StockAdjustRequested, ctx: &mut Ctx<ProductOutput>) -> Result<(), Refusal> {
    if !state.defined {
        return Err(unknown_product("adjust", &e.product_id));
    }
    let refuse = |code, detail| Refusal { command: "adjust", variant_id: Some(e.variant_id.clone()), code, detail };
    let Some(variant) = state.variants.iter_mut().find(|v| v.variant_id == e.variant_id) else {
        return Err(refuse("UNKNOWN_VARIANT", format!("Product {} has no variant {}", e.product_id, e.variant_id)));
    };
    let previous = variant.stock;
    let Some(next) = previous.checked_add(e.adjustment) else {
        return Err(refuse("OUT_OF_RANGE", format!("Adjustment {} is out of range", e.adjustment)));
    };
    if next < 0 {
        return Err(refuse("NEGATIVE_STOCK", format!("Adjustment {} would take {} below zero (stock {previous})", e.adjustment, variant.sku)));
    }
    if next < variant.reserved {
        return Err(refuse("BELOW_RESERVED", format!("Adjustment {} would leave {} with {next}, less than the {} held", e.adjustment, variant.sku, variant.reserved)));
    }
    variant.stock = next;
    let variant_id = variant.variant_id.clone();
    movement(ctx, &e.command_id, &e.product_id, &variant_id, "adjustment", e.adjustment, previous, &e.reason);
    Ok(())
}

pub(super) fn unknown_product(command: &'static str, product_id: &str) -> Refusal {
    Refusal { command, variant_id: None, code: "UNKNOWN_PRODUCT", detail: format!("Product {product_id} does not exist") }
}

/// Records one stock movement of `quantity` from `previous`.
#[allow(clippy::too_many_arguments)]
pub(super) fn movement(ctx: &mut Ctx<ProductOutput>, command_id: &str, product_id: &str, variant_id: &str, movement_type: &str, quantity: i64, previous: i64, reason: &str) {
    let key = ctx.key().to_string();
    let envelope = ctx.envelope();
    ctx.emit(
        key,
        ProductOutput::StockMovementRecorded(StockMovementRecorded {
            envelope,
            command_id: command_id.to_string(),
            product_id: product_id.to_string(),
            variant_id: variant_id.to_string(),
            movement_type: movement_type.to_string(),
            quantity,
            previous_stock: previous,
            new_stock: previous + quantity,
            reason: reason.to_string(),
        }),
    );
}
