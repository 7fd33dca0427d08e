//! souk's processing runtime: the processor API and its broker-free driver, the per-partition keyed
//! store with exactly-once-effects bookkeeping, the topology loader, the Schema Registry codec, and
//! the Kafka engine (consume → process → produce outputs → changelog → commit) with restore, DLQ,
//! clock ticks, liveness and metrics.

pub mod admin;
pub mod api_error;
pub mod auth_audit;
pub mod batch_loop;
pub mod codec;
pub mod dead_letter;
pub mod driver;
pub mod engine;
pub mod exactly_once;
pub mod failpoint;
pub mod global_table;
pub mod http;
pub mod kafka;
pub mod metrics;
pub mod openapi;
pub mod partitioner;
pub mod permissions;
pub mod pii;
pub mod privacy;
pub mod processor;
pub mod rate_limit;
pub mod stack;
pub mod stage;
pub mod store;
pub mod tenants;
pub mod testkit;
pub mod topology;
pub mod topology_driver;

pub use driver::TestDriver;
pub use processor::{Ctx, Emitted, Processor, Rejection};
pub use store::{KeyEntry, PartitionStore};
