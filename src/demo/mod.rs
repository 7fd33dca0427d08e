//! `souk demo`'s reusable parts: Meta-shaped webhook deliveries, an HTTP client of a running souk
//! (webhook, owner commands, read API) and the demo story. The end-to-end tests drive souk through
//! the same client, so the demo and the tests exercise exactly the public surfaces.

pub mod client;
pub mod flowers;
pub mod inbox;
pub mod scenario;

/// Meta-shaped webhook deliveries (kept beside the gateway and the partner simulator, which posts them too).
pub use souk_producers::meta;
