//! `GET /v1/search?q=&kind=&limit=`: the owner's search over their catalog and conversations.
//! The owner API key (`Authorization: Bearer <key>`) decides the tenant, so a caller only ever
//! sees their own documents. The index is opened read-only, lazily (the sink may create it after
//! the API starts: until then results are empty), with a reader that reloads on every commit.

use super::query::{search, SearchError, MAX_LIMIT};
use super::schema::{open_existing, DocKind};
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
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
                let reader: IndexReader = index
                    .reader_builder()
                    .reload_policy(ReloadPolicy::OnCommitWithDelay)
                    .try_into()
                    .map_err(|e| anyhow::anyhow!("search index reader: {e}"))?;
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
pub fn search_router(index_dir: PathBuf, tenants: Arc<Tenants>) -> Router {
    let state = Arc::new(SearchState { index_dir, tenants, reader: Mutex::new(None) });
    Router::new().route("/v1/search", get(handle)).with_state(state)
}

async fn handle(State(state): State<Arc<SearchState>>, headers: HeaderMap, Query(params): Query<Params>) -> Response {
    let key = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
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
    let limit = match params.limit.as_deref().filter(|l| !l.is_empty()) {
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
