//! souk's event contracts: the `.avsc` files under `schemas/avro/`, the Rust types that mirror them,
//! and a schema-directed converter between serde JSON and Avro values.
//!
//! Why JSON in the middle: the Rust types derive serde, `souk produce`/`souk consume` speak JSON lines,
//! and one converter driven by the registered schema covers both, including decimal logical types
//! (exact, via `rust_decimal`) and unions of records (one schema per topic, several event types).

pub mod avro_json;
pub mod billing;
pub mod bundles;
pub mod catalog;
pub mod clock;
pub mod connections;
pub mod decimal;
pub mod discovery;
pub mod envelope;
pub mod escalations;
pub mod intents;
pub mod inventory;
pub mod key;
pub mod orchestration;
pub mod orders;
pub mod payments;
pub mod privacy;
pub mod products;
pub mod rules;
pub mod security;
pub mod simulator;
pub mod social;
pub mod whatsapp;

pub use avro_json::{avro_to_json, json_to_avro, ConvertError};
pub use catalog::{Catalog, CatalogError};
pub use envelope::{Envelope, StreamEvent};
