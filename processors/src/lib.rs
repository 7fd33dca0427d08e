//! souk's keyed state machines (ARCHITECTURE.md, "State machines"): pure functions of (state, event) that the runtime
//! runs on Kafka and the test driver runs in memory.
#![warn(missing_docs)]

pub mod inventory_pool;
pub mod invoicing;
pub mod ledger;
pub mod negotiation;
pub mod order_session;
pub mod resourcing;
pub mod trust;

pub use inventory_pool::InventoryPool;
