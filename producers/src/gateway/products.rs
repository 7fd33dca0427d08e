//! The owner's product commands (rules IV1–IV5): products with variants, patches, signed stock
//! adjustments, holds, and the CSV import. Each accepted command is one event on
//! `products.commands` under `<tenant>|<product_id>`; the product aggregate decides, and the
//! outcome is served at `GET /v1/commands/{command_id}`. A CSV import is validated row by row here
//! (a row is input, not state) and answers at once with what was imported and what failed.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, decimal, ident, invalid, opt_decimal, opt_ident, text, whole, MONEY_SCALE};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::products::{
    product_key, product_of_variant, variant_id, ProductCommand, ProductDefined, ProductPatched, ReservationRequested, ReservationSettled, StockAdjustRequested, VariantDefinition,
};
use std::collections::BTreeMap;

/// The low-stock threshold of a variant that states none (source §a.6).
pub const DEFAULT_LOW_STOCK_THRESHOLD: i32 = 10;
/// Largest CSV file accepted (source §a.6 `max_file_upload_size`).
pub const MAX_IMPORT_BYTES: usize = 10 * 1024 * 1024;
/// Most products one import may create (source §a.6 `max_product_count`).
pub const MAX_IMPORT_PRODUCTS: usize = 10_000;
/// Most variants of one product.
pub const MAX_VARIANTS: usize = 100;
/// Largest stock figure accepted.
pub const MAX_STOCK: i64 = 1_000_000_000;
/// The hold of a reply that states no TTL: 15 minutes.
pub const DEFAULT_HOLD_SECONDS: i64 = 900;
/// Categories of the source's UI; a free label must match `^[a-zA-Z0-9_-]+$`.
const CATEGORY_PATTERN: &str = "1–64 ASCII letters, digits, '_' or '-'";

/// One variant in a product body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VariantBody {
    name: Option<String>,
    sku: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal")]
    price: Option<Decimal>,
    #[serde(default, deserialize_with = "super::validate::opt_whole")]
    stock_quantity: Option<i64>,
    #[serde(default, deserialize_with = "super::validate::opt_whole")]
    low_stock_threshold: Option<i64>,
    #[serde(default)]
    attributes: BTreeMap<String, String>,
    status: Option<String>,
}

/// Body of `POST /v1/inventory/products`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductBody {
    product_id: Option<String>,
    name: String,
    description: Option<String>,
    category: Option<String>,
    #[serde(deserialize_with = "decimal")]
    base_price: Decimal,
    status: Option<String>,
    #[serde(default)]
    images: Vec<String>,
    variants: Option<Vec<VariantBody>>,
    command_id: Option<String>,
}

/// Body of `PATCH /v1/inventory/products/{product_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    name: Option<String>,
    description: Option<String>,
    category: Option<String>,
    #[serde(default, deserialize_with = "opt_decimal")]
    base_price: Option<Decimal>,
    status: Option<String>,
    command_id: Option<String>,
}

/// Body of `POST /v1/inventory/stock/adjust`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustBody {
    variant_id: String,
    #[serde(deserialize_with = "whole")]
    adjustment: i64,
    reason: String,
    command_id: Option<String>,
}

/// Body of `POST /v1/inventory/products/{product_id}/reservations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReserveBody {
    variant_id: String,
    #[serde(deserialize_with = "whole")]
    quantity: i64,
    #[serde(default, deserialize_with = "super::validate::opt_whole")]
    ttl_seconds: Option<i64>,
    holder: Option<String>,
    command_id: Option<String>,
}

/// Body of settling a hold.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    command_id: Option<String>,
}

fn category(value: Option<&str>) -> Result<String, ApiError> {
    let v = value.map(str::trim).filter(|v| !v.is_empty()).unwrap_or("uncategorized");
    if v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(invalid("category", format!("must be {CATEGORY_PATTERN}")));
    }
    Ok(v.to_lowercase())
}

fn status(field: &str, value: Option<&str>) -> Result<String, ApiError> {
    match value.map(str::trim) {
        None | Some("active") => Ok("active".into()),
        Some("inactive") => Ok("inactive".into()),
        Some(_) => Err(invalid(field, "must be active or inactive")),
    }
}

fn stock(field: &str, value: i64) -> Result<i64, ApiError> {
    if !(0..=MAX_STOCK).contains(&value) {
        return Err(invalid(field, format!("must be 0 to {MAX_STOCK}")));
    }
    Ok(value)
}

