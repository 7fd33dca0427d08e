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
