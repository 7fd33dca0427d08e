//! `POST /v1/inventory/import` (rules IV1, source §a.6): a CSV file (`text/csv`, at most 10 MB and
//! 10,000 products) whose rows each become a product with one `Default` variant. Required columns
//! `name, price, stock` (a header without them is refused: 400); optional `description` (""), `category` ("uncategorized"), `sku`
//! (`SKU-<variant id>`), `low_stock_threshold` (10). Rows are numbered from 2 (the header is 1);
//! a bad row is reported with its number, its error ("Missing fields: price, stock") and its data,
//! and the good ones are imported. The import id is a digest of the tenant and the file, so the
//! same file uploaded twice defines the same products (the second time changes nothing).

use super::commands::begin;
use super::csv::records;
use super::error::ApiError;
use super::products::{DEFAULT_LOW_STOCK_THRESHOLD, MAX_IMPORT_PRODUCTS, MAX_STOCK};
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, ident, text, MONEY_SCALE};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde_json::{json, Map, Value as Json_};
use sha2::{Digest, Sha256};
use souk_schemas::products::{product_key, variant_id, ProductCommand, ProductDefined, VariantDefinition};
use std::str::FromStr;

/// The columns every row must fill, in the order errors name them.
const REQUIRED: [&str; 3] = ["name", "price", "stock"];

/// One row's error as the source reports it.
fn row_error(row: usize, error: String, data: Map<String, Json_>) -> Json_ {
    json!({ "row": row, "error": error, "data": data })
}

/// The product a valid row defines, or the row's error.
fn product_of_row(tenant: &str, import_id: &str, row: usize, data: &Map<String, Json_>, now: i64) -> Result<ProductDefined, String> {
    let get = |c: &str| data.get(c).and_then(Json_::as_str).map(str::trim).filter(|v| !v.is_empty());
    let missing: Vec<&str> = REQUIRED.iter().copied().filter(|c| get(c).is_none()).collect();
    if !missing.is_empty() {
        return Err(format!("Missing fields: {}", missing.join(", ")));
    }
    let reason = |e: ApiError| e.reason;
    let name = text("name", get("name").unwrap_or_default()).map_err(reason)?;
    let price = Decimal::from_str(get("price").unwrap_or_default()).map_err(|_| "Invalid price: must be a decimal like 29.99".to_string())?;
    let price = amount("price", price, MONEY_SCALE, false).map_err(reason)?;
    let stock: i64 = get("stock").unwrap_or_default().parse().map_err(|_| "Invalid stock: must be a whole number".to_string())?;
    if !(0..=MAX_STOCK).contains(&stock) {
        return Err(format!("Invalid stock: must be 0 to {MAX_STOCK}"));
    }
    let threshold = match get("low_stock_threshold") {
        None => DEFAULT_LOW_STOCK_THRESHOLD,
        Some(t) => t.parse::<i32>().ok().filter(|t| *t >= 0).ok_or_else(|| "Invalid low_stock_threshold: must be a whole number, 0 or more".to_string())?,
    };
    let description = get("description").unwrap_or_default();
    if description.chars().count() > super::validate::MAX_TEXT {
        return Err(format!("Invalid description: at most {} characters", super::validate::MAX_TEXT));
    }
    let category = get("category").unwrap_or("uncategorized");
    if category.len() > 64 || !category.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err("Invalid category: 1–64 ASCII letters, digits, '_' or '-'".into());
    }
    let product_id = format!("{import_id}-{row}");
    let variant = variant_id(&product_id, 1);
    let sku = match get("sku") {
        Some(sku) => ident("sku", sku).map_err(reason)?,
        None => format!("SKU-{product_id}"),
    };
    let envelope = souk_schemas::Envelope::external(tenant, &format!("import/{import_id}/{row}"), now);
    Ok(ProductDefined {
        envelope,
        command_id: format!("{import_id}/{row}"),
        product_id,
        name: name.clone(),
        description: description.to_string(),
        category: category.to_lowercase(),
        base_price: price,
        status: "active".into(),
        images: vec![],
        variants: vec![VariantDefinition {
            variant_id: variant,
            name: "Default".into(),
            sku,
            price: None,
            stock_quantity: stock,
            low_stock_threshold: threshold,
            attributes: Default::default(),
            status: "active".into(),
        }],
        source: "csv".into(),
        import_row: i32::try_from(row).ok(),
    })
}

/// The handler.
pub async fn import(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
        let media = content_type.split(';').next().unwrap_or("").trim();
        if !matches!(media, "text/csv" | "application/csv" | "text/plain") {
            return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE", "send the file as text/csv"));
        }
        let body = body.map_err(ApiError::from_body)?;
        let text = std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("MALFORMED_CSV", "the file must be UTF-8"))?;
        if text.contains('\0') {
            return Err(ApiError::bad_request("MALFORMED_CSV", "the file must not contain NUL characters"));
        }
        let records = records(text).map_err(|e| ApiError::bad_request("MALFORMED_CSV", e.to_string()))?;
        let Some((header_row, rows)) = records.split_first() else {
            return Err(ApiError::bad_request("MALFORMED_CSV", "the file has no header row (name, price, stock, ...)"));
        };
        if rows.len() > MAX_IMPORT_PRODUCTS {
            return Err(ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "TOO_MANY_PRODUCTS", format!("an import holds at most {MAX_IMPORT_PRODUCTS} products (this one {})", rows.len())));
        }
        let columns: Vec<String> = header_row.fields.iter().map(|c| c.trim().to_lowercase()).collect();
        let absent: Vec<&str> = REQUIRED.iter().copied().filter(|c| !columns.iter().any(|have| have == c)).collect();
        if !absent.is_empty() {
            return Err(ApiError::bad_request("MALFORMED_CSV", format!("the header row must name the columns name, price and stock (missing: {})", absent.join(", "))));
        }
        let digest = Sha256::new().chain_update(tenant.as_bytes()).chain_update(b"\n").chain_update(&body).finalize();
        let import_id = format!("imp-{}", &hex::encode(digest)[..16]);
        let (mut publish, mut errors, mut product_ids) = (Vec::new(), Vec::new(), Vec::new());
        for (i, record) in rows.iter().enumerate() {
            let row = i + 2;
            let data: Map<String, Json_> = columns.iter().zip(record.fields.iter()).filter(|(c, _)| !c.is_empty()).map(|(c, v)| (c.clone(), Json_::String(v.clone()))).collect();
            match product_of_row(tenant, &import_id, row, &data, now) {
                Ok(product) => {
                    product_ids.push(product.product_id.clone());
                    publish.push(Publish::new(product_key(tenant, &product.product_id), GatewayEvent::ProductCommand(ProductCommand::ProductDefined(product))));
                }
                Err(error) => errors.push(row_error(row, error, data)),
            }
        }
        let imported = publish.len();
        if imported > 0 {
            state.publish(publish).await?;
        }
        tracing::info!(tenant, import_id, imported, failed = errors.len(), "product import accepted");
        Ok::<_, ApiError>(json!({ "import_id": import_id, "imported": imported, "failed": errors.len(), "errors": errors, "product_ids": product_ids }))
    }
    .await;
    match result {
        Ok(body) => (StatusCode::OK, Json(body)).into_response(),
        Err(e) => e.into_response(),
    }
}
