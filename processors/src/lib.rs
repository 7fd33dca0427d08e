//! souk's keyed state machines (ARCHITECTURE.md, "State machines"): pure functions of (state, event) that the runtime
//! runs on Kafka and the test driver runs in memory; and the pure models of system 2 that machines and stages share
//! (`geo`, `resourcing`, `trust`, `time_chain`).
#![warn(missing_docs)]

pub mod escalation;
pub mod geo;
pub mod intent_watch;
pub mod inventory_pool;
pub mod invoicing;
pub mod ledger;
pub mod negotiation;
pub mod order_session;
pub mod products;
pub mod resourcing;
pub mod rules;
pub mod security;
pub mod social;
pub mod standing_intent;
pub mod time_chain;
pub mod trust;

pub use inventory_pool::InventoryPool;
