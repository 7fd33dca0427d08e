//! souk-producers: where events enter souk from outside — the HTTP gateway (WhatsApp/Instagram/
//! Shopify webhooks, owner commands), importers and channel pollers.
//!
//! [`gateway`] is the HTTP edge: the verified WhatsApp Cloud API webhook and the owner commands;
//! [`clock`] writes the ticks every timer-driven processor needs; [`catalog`] keeps the
//! orchestration tables (partners, products, negotiations by partner number) from the log.

pub mod catalog;
pub mod clock;
pub mod gateway;
pub mod meta;
pub mod simulator;
