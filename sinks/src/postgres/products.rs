//! The product read models (`products-postgres` in topology.toml): `products.events` →
//! `products`, `product_variants`, `stock_movements`, `product_reservations` and the answers to
//! product commands in `command_outcomes` (`projections/migrations/0015_products.sql`).
//! Snapshots only move forward; movements are written once per event.

use super::outcome::Outcome;
use super::runner::{Projection, SinkRecord};
use super::snapshot_upsert;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use souk_schemas::products::{LowStockCrossed, ProductAvailabilityChanged, ProductCommandRejected, ProductUpdated, ReservationUpdated, Restocked, StockMovementRecorded};
use sqlx::PgConnection;

/// The records of `products.events` the read side keeps (edges and crossings are for consumers
/// that react; the snapshot already carries the status they report).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub enum ProductReadEvent {
    ProductUpdated(ProductUpdated),
    StockMovementRecorded(StockMovementRecorded),
    ProductCommandRejected(ProductCommandRejected),
    ReservationUpdated(ReservationUpdated),
    ProductAvailabilityChanged(ProductAvailabilityChanged),
    LowStockCrossed(LowStockCrossed),
    Restocked(Restocked),
}

/// Projects products, their variants and their stock movements.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProductProjection;

fn ts(ms: i64, what: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::<Utc>::from_timestamp_millis(ms).with_context(|| format!("{what} {ms} is not a time"))
}

