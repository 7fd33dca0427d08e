//! Products, variants and stock of a small business (source 002 §a.6, docs/rules/inbox.md IV1–IV5):
//! the owner's commands, the product aggregate's answers, and the customer-facing availability the
//! reply stage answers from. Keyed `<tenant>|<product_id>`, so every variant of a product — and the
//! product's total stock, which availability is judged on — lives on one partition.

use crate::clock::Tick;
use crate::envelope::Envelope;
use crate::social::NotificationRaised;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One variant as the owner declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantDefinition {
    /// `<product_id>:<n>`.
    pub variant_id: String,
    pub name: String,
    pub sku: String,
    /// `None`: the product's base price.
    pub price: Option<Decimal>,
    /// The initial stock of a new variant; a redefinition never changes stock (adjustments do).
    pub stock_quantity: i64,
    pub low_stock_threshold: i32,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub status: String,
}

/// A product created or redefined (over HTTP or from a CSV row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductDefined {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub base_price: Decimal,
    pub status: String,
    #[serde(default)]
    pub images: Vec<String>,
    pub variants: Vec<VariantDefinition>,
    /// `api` or `csv`.
    pub source: String,
    pub import_row: Option<i32>,
}

/// Some fields of a product changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPatched {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub category: Option<String>,
    pub base_price: Option<Decimal>,
    pub status: Option<String>,
}

/// A signed adjustment of one variant's stock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAdjustRequested {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub variant_id: String,
    pub adjustment: i64,
    pub reason: String,
}

/// Hold units of a variant for a while.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationRequested {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub reservation_id: String,
    pub variant_id: String,
    pub quantity: i64,
    pub ttl_seconds: i64,
    pub holder: Option<String>,
}

/// A hold confirmed or released.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationSettled {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub reservation_id: String,
    /// `confirm` or `release`.
    pub outcome: String,
}

/// One variant as the product's state holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantLevel {
    pub variant_id: String,
    pub name: String,
    pub sku: String,
    pub price: Decimal,
    pub stock_quantity: i64,
    pub reserved: i64,
    pub low_stock_threshold: i32,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub status: String,
    pub available: bool,
}

/// A product's snapshot after every change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductUpdated {
    pub envelope: Envelope,
    /// The command that changed it ("" for a hold's expiry).
    #[serde(default)]
    pub command_id: String,
    pub product_id: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub base_price: Decimal,
    pub status: String,
    #[serde(default)]
    pub images: Vec<String>,
    pub variants: Vec<VariantLevel>,
    pub total_stock: i64,
    pub low_threshold: i32,
    pub availability: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One change of a variant's stock with the levels before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockMovementRecorded {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub variant_id: String,
    /// `initial`, `adjustment` or `reservation`.
    pub movement_type: String,
    pub quantity: i64,
    pub previous_stock: i64,
    pub new_stock: i64,
    pub reason: String,
}

/// A product command refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductCommandRejected {
    pub envelope: Envelope,
    pub command_id: String,
    pub product_id: String,
    pub variant_id: Option<String>,
    pub command: String,
    pub code: String,
    pub detail: String,
}

/// A product's availability status changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductAvailabilityChanged {
    pub envelope: Envelope,
    pub product_id: String,
    pub name: String,
    pub previous: Option<String>,
    pub status: String,
}

/// Total stock fell to or below the threshold from above.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LowStockCrossed {
    pub envelope: Envelope,
    pub product_id: String,
    pub name: String,
    pub current_stock: i64,
    pub threshold: i32,
}

/// Total stock left zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restocked {
    pub envelope: Envelope,
    pub product_id: String,
    pub name: String,
    pub status: String,
}

/// A hold's lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReservationUpdated {
    pub envelope: Envelope,
    pub command_id: String,
    pub reservation_id: String,
    pub product_id: String,
    pub variant_id: String,
    pub quantity: i64,
    /// `held`, `rejected`, `confirmed`, `released` or `expired`.
    pub status: String,
    pub expires_at: i64,
    pub holder: Option<String>,
    pub reason: Option<String>,
}

/// Whether a variant can be had, never how many.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VariantAvailability {
    pub variant_id: String,
    pub name: String,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    pub available: bool,
}

/// The customer-facing view of a product (the `products.availability` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductAvailability {
    pub envelope: Envelope,
    pub product_id: String,
    pub name: String,
    pub category: String,
    pub active: bool,
    pub status: String,
    pub variants: Vec<VariantAvailability>,
}

/// What drives a product (`products.commands`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductCommand {
    ProductDefined(ProductDefined),
    ProductPatched(ProductPatched),
    StockAdjustRequested(StockAdjustRequested),
    ReservationRequested(ReservationRequested),
    ReservationSettled(ReservationSettled),
    Tick(Tick),
}

