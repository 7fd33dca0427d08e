//! souk-producers: where events enter souk from outside — the HTTP gateway (WhatsApp/Instagram/
//! Shopify webhooks, owner commands), importers and channel pollers.
//!
//! It holds no code yet: the first producer, the WhatsApp gateway, arrives with the textile
//! ordering workflow. The clock ticker, which every timer-driven processor needs, lives in
//! `souk_runtime::ticker` and is started by `souk run` from `[producers.clock]` in topology.toml.