const PRODUCT_COLUMNS: [&str; 16] = [
    "tenant_id",
    "product_id",
    "name",
    "description",
    "category",
    "base_price",
    "status",
    "images",
    "total_stock",
    "low_threshold",
    "availability",
    "variant_count",
    "created_at",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const VARIANT_COLUMNS: [&str; 15] = [
    "tenant_id",
    "variant_id",
    "product_id",
    "position",
    "name",
    "sku",
    "price",
    "stock_quantity",
    "reserved",
    "low_stock_threshold",
    "attributes",
    "status",
    "last_event_id",
    "updated_at",
    "source_offset",
];

const RESERVATION_COLUMNS: [&str; 12] =
    ["tenant_id", "reservation_id", "product_id", "variant_id", "quantity", "status", "expires_at", "holder", "reason", "last_event_id", "updated_at", "source_offset"];

impl Projection for ProductProjection {
    type Event = ProductReadEvent;

    fn check(&self, record: &SinkRecord<ProductReadEvent>) -> Result<(), String> {
        let at = match &record.event {
            ProductReadEvent::ProductUpdated(p) => p.envelope.occurred_at,
            ProductReadEvent::StockMovementRecorded(m) => m.envelope.occurred_at,
            ProductReadEvent::ProductCommandRejected(r) => r.envelope.occurred_at,
            ProductReadEvent::ReservationUpdated(r) => r.envelope.occurred_at,
            ProductReadEvent::ProductAvailabilityChanged(e) => e.envelope.occurred_at,
            ProductReadEvent::LowStockCrossed(e) => e.envelope.occurred_at,
            ProductReadEvent::Restocked(e) => e.envelope.occurred_at,
        };
        ts(at, "occurred_at").map(drop).map_err(|e| e.to_string())
    }

    async fn apply(&self, tx: &mut PgConnection, record: &SinkRecord<ProductReadEvent>) -> anyhow::Result<()> {
        match &record.event {
            ProductReadEvent::ProductUpdated(p) => product(tx, p, record.offset).await,
            ProductReadEvent::StockMovementRecorded(m) => movement(tx, m, record.offset).await,
            ProductReadEvent::ProductCommandRejected(r) => {
                let outcome = Outcome { command_id: &r.command_id, subject: ("product_id", &r.product_id), command: &r.command, accepted: false, code: Some(&r.code), detail: &r.detail };
                outcome.write(tx, &r.envelope, true).await
            }
            ProductReadEvent::ReservationUpdated(r) => reservation(tx, r, record.offset).await,
            ProductReadEvent::ProductAvailabilityChanged(_) | ProductReadEvent::LowStockCrossed(_) | ProductReadEvent::Restocked(_) => Ok(()),
        }
    }
}

async fn product(tx: &mut PgConnection, p: &ProductUpdated, offset: i64) -> anyhow::Result<()> {
    let tenant = &p.envelope.tenant_id;
    let at = ts(p.envelope.occurred_at, "occurred_at")?;
    sqlx::query(&snapshot_upsert("products", &["tenant_id", "product_id"], &PRODUCT_COLUMNS))
        .bind(tenant)
        .bind(&p.product_id)
        .bind(&p.name)
        .bind(&p.description)
        .bind(&p.category)
        .bind(p.base_price)
        .bind(&p.status)
        .bind(serde_json::json!(p.images))
        .bind(p.total_stock)
        .bind(p.low_threshold)
        .bind(&p.availability)
        .bind(i32::try_from(p.variants.len()).unwrap_or(i32::MAX))
        .bind(ts(p.created_at, "created_at")?)
        .bind(&p.envelope.event_id)
        .bind(at)
        .bind(offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting product {}", p.product_id))?;
    for (position, v) in p.variants.iter().enumerate() {
        sqlx::query(&snapshot_upsert("product_variants", &["tenant_id", "variant_id"], &VARIANT_COLUMNS))
            .bind(tenant)
            .bind(&v.variant_id)
            .bind(&p.product_id)
            .bind(i32::try_from(position + 1).unwrap_or(i32::MAX))
            .bind(&v.name)
            .bind(&v.sku)
            .bind(v.price)
            .bind(v.stock_quantity)
            .bind(v.reserved)
            .bind(v.low_stock_threshold)
            .bind(serde_json::json!(v.attributes))
            .bind(&v.status)
            .bind(&p.envelope.event_id)
            .bind(at)
            .bind(offset)
            .execute(&mut *tx)
            .await
            .with_context(|| format!("upserting variant {}", v.variant_id))?;
    }
    if !p.command_id.is_empty() {
        let outcome = Outcome { command_id: &p.command_id, subject: ("product_id", &p.product_id), command: "product", accepted: true, code: None, detail: "applied" };
        outcome.write(tx, &p.envelope, false).await?;
    }
    Ok(())
}

async fn movement(tx: &mut PgConnection, m: &StockMovementRecorded, offset: i64) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO stock_movements (tenant_id, event_id, command_id, product_id, variant_id, movement_type, quantity, previous_stock, new_stock, reason, occurred_at, source_offset) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (tenant_id, event_id) DO NOTHING",
    )
    .bind(&m.envelope.tenant_id)
    .bind(&m.envelope.event_id)
    .bind(&m.command_id)
    .bind(&m.product_id)
    .bind(&m.variant_id)
    .bind(&m.movement_type)
    .bind(m.quantity)
    .bind(m.previous_stock)
    .bind(m.new_stock)
    .bind(&m.reason)
    .bind(ts(m.envelope.occurred_at, "occurred_at")?)
    .bind(offset)
    .execute(&mut *tx)
    .await
    .with_context(|| format!("recording movement {}", m.envelope.event_id))?;
    let detail = format!("{} from {} to {}", m.variant_id, m.previous_stock, m.new_stock);
    let outcome = Outcome { command_id: &m.command_id, subject: ("product_id", &m.product_id), command: "stock", accepted: true, code: None, detail: &detail };
    outcome.write(tx, &m.envelope, true).await
}

async fn reservation(tx: &mut PgConnection, r: &ReservationUpdated, offset: i64) -> anyhow::Result<()> {
    if r.variant_id.is_empty() {
        // The answer to a command about a hold that had already ended: nothing new to keep.
        return Ok(());
    }
    let at = ts(r.envelope.occurred_at, "occurred_at")?;
    sqlx::query(&snapshot_upsert("product_reservations", &["tenant_id", "reservation_id"], &RESERVATION_COLUMNS))
        .bind(&r.envelope.tenant_id)
        .bind(&r.reservation_id)
        .bind(&r.product_id)
        .bind(&r.variant_id)
        .bind(r.quantity)
        .bind(&r.status)
        .bind(ts(r.expires_at, "expires_at")?)
        .bind(&r.holder)
        .bind(&r.reason)
        .bind(&r.envelope.event_id)
        .bind(at)
        .bind(offset)
        .execute(&mut *tx)
        .await
        .with_context(|| format!("upserting reservation {}", r.reservation_id))?;
    let accepted = r.status != "rejected";
    let detail = format!("reservation {} {}", r.reservation_id, r.status);
    let outcome = Outcome { command_id: &r.command_id, subject: ("product_id", &r.product_id), command: "reservation", accepted, code: (!accepted).then_some("NOT_AVAILABLE"), detail: &detail };
    outcome.write(tx, &r.envelope, true).await
}
