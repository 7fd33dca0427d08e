//! Decoding helpers for topics that carry a single record type. The codec writes such a topic's
//! schema as the bare record (not a one-branch union), so its JSON is the record itself; should the
//! topic later grow into a union, the JSON becomes `{"Record": {...}}`. [`Bare`] accepts both, so
//! sinks keep reading old and new records across that schema evolution.

use serde::Deserialize;

/// A value decoded either as the bare record `R` or as the topic's union enum `E`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Bare<R, E> {
    /// The record itself (one-record topic).
    Record(R),
    /// The union form.
    Union(E),
}

impl<R, E> Bare<R, E> {
    /// The union enum, wrapping a bare record with `wrap`.
    pub fn into_event(self, wrap: impl FnOnce(R) -> E) -> E {
        match self {
            Bare::Record(r) => wrap(r),
            Bare::Union(e) => e,
        }
    }
}

/// Encodes an event for `topic` in the shape its schema has: the union enum `union` when the
/// topic's schema is a union of records, else the bare `record` (see [`Bare`]).
pub async fn encode_for<R: serde::Serialize, E: serde::Serialize>(codec: &souk_runtime::codec::Codec, topic: &str, record: &R, union: &E) -> Result<Vec<u8>, souk_runtime::codec::CodecError> {
    if codec.schema(topic).is_some_and(serde_json::Value::is_array) {
        codec.encode(topic, union).await
    } else {
        codec.encode(topic, record).await
    }
}