fn threshold(field: &str, value: Option<i64>) -> Result<i32, ApiError> {
    match value {
        None => Ok(DEFAULT_LOW_STOCK_THRESHOLD),
        Some(v) if (0..=i64::from(i32::MAX)).contains(&v) => Ok(v as i32),
        Some(_) => Err(invalid(field, "must be 0 or more")),
    }
}

/// The variants of a new product: as given, or the source's one `Default` variant with no stock.
fn variants(product_id: &str, given: Option<Vec<VariantBody>>) -> Result<Vec<VariantDefinition>, ApiError> {
    let given = given.unwrap_or_else(|| vec![VariantBody { name: None, sku: None, price: None, stock_quantity: None, low_stock_threshold: None, attributes: BTreeMap::new(), status: None }]);
    if given.is_empty() || given.len() > MAX_VARIANTS {
        return Err(invalid("variants", format!("a product has 1 to {MAX_VARIANTS} variants")));
    }
    given
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            let field = |name: &str| format!("variants[{i}].{name}");
            let mut attributes = BTreeMap::new();
            for (k, value) in v.attributes {
                attributes.insert(ident(&field("attributes"), &k)?, text(&field("attributes"), &value)?);
            }
            let id = variant_id(product_id, i + 1);
            Ok(VariantDefinition {
                sku: match v.sku.as_deref() {
                    Some(sku) => ident(&field("sku"), sku)?,
                    None => format!("SKU-{id}"),
                },
                name: match v.name.as_deref() {
                    Some(name) => text(&field("name"), name)?,
                    None => "Default".into(),
                },
                variant_id: id,
                price: v.price.map(|p| amount(&field("price"), p, MONEY_SCALE, false)).transpose()?,
                stock_quantity: stock(&field("stock_quantity"), v.stock_quantity.unwrap_or(0))?,
                low_stock_threshold: threshold(&field("low_stock_threshold"), v.low_stock_threshold)?,
                attributes,
                status: status(&field("status"), v.status.as_deref())?,
            })
        })
        .collect()
}

/// A description: at most 4,096 characters without NUL (which Postgres cannot store), trimmed;
/// may be empty.
fn description(field: &str, value: Option<&str>) -> Result<String, ApiError> {
    let value = value.unwrap_or_default();
    if value.chars().count() > super::validate::MAX_TEXT || value.contains('\0') {
        return Err(invalid(field, format!("at most {} characters, without NUL", super::validate::MAX_TEXT)));
    }
    Ok(value.trim().to_string())
}

/// A product id given by the client: an [`ident`] without `:` (variant ids are `<product>:<n>`).
fn product_id(field: &str, value: &str) -> Result<String, ApiError> {
    let id = ident(field, value)?;
    if id.contains(':') || id.contains('/') {
        return Err(invalid(field, "must not contain ':' or '/'"));
    }
    Ok(id)
}

async fn publish(state: &GatewayState, tenant: &str, product: &str, command: ProductCommand) -> Result<(), ApiError> {
    state.publish(vec![Publish::new(product_key(tenant, product), GatewayEvent::ProductCommand(command))]).await
}

