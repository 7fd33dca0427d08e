//! Library side of the `souk` package: shared by the CLI and the end-to-end tests — the demo
//! (its HTTP client and story), the intent stage, and the seeded inventory workload of `souk bench`.

pub mod demo;
pub mod escalations;
pub mod http;
pub mod intent;
pub mod model;
pub mod orchestration;
pub mod registry;
pub mod social;
pub mod workload;
