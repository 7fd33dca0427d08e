//! `GET /v1/search?q=&kind=&limit=`: the owner's search over their catalog and conversations.
//! The owner API key (`Authorization: Bearer <key>`) decides the tenant, so a caller only ever
//! sees their own documents. The index is opened read-only, lazily (the sink may create it after
//! the API starts: until then results are empty), with a reader that reloads on every commit.

use super::discover_api;
use super::query::{search, SearchError, MAX_LIMIT};
use super::schema::{open_existing, DocKind};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_runtime::api_error::{authenticate, ApiError};
use souk_runtime::http::{Routes, Surface};
use souk_runtime::openapi::{error_response, Fragment};
use souk_runtime::tenants::Tenants;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tantivy::{IndexReader, ReloadPolicy};

/// Results per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;

/// What the search routes share: where the index is, the tenants' keys, and one reader.
pub(super) struct SearchState {
    index_dir: PathBuf,
    pub(super) tenants: Arc<Tenants>,
    reader: Mutex<Option<IndexReader>>,
}

impl SearchState {
    /// The shared reader, opened on first use once the index exists.
    pub(super) fn reader(&self) -> anyhow::Result<Option<IndexReader>> {
        let mut slot = self.reader.lock().map_err(|_| anyhow::anyhow!("search reader lock poisoned"))?;
        if slot.is_none() {
            if let Some(index) = open_existing(&self.index_dir)? {
                let reader: IndexReader = index.reader_builder().reload_policy(ReloadPolicy::OnCommitWithDelay).try_into().map_err(|e| anyhow::anyhow!("search index reader: {e}"))?;
                *slot = Some(reader);
            }
        }
        Ok(slot.clone())
    }
}

#[derive(Debug, Deserialize)]
struct Params {
    q: Option<String>,
    kind: Option<String>,
    limit: Option<String>,
}

/// The search API's routes; `index_dir` is the search sink's index directory, `tenants` maps API
/// keys to tenants.
pub fn search_router(index_dir: PathBuf, tenants: Arc<Tenants>) -> Routes {
    let state = Arc::new(SearchState { index_dir, tenants, reader: Mutex::new(None) });
    Routes::new().get("/v1/search", handle).get("/v1/discover", discover_api::handle_discover).get("/v1/ranking/config", discover_api::handle_weights).with_state(state)
}

/// The search API's share of the HTTP API (the `search-api` component).
pub fn search_surface(index_dir: PathBuf, tenants: Arc<Tenants>) -> Surface {
    Surface { routes: search_router(index_dir, tenants), doc: search_fragment(), audit: None }
}

/// `GET /v1/search` in the OpenAPI document.
pub fn search_fragment() -> Fragment {
    let q = |name: &str, schema: serde_json::Value, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description });
    let hit = json!({ "type": "object", "required": ["kind", "doc_id", "score"], "properties": {
        "kind": { "enum": ["catalog", "message", "partner", "product"] }, "doc_id": { "type": "string" }, "score": { "type": "number" } } });
    let mut f = Fragment::default();
    f.operation(
        "/v1/search",
        "get",
        json!({
            "summary": "Search the tenant's catalog, partners, products and conversations (WhatsApp, bundle chats, negotiations; tantivy query syntax)",
            "parameters": [
                q("q", json!({ "type": "string", "pattern": "^[^\\u0000]*$" }), "query text; empty lists the most recent documents"),
                q("kind", json!({ "type": "string", "enum": ["catalog", "message", "partner", "product", ""] }), "only one kind of document"),
                q("limit", json!({ "type": "integer", "minimum": 1, "maximum": MAX_LIMIT }), "results, default 20"),
            ],
            "responses": {
                "200": { "description": "hits, best first", "content": { "application/json": { "schema": {
                    "type": "object", "required": ["hits"], "properties": { "hits": { "type": "array", "items": hit } } } } } },
                "400": error_response("bad kind, limit or query syntax"),
                "401": error_response("missing or unknown API key"),
            },
            "security": [{ "bearer": [] }],
        }),
    );
    discover_api::document(&mut f);
    f
}

async fn handle(State(state): State<Arc<SearchState>>, headers: HeaderMap, params: Result<Query<Params>, QueryRejection>) -> Result<Response, ApiError> {
    let Query(params) = params?;
    let tenant = authenticate(&state.tenants, &headers)?.id.clone();
    let kind = match params.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => Some(
            DocKind::parse(k).filter(|k| DocKind::SEARCHABLE.contains(k)).ok_or_else(|| ApiError::bad_request("BAD_QUERY", format!("kind must be catalog, message, partner or product, not {k:?}")))?,
        ),
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => {
            l.parse::<usize>().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| ApiError::bad_request("BAD_QUERY", format!("limit must be an integer in 1..={MAX_LIMIT}, not {l:?}")))?
        }
    };
    let q = params.q.unwrap_or_default();
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, ApiError> {
        let Some(reader) = state.reader()? else {
            return Ok(json!({ "hits": [] }));
        };
        match search(&reader, &tenant, &q, kind, limit) {
            Ok(hits) => Ok(json!({ "hits": hits })),
            Err(e @ SearchError::BadQuery(_)) => Err(ApiError::bad_request("BAD_QUERY", e.to_string())),
            Err(e) => Err(ApiError::internal("the search index could not be queried", &anyhow::anyhow!(e))),
        }
    })
    .await
    .map_err(|e| ApiError::internal("the search task failed", &anyhow::anyhow!(e)))?;
    Ok(Json(result?).into_response())
}