fn accepted(body: serde_json::Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `POST /v1/inventory/products`: a new product with its variants (one `Default` variant when none
/// is given). The product id is the client's or derives from the command id, so a retried POST
/// with the same `command_id` is the same product.
pub async fn create(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: ProductBody = parse(body, false)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let product = match b.product_id.as_deref() {
            Some(id) => product_id("product_id", id)?,
            None => format!("prd-{}", uuid::Uuid::new_v5(&souk_schemas::envelope::SOUK_ID_NAMESPACE, format!("{tenant}/{command_id}").as_bytes()).simple()),
        };
        let images = b.images.iter().enumerate().map(|(i, url)| text(&format!("images[{i}]"), url)).collect::<Result<Vec<_>, _>>()?;
        let variants = variants(&product, b.variants)?;
        let variant_ids: Vec<String> = variants.iter().map(|v| v.variant_id.clone()).collect();
        let event = ProductDefined {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            product_id: product.clone(),
            name: text("name", &b.name)?,
            description: description("description", b.description.as_deref())?,
            category: category(b.category.as_deref())?,
            base_price: amount("base_price", b.base_price, MONEY_SCALE, false)?,
            status: status("status", b.status.as_deref())?,
            images,
            variants,
            source: "api".into(),
            import_row: None,
        };
        publish(&state, tenant, &product, ProductCommand::ProductDefined(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "product_id": product, "variant_ids": variant_ids }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `PATCH /v1/inventory/products/{product_id}`: name, description, category, base price, status.
pub async fn patch(State(state): State<GatewayState>, Path(product): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: PatchBody = parse(body, false)?;
        let product = product_id("product_id", &product)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = ProductPatched {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            product_id: product.clone(),
            name: b.name.as_deref().map(|n| text("name", n)).transpose()?,
            description: b.description.as_deref().map(|d| description("description", Some(d))).transpose()?,
            category: b.category.as_deref().map(|c| category(Some(c))).transpose()?,
            base_price: b.base_price.map(|p| amount("base_price", p, MONEY_SCALE, false)).transpose()?,
            status: b.status.as_deref().map(|s| status("status", Some(s))).transpose()?,
        };
        publish(&state, tenant, &product, ProductCommand::ProductPatched(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "product_id": product }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `POST /v1/inventory/stock/adjust` `{variant_id, adjustment, reason}`: a signed change; the
/// outcome (previous and new stock, or why it was refused) is the command's.
pub async fn adjust(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: AdjustBody = parse(body, false)?;
        let variant = ident("variant_id", &b.variant_id)?;
        let product = product_of_variant(&variant).ok_or_else(|| invalid("variant_id", "is not a variant id <product_id>:<n>"))?.to_string();
        if b.adjustment == 0 || b.adjustment.abs() > MAX_STOCK {
            return Err(invalid("adjustment", format!("must be a non-zero whole number within ±{MAX_STOCK}")));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = StockAdjustRequested {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            product_id: product.clone(),
            variant_id: variant.clone(),
            adjustment: b.adjustment,
            reason: text("reason", &b.reason)?,
        };
        publish(&state, tenant, &product, ProductCommand::StockAdjustRequested(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "product_id": product, "variant_id": variant }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `POST /v1/inventory/products/{product_id}/reservations`: hold units of a variant for
/// `ttl_seconds` (default 900).
pub async fn reserve(State(state): State<GatewayState>, Path(product): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: ReserveBody = parse(body, false)?;
        let product = product_id("product_id", &product)?;
        let variant = ident("variant_id", &b.variant_id)?;
        if product_of_variant(&variant) != Some(product.as_str()) {
            return Err(invalid("variant_id", format!("is not a variant of product {product}")));
        }
        if !(1..=MAX_STOCK).contains(&b.quantity) {
            return Err(invalid("quantity", format!("must be 1 to {MAX_STOCK}")));
        }
        let ttl = b.ttl_seconds.unwrap_or(DEFAULT_HOLD_SECONDS);
        if !(1..=7 * 24 * 3600).contains(&ttl) {
            return Err(invalid("ttl_seconds", "must be 1 to 604800"));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let reservation_id = format!("rsv-{}", uuid::Uuid::new_v5(&souk_schemas::envelope::SOUK_ID_NAMESPACE, format!("{tenant}/{command_id}").as_bytes()).simple());
        let event = ReservationRequested {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            product_id: product.clone(),
            reservation_id: reservation_id.clone(),
            variant_id: variant,
            quantity: b.quantity,
            ttl_seconds: ttl,
            holder: opt_ident("holder", b.holder.as_deref())?,
        };
        publish(&state, tenant, &product, ProductCommand::ReservationRequested(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "reservation_id": reservation_id }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

async fn settle(state: &GatewayState, headers: &HeaderMap, product: &str, reservation: &str, outcome: &str, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(state, headers)?;
        let b: SettleBody = parse(body, true)?;
        let product = product_id("product_id", product)?;
        let reservation_id = ident("reservation_id", reservation)?;
        let command_id = command_id(b.command_id.as_deref(), || format!("{outcome}-{reservation_id}"))?;
        let event = ReservationSettled { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), product_id: product.clone(), reservation_id, outcome: outcome.to_string() };
        publish(state, tenant, &product, ProductCommand::ReservationSettled(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted" }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `POST /v1/inventory/products/{product_id}/reservations/{reservation_id}/confirm`: the held
/// units leave stock.
pub async fn confirm(State(state): State<GatewayState>, Path((product, reservation)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    settle(&state, &headers, &product, &reservation, "confirm", body).await
}

/// `POST /v1/inventory/products/{product_id}/reservations/{reservation_id}/release`.
pub async fn release(State(state): State<GatewayState>, Path((product, reservation)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    settle(&state, &headers, &product, &reservation, "release", body).await
}

pub use super::product_import::import;
