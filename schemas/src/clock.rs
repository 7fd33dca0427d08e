//! `souk.clock.Tick`: time as an event, written by the clock ticker into every partition of every
//! timer-driven topic.

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// Full Avro name of the tick record, as listed in topology.toml.
pub const TICK_RECORD: &str = "souk.clock.Tick";

/// The `tenant_id` of a tick: it belongs to no tenant.
pub const ANY_TENANT: &str = "*";

/// Key of tick records (ticks are addressed by partition, not by key).
pub const TICK_KEY: &str = "*|tick";

/// The tick for `topic`/`partition` at `now_ms`, its id derived from all three: what the clock
/// writes, and what broker-free drivers feed.
pub fn tick(topic: &str, partition: i32, now_ms: i64) -> Tick {
    let id = uuid::Uuid::new_v5(&crate::envelope::SOUK_ID_NAMESPACE, format!("tick/{topic}/{partition}/{now_ms}").as_bytes()).to_string();
    Tick { envelope: Envelope { event_id: id.clone(), tenant_id: ANY_TENANT.to_string(), occurred_at: now_ms, causation_id: None, correlation_id: id }, partition }
}

/// [`tick`] as the JSON of a topic union's `Tick` branch (the codec writes it in the topic's shape).
pub fn tick_json(topic: &str, partition: i32, now_ms: i64) -> serde_json::Value {
    serde_json::json!({ "Tick": tick(topic, partition, now_ms) })
}

/// Advances the stream time of the partition it lands in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// `tenant_id` is `*`: a tick belongs to no tenant.
    pub envelope: Envelope,
    /// The partition the ticker addressed (ticks are produced to explicit partitions).
    pub partition: i32,
}
