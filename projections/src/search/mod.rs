//! The search index's read side: its schema and documents (shared with the `search-index` sink
//! that writes it), tenant-scoped queries, and the `GET /v1/search` router. Lives here, not in the
//! sinks crate, so the gateway can serve search without depending on the sinks.

pub mod api;
pub mod query;
pub mod schema;

pub use api::{search_fragment, search_router, search_surface};
pub use query::{count_doc_id, count_tenant, search, Hit, SearchError};
pub use schema::{CatalogDoc, Direction, DocKind, MessageDoc, SearchSchema};
