//! The product reads (`migrations/0015_products.sql`): the catalog with its filters and pages (source
//! §a.6 `GET /api/inventory/products`), one product with its variants, and the stock movements.
//! Tenant scoped like every read.

use anyhow::Context;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

/// A product as the catalog lists it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct ProductRow {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its description.
    pub description: String,
    /// Its category.
    pub category: String,
    /// The price of variants without their own.
    pub base_price: Decimal,
    /// Σ stock of its active variants.
    pub total_stock: i64,
    /// The smallest variant threshold.
    pub low_threshold: i32,
    /// available, low_stock or out_of_stock.
    pub availability: String,
    /// How many variants it has.
    pub variant_count: i32,
    /// active or inactive.
    pub status: String,
    /// Image URLs.
    pub images: serde_json::Value,
    /// When it was defined.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// One variant of a product.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct VariantRow {
    /// `<product_id>:<n>`.
    pub variant_id: String,
    /// Its name.
    pub name: String,
    /// Its SKU.
    pub sku: String,
    /// Its price.
    pub price: Decimal,
    /// Units on hand.
    pub stock_quantity: i64,
    /// Units held by open reservations.
    pub reserved: i64,
    /// Its low-stock threshold.
    pub low_stock_threshold: i32,
    /// Size, colour, …
    pub attributes: serde_json::Value,
    /// active or inactive.
    pub status: String,
}

/// A product with its variants.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductDetail {
    /// The product.
    #[serde(flatten)]
    pub product: ProductRow,
    /// Its variants in their order.
    pub variants: Vec<VariantRow>,
}

/// One stock change.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
pub struct MovementRow {
    /// The variant.
    pub variant_id: String,
    /// Its product.
    pub product_id: String,
    /// initial, adjustment or reservation.
    pub movement_type: String,
    /// Signed change.
    pub adjustment: i64,
    /// Stock before.
    pub previous_stock: i64,
    /// Stock after.
    pub new_stock: i64,
    /// Why.
    pub reason: String,
    /// The command that caused it.
    pub command_id: String,
    /// When.
    pub timestamp: DateTime<Utc>,
}

/// Filters of the catalog list.
#[derive(Debug, Clone, Default)]
pub struct ProductFilter<'a> {
    /// Name, description or SKU contains it (case-insensitive).
    pub search: Option<&'a str>,
    /// Only this category.
    pub category: Option<&'a str>,
    /// Only this status (`None`: all).
    pub status: Option<&'a str>,
    /// Only products low on stock or out of it.
    pub low_stock: bool,
}

/// A page of products.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductPage {
    /// The products of the page, by name.
    pub products: Vec<ProductRow>,
    /// `{page, total_pages, total_items}`.
    pub pagination: serde_json::Value,
}

const PRODUCT_SELECT: &str =
    "SELECT product_id AS id, name, description, category, base_price, total_stock, low_threshold, availability, variant_count, status, images, created_at, updated_at FROM products";

/// `%text%` for ILIKE, with the pattern characters escaped.
fn contains(text: &str) -> String {
    format!("%{}%", text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"))
}

/// One page of the tenant's products, by name.
pub async fn products(db: &mut sqlx::PgConnection, tenant: &str, filter: &ProductFilter<'_>, page: i64, limit: i64) -> anyhow::Result<ProductPage> {
    let search = filter.search.map(contains);
    let condition = "WHERE tenant_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR description ILIKE $2 \
                     OR EXISTS (SELECT 1 FROM product_variants v WHERE v.tenant_id = products.tenant_id AND v.product_id = products.product_id AND v.sku ILIKE $2)) \
                     AND ($3::text IS NULL OR category = $3) AND ($4::text IS NULL OR status = $4) AND (NOT $5 OR availability <> 'available')";
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM products {condition}"))
        .bind(tenant)
        .bind(&search)
        .bind(filter.category)
        .bind(filter.status)
        .bind(filter.low_stock)
        .fetch_one(&mut *db)
        .await
        .with_context(|| format!("counting products of tenant {tenant}"))?;
    let rows: Vec<ProductRow> = sqlx::query_as(&format!("{PRODUCT_SELECT} {condition} ORDER BY name, product_id LIMIT $6 OFFSET $7"))
        .bind(tenant)
        .bind(&search)
        .bind(filter.category)
        .bind(filter.status)
        .bind(filter.low_stock)
        .bind(limit)
        .bind((page - 1).saturating_mul(limit))
        .fetch_all(&mut *db)
        .await
        .with_context(|| format!("reading products of tenant {tenant}"))?;
    let total_pages = (total + limit - 1) / limit;
    Ok(ProductPage { products: rows, pagination: serde_json::json!({ "page": page, "total_pages": total_pages, "total_items": total }) })
}

/// One product with its variants.
pub async fn product(db: &mut sqlx::PgConnection, tenant: &str, product_id: &str) -> anyhow::Result<Option<ProductDetail>> {
    let Some(product): Option<ProductRow> = sqlx::query_as(&format!("{PRODUCT_SELECT} WHERE tenant_id = $1 AND product_id = $2"))
        .bind(tenant)
        .bind(product_id)
        .fetch_optional(&mut *db)
        .await
        .with_context(|| format!("reading product {product_id}"))?
    else {
        return Ok(None);
    };
    let variants = sqlx::query_as(
        "SELECT variant_id, name, sku, price, stock_quantity, reserved, low_stock_threshold, attributes, status FROM product_variants \
         WHERE tenant_id = $1 AND product_id = $2 ORDER BY position",
    )
    .bind(tenant)
    .bind(product_id)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading the variants of {product_id}"))?;
    Ok(Some(ProductDetail { product, variants }))
}

/// Stock movements, newest first, of a variant or a product (or all of the tenant's).
pub async fn movements(db: &mut sqlx::PgConnection, tenant: &str, variant_id: Option<&str>, product_id: Option<&str>, limit: i64) -> anyhow::Result<Vec<MovementRow>> {
    sqlx::query_as(
        "SELECT variant_id, product_id, movement_type, quantity AS adjustment, previous_stock, new_stock, reason, command_id, occurred_at AS timestamp FROM stock_movements \
         WHERE tenant_id = $1 AND ($2::text IS NULL OR variant_id = $2) AND ($3::text IS NULL OR product_id = $3) \
         ORDER BY occurred_at DESC, source_offset DESC LIMIT $4",
    )
    .bind(tenant)
    .bind(variant_id)
    .bind(product_id)
    .bind(limit)
    .fetch_all(&mut *db)
    .await
    .with_context(|| format!("reading stock movements of tenant {tenant}"))
}
