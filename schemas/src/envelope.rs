//! The envelope every event carries (ARCHITECTURE.md, "Events") and the trait the runtime uses to read it.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for ids minted by souk (UUIDv5), so that replays mint the same ids.
pub const SOUK_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5a0c_6b1e_7e2f_4c3a_9d41_0a6b_5f3e_2c11);

/// Identity, tenant, source time and causal chain of one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUID of this event; outputs use UUIDv5 of their cause.
    pub event_id: String,
    /// The tenant (business) the event belongs to.
    pub tenant_id: String,
    /// Source time, epoch milliseconds; processors use it as stream time.
    pub occurred_at: i64,
    /// The event that caused this one, if any.
    pub causation_id: Option<String>,
    /// The conversation/order this event belongs to, carried unchanged along a chain.
    pub correlation_id: String,
}

impl Envelope {
    /// An envelope for an event that enters souk from outside (a webhook, a command, a test).
    /// `source_id` must be stable for the same real-world input (e.g. a wamid) so redeliveries dedup.
    pub fn external(tenant_id: &str, source_id: &str, occurred_at: i64) -> Envelope {
        let id = Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{tenant_id}/{source_id}").as_bytes());
        Envelope { event_id: id.to_string(), tenant_id: tenant_id.to_string(), occurred_at, causation_id: None, correlation_id: id.to_string() }
    }

    /// The envelope of the `index`-th output caused by this event for `scope` (processor + key):
    /// deterministic, so a re-run emits byte-identical outputs.
    pub fn derive(&self, scope: &str, index: u32, occurred_at: i64) -> Envelope {
        let id = Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("{}/{scope}/{index}", self.event_id).as_bytes());
        Envelope { event_id: id.to_string(), tenant_id: self.tenant_id.clone(), occurred_at, causation_id: Some(self.event_id.clone()), correlation_id: self.correlation_id.clone() }
    }
}

/// Implemented by every topic's event enum so the runtime can read the envelope and tell clock ticks
/// (which only advance stream time) from keyed events.
pub trait StreamEvent {
    /// The envelope of whichever event this is.
    fn envelope(&self) -> &Envelope;
    /// True for `souk.clock.Tick`.
    fn is_tick(&self) -> bool {
        false
    }
}

/// Implements [`StreamEvent`] for a topic's event enum whose variants each wrap a record with an
/// `envelope` field: `stream_event!(Enum { A, B })`, or `stream_event!(Enum { A, Tick } tick Tick)`
/// when the topic carries clock ticks.
#[macro_export]
macro_rules! stream_event {
    ($enum:ident { $($variant:ident),* $(,)? }) => {
        impl $crate::envelope::StreamEvent for $enum {
            fn envelope(&self) -> &$crate::envelope::Envelope {
                match self { $($enum::$variant(e) => &e.envelope,)* }
            }
        }
    };
    ($enum:ident { $($variant:ident),* $(,)? } tick $tick:ident) => {
        impl $crate::envelope::StreamEvent for $enum {
            fn envelope(&self) -> &$crate::envelope::Envelope {
                match self { $($enum::$variant(e) => &e.envelope,)* }
            }
            fn is_tick(&self) -> bool {
                matches!(self, $enum::$tick(_))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_deterministic_and_distinct() {
        let cause = Envelope::external("acme", "wamid.1", 1_000);
        let a = cause.derive("inventory-pool/acme|cotton|blue", 0, 1_000);
        let b = cause.derive("inventory-pool/acme|cotton|blue", 0, 1_000);
        let c = cause.derive("inventory-pool/acme|cotton|blue", 1, 1_000);
        assert_eq!(a, b);
        assert_ne!(a.event_id, c.event_id);
        assert_eq!(a.causation_id.as_deref(), Some(cause.event_id.as_str()));
        assert_eq!(a.correlation_id, cause.correlation_id);
    }
}
