//! souk's sinks (ARCHITECTURE.md, "Sinks"): consumers that turn topics into effects outside Kafka, each
//! exactly-once in effect. `postgres` projects events into read models, storing its offsets in the
//! same SQL transaction as the rows.

pub mod payments;
pub mod postgres;
pub mod search;
pub mod social;
pub mod whatsapp;