/// What a product decided (`products.events`, `products.availability`, `notifications.inputs`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProductOutput {
    ProductUpdated(ProductUpdated),
    StockMovementRecorded(StockMovementRecorded),
    ProductCommandRejected(ProductCommandRejected),
    ProductAvailabilityChanged(ProductAvailabilityChanged),
    LowStockCrossed(LowStockCrossed),
    Restocked(Restocked),
    ReservationUpdated(ReservationUpdated),
    ProductAvailability(ProductAvailability),
    NotificationRaised(NotificationRaised),
}

/// The records of `products.availability`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AvailabilityEvent {
    ProductAvailability(ProductAvailability),
}

crate::stream_event!(ProductCommand { ProductDefined, ProductPatched, StockAdjustRequested, ReservationRequested, ReservationSettled, Tick } tick Tick);
crate::stream_event!(ProductOutput {
    ProductUpdated,
    StockMovementRecorded,
    ProductCommandRejected,
    ProductAvailabilityChanged,
    LowStockCrossed,
    Restocked,
    ReservationUpdated,
    ProductAvailability,
    NotificationRaised
});
crate::stream_event!(AvailabilityEvent { ProductAvailability });

/// The product key `<tenant>|<product_id>`.
pub fn product_key(tenant: &str, product_id: &str) -> String {
    format!("{tenant}|{product_id}")
}

/// The product a variant id `<product_id>:<n>` belongs to.
pub fn product_of_variant(variant_id: &str) -> Option<&str> {
    let (product, n) = variant_id.rsplit_once(':')?;
    (!product.is_empty() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())).then_some(product)
}

/// The id of a product's `n`-th variant (from 1).
pub fn variant_id(product_id: &str, n: usize) -> String {
    format!("{product_id}:{n}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::tests::round_trip;

    fn names(records: &[&str]) -> Vec<String> {
        records.iter().map(|r| format!("souk.products.{r}")).collect()
    }

    /// The Rust types and the .avsc files agree for every record of the product topics.
    #[test]
    fn product_records_round_trip_through_avro() {
        let envelope = Envelope::external("shop", "c1", 5);
        let attributes: BTreeMap<String, String> = [("size".to_string(), "M".to_string())].into();
        let commands = [
            ProductCommand::ProductDefined(ProductDefined {
                envelope: envelope.clone(),
                command_id: "c1".into(),
                product_id: "p1".into(),
                name: "Linen shirt".into(),
                description: String::new(),
                category: "clothing".into(),
                base_price: "29.99".parse().unwrap(),
                status: "active".into(),
                images: vec!["https://x/1.jpg".into()],
                variants: vec![VariantDefinition {
                    variant_id: "p1:1".into(),
                    name: "M".into(),
                    sku: "LS-M".into(),
                    price: None,
                    stock_quantity: 5,
                    low_stock_threshold: 10,
                    attributes: attributes.clone(),
                    status: "active".into(),
                }],
                source: "csv".into(),
                import_row: Some(2),
            }),
            ProductCommand::StockAdjustRequested(StockAdjustRequested {
                envelope: envelope.clone(),
                command_id: "c2".into(),
                product_id: "p1".into(),
                variant_id: "p1:1".into(),
                adjustment: -3,
                reason: "sold".into(),
            }),
        ];
        let command_records = names(&["ProductDefined", "ProductPatched", "StockAdjustRequested", "ReservationRequested", "ReservationSettled"]);
        let mut with_tick: Vec<&str> = command_records.iter().map(String::as_str).collect();
        with_tick.push("souk.clock.Tick");
        for c in &commands {
            round_trip(&with_tick, c);
        }
        let availability = ProductAvailability {
            envelope: envelope.clone(),
            product_id: "p1".into(),
            name: "Linen shirt".into(),
            category: "clothing".into(),
            active: true,
            status: "low_stock".into(),
            variants: vec![VariantAvailability { variant_id: "p1:1".into(), name: "M".into(), attributes, available: true }],
        };
        round_trip(&["souk.products.ProductAvailability"], &availability);
        let crossed = ProductOutput::LowStockCrossed(LowStockCrossed { envelope, product_id: "p1".into(), name: "Linen shirt".into(), current_stock: 3, threshold: 5 });
        let event_records = names(&["ProductUpdated", "StockMovementRecorded", "ProductCommandRejected", "ProductAvailabilityChanged", "LowStockCrossed", "Restocked", "ReservationUpdated"]);
        round_trip(&event_records.iter().map(String::as_str).collect::<Vec<_>>(), &crossed);
    }

    #[test]
    fn variant_ids_name_their_product() {
        assert_eq!(product_of_variant(&variant_id("prd_1", 2)), Some("prd_1"));
        assert_eq!(product_of_variant("var_123"), None);
        assert_eq!(product_of_variant(":1"), None);
        assert_eq!(product_of_variant("p:x"), None);
    }
}
