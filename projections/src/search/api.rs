//! `GET /v1/search?q=&kind=&limit=`: the owner's search over their catalog and conversations.
//! The owner API key (`Authorization: Bearer <key>`) decides the tenant, so a caller only ever
//! sees their own documents. The index is opened read-only, lazily (the sink may create it after
//! the API starts: until then results are empty), with a reader that reloads on every commit.

use super::query::{search, SearchError, MAX_LIMIT};
use super::schema::{open_existing, DocKind};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_runtime::http::Routes;
use souk_runtime::openapi::{error_response, Fragment};
use souk_runtime::tenants::Tenants;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use tantivy::{IndexReader, ReloadPolicy};

/// Results per page when `limit` is absent.
pub const DEFAULT_LIMIT: usize = 20;

struct SearchState {
    index_dir: PathBuf,
    tenants: Arc<Tenants>,
    reader: Mutex<Option<IndexReader>>,
}

impl SearchState {
    /// The shared reader, opened on first use once the index exists.
    fn reader(&self) -> anyhow::Result<Option<IndexReader>> {
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

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

/// The search API as a router (merged into the gateway's); `index_dir` is the search sink's
/// index directory, `tenants` maps API keys to tenants.
pub fn search_router(index_dir: PathBuf, tenants: Arc<Tenants>) -> Routes {
    let state = Arc::new(SearchState { index_dir, tenants, reader: Mutex::new(None) });
    Routes::new().get("/v1/search", handle).with_state(state)
}

/// `GET /v1/search` in the OpenAPI document.
pub fn search_fragment() -> Fragment {
    let q = |name: &str, schema: serde_json::Value, description: &str| json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description });
    let hit = json!({ "type": "object", "required": ["kind", "doc_id", "score"], "properties": {
        "kind": { "enum": ["catalog", "message"] }, "doc_id": { "type": "string" }, "score": { "type": "number" } } });
    let mut f = Fragment::default();
    f.operation(
        "/v1/search",
        "get",
        json!({
            "summary": "Search the tenant's catalog and WhatsApp conversations (tantivy query syntax)",
            "parameters": [
                q("q", json!({ "type": "string", "pattern": "^[^\\u0000]*$" }), "query text; empty lists the most recent documents"),
                q("kind", json!({ "type": "string", "enum": ["catalog", "message", ""] }), "only catalog items or only messages"),
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
    f
}

async fn handle(State(state): State<Arc<SearchState>>, headers: HeaderMap, params: Result<Query<Params>, QueryRejection>) -> Response {
    let Ok(Query(params)) = params.map_err(|e| e.body_text()) else {
        return error(StatusCode::BAD_REQUEST, "malformed query string");
    };
    let key = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer ")).map(str::trim);
    let Some(tenant) = key.and_then(|k| state.tenants.by_api_key(k)).map(|t| t.id.clone()) else {
        return error(StatusCode::UNAUTHORIZED, "missing or unknown API key (Authorization: Bearer <key>)");
    };
    let kind = match params.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(k) => match DocKind::parse(k) {
            Some(kind) => Some(kind),
            None => return error(StatusCode::BAD_REQUEST, format!("kind must be catalog or message, not {k:?}")),
        },
    };
    let limit = match params.limit.as_deref() {
        None => DEFAULT_LIMIT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return error(StatusCode::BAD_REQUEST, format!("limit must be an integer in 1..={MAX_LIMIT}, not {l:?}")),
        },
    };
    let q = params.q.unwrap_or_default();
    let result = tokio::task::spawn_blocking(move || -> Result<serde_json::Value, (StatusCode, String)> {
        let reader = state.reader().map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
        let Some(reader) = reader else {
            return Ok(json!({ "hits": [] }));
        };
        match search(&reader, &tenant, &q, kind, limit) {
            Ok(hits) => Ok(json!({ "hits": hits })),
            Err(e @ SearchError::BadQuery(_)) => Err((StatusCode::BAD_REQUEST, e.to_string())),
            Err(e) => Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())),
        }
    })
    .await;
    match result {
        Ok(Ok(body)) => Json(body).into_response(),
        Ok(Err((status, message))) => error(status, message),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, format!("search task: {e}")),
    }
}
