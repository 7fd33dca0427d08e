//! The search index's read side: its schema and documents (shared with the `search-index` sink
//! that writes it), tenant-scoped queries, discovery with its ranking, and the `GET /v1/search`, `GET /v1/discover`
//! and `GET /v1/ranking/config` routes. Lives here, not in the
//! sinks crate, so the gateway can serve search without depending on the sinks.

pub mod api;
pub mod discover;
mod discover_api;
pub mod marketplace;
pub mod query;
pub mod ranking;
pub mod schema;

pub use api::{search_fragment, search_router, search_surface};
pub use discover::{discover, DiscoverQuery, Discovered};
pub use marketplace::{PartnerDoc, ProductDoc, PromotionDoc, RankingDoc, Weights};
pub use query::{count_doc_id, count_tenant, search, Hit, SearchError};
pub use schema::{CatalogDoc, Direction, DocKind, MessageDoc, SearchSchema};
