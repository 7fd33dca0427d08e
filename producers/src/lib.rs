//! souk-producers: where events enter souk from outside — the HTTP gateway (WhatsApp/Instagram/
//! Shopify webhooks, owner commands), importers and channel pollers.
//!
//! [`gateway`] is the HTTP edge: the verified WhatsApp Cloud API webhook and the owner commands. The
//! clock ticker, which every timer-driven processor needs, lives in
//! `souk_runtime::ticker` and is started by `souk run` from `[producers.clock]` in topology.toml.

pub mod gateway;
