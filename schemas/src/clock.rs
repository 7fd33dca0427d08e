//! `souk.clock.Tick`: time as an event, written by the clock ticker into every partition of every
//! timer-driven topic.

use crate::envelope::Envelope;
use serde::{Deserialize, Serialize};

/// Full Avro name of the tick record, as listed in topology.toml.
pub const TICK_RECORD: &str = "souk.clock.Tick";

/// The `tenant_id` of a tick: it belongs to no tenant.
pub const ANY_TENANT: &str = "*";

/// Advances the stream time of the partition it lands in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tick {
    /// `tenant_id` is `*`: a tick belongs to no tenant.
    pub envelope: Envelope,
    /// The partition the ticker addressed (ticks are produced to explicit partitions).
    pub partition: i32,
}
