//! The product reads (rules IV1–IV5): `GET /v1/inventory/products` (pages, search, category,
//! status, low stock — source §a.6), one product with its variants, and the stock movements with
//! their previous and new levels.

use super::{ApiResult, ApiState, TenantId};
use crate::queries::products as queries;
use crate::queries::products::ProductFilter;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_runtime::api_error::ApiError;
use souk_runtime::openapi::{array_of, int, object, reference, string, time, Fragment};

/// Default and largest page of the catalog list (source §c: limit 20, at most 100).
const DEFAULT_PAGE: i64 = 20;
const MAX_PAGE: i64 = 100;

/// Query of `GET /v1/inventory/products`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProductsQuery {
    page: Option<i64>,
    limit: Option<i64>,
    search: Option<String>,
    category: Option<String>,
    status: Option<String>,
    low_stock: Option<bool>,
}

pub(super) async fn products(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<ProductsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let page = q.page.unwrap_or(1);
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=1_000_000).contains(&page) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("page must be between 1 and 1000000, not {page}")));
    }
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("limit must be between 1 and {MAX_PAGE}, not {limit}")));
    }
    let status = match q.status.as_deref() {
        None | Some("active") => Some("active"),
        Some("inactive") => Some("inactive"),
        Some("all") => None,
        Some(other) => return Err(ApiError::bad_request("BAD_QUERY", format!("status must be active, inactive or all, not {other:?}"))),
    };
    let filter = ProductFilter { search: q.search.as_deref().filter(|s| !s.trim().is_empty()), category: q.category.as_deref(), status, low_stock: q.low_stock.unwrap_or(false) };
    Ok(Json(queries::products(&mut *s.scoped(&tenant).await?, &tenant, &filter, page, limit).await?).into_response())
}

pub(super) async fn product(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(id): Path<String>) -> ApiResult {
    super::found(queries::product(&mut *s.scoped(&tenant).await?, &tenant, &id).await?, || format!("no product {id}"))
}

/// Query of `GET /v1/inventory/movements`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MovementsQuery {
    variant_id: Option<String>,
    product_id: Option<String>,
    limit: Option<i64>,
}

pub(super) async fn movements(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<MovementsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let limit = super::page_limit(q.limit)?.unwrap_or(50);
    let rows = queries::movements(&mut *s.scoped(&tenant).await?, &tenant, q.variant_id.as_deref(), q.product_id.as_deref(), limit).await?;
    Ok(Json(json!({ "movements": rows })).into_response())
}

/// The product reads' schemas and operations.
pub(super) fn document(f: &mut Fragment, get: impl Fn(&str, Vec<Value>, Value, bool) -> Value, param: impl Fn(&str, &str, &str) -> Value) {
    let decimal = json!({ "type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$" });
    let product_fields = vec![
        ("id", string()),
        ("name", string()),
        ("description", string()),
        ("category", string()),
        ("base_price", decimal.clone()),
        ("total_stock", int()),
        ("low_threshold", int()),
        ("availability", json!({ "enum": ["available", "low_stock", "out_of_stock"] })),
        ("variant_count", int()),
        ("status", json!({ "enum": ["active", "inactive"] })),
        ("images", json!({ "type": "array", "items": { "type": "string" } })),
        ("created_at", time()),
        ("updated_at", time()),
    ];
    let mut detail_fields = product_fields.clone();
    detail_fields.push(("variants", array_of("InventoryVariant")));
    let schemas = json!({
        "InventoryProduct": object(&product_fields),
        "InventoryProductDetail": object(&detail_fields),
        "InventoryVariant": object(&[
            ("variant_id", string()), ("name", string()), ("sku", string()), ("price", decimal), ("stock_quantity", int()), ("reserved", int()),
            ("low_stock_threshold", int()), ("attributes", json!({ "type": "object", "additionalProperties": { "type": "string" } })), ("status", string()),
        ]),
        "InventoryMovement": object(&[
            ("variant_id", string()), ("product_id", string()), ("movement_type", json!({ "enum": ["initial", "adjustment", "reservation"] })), ("adjustment", int()),
            ("previous_stock", int()), ("new_stock", int()), ("reason", string()), ("command_id", string()), ("timestamp", time()),
        ]),
        "InventoryProductPage": object(&[("products", array_of("InventoryProduct")), ("pagination", object(&[("page", int()), ("total_pages", int()), ("total_items", int())]))]),
    });
    for (name, schema) in schemas.as_object().cloned().unwrap_or_default() {
        assert!(!f.schemas.contains_key(&name), "schema {name} is defined twice");
        f.schemas.insert(name, schema);
    }
    let typed = |name: &str, description: &str, schema: Value| {
        let mut p = param(name, "query", description);
        p["schema"] = schema;
        p
    };
    f.operation(
        "/v1/inventory/products",
        "get",
        get(
            "The catalog, by name, a page at a time",
            vec![
                typed("page", "page number, from 1", json!({ "type": "integer", "minimum": 1, "maximum": 1_000_000 })),
                typed("limit", "page size, default 20, at most 100", json!({ "type": "integer", "minimum": 1, "maximum": MAX_PAGE })),
                param("search", "query", "name, description or SKU contains it"),
                param("category", "query", "only this category"),
                typed("status", "default active", json!({ "type": "string", "enum": ["active", "inactive", "all"] })),
                typed("low_stock", "only products low on stock or out of it", json!({ "type": "boolean" })),
            ],
            reference("InventoryProductPage"),
            false,
        ),
    );
    f.operation(
        "/v1/inventory/products/{product_id}",
        "get",
        get("One product with its variants and their stock", vec![param("product_id", "path", "the product")], reference("InventoryProductDetail"), true),
    );
    f.operation(
        "/v1/inventory/movements",
        "get",
        get(
            "Stock movements with the levels before and after, newest first",
            vec![param("variant_id", "query", "only this variant"), param("product_id", "query", "only this product"), param("limit", "query", "page size, default 50, at most 500")],
            object(&[("movements", array_of("InventoryMovement"))]),
            false,
        ),
    );
}
