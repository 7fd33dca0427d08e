//! The one HTTP app `souk run` serves: the gateway (webhook, owner commands), the read API and the
//! search API merged on one address, plus `GET /openapi.json` describing all of it. Built from
//! [`Routes`] so the route table it serves is known; `tests/http_openapi.rs` compares that table
//! with the document, and `tests/http_schemathesis.rs` fuzzes the running app against it.

use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};
use souk_producers::gateway::{self, GatewayState};
use souk_runtime::api_error::ApiError;
use souk_runtime::http::{refuse_nul, Route, Routes};
use souk_runtime::openapi::{document, error_response, Fragment};
use souk_runtime::tenants::Tenants;
use std::path::PathBuf;
use std::sync::Arc;

/// The merged OpenAPI 3.1 document of every route [`app`] serves.
pub fn openapi() -> Value {
    let mut own = Fragment::default();
    own.operation(
        "/openapi.json",
        "get",
        json!({
            "summary": "This document",
            "responses": { "200": { "description": "OpenAPI 3.1", "content": { "application/json": { "schema": { "type": "object" } } } } },
            "security": [],
        }),
    );
    let mut doc = document(
        "souk HTTP API",
        env!("CARGO_PKG_VERSION"),
        "WhatsApp webhook, owner commands (202 once the event is on Kafka), the tenant-scoped read API and search. Decimals are strings; times are RFC 3339. A NUL character anywhere in a path, query or body is refused with 400.",
        &[own, gateway::openapi_fragment(), souk_projections::api::fragment(), souk_projections::search::search_fragment()],
    );
    // Any route may answer 400 for a NUL character in its path or query (the shared guard).
    for ops in doc["paths"].as_object_mut().into_iter().flat_map(|p| p.values_mut()) {
        for op in ops.as_object_mut().into_iter().flat_map(|o| o.values_mut()) {
            let has_input = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if has_input && op["responses"].get("400").is_none() {
                op["responses"]["400"] = error_response("a NUL character in the path or query");
            }
        }
    }
    doc
}

/// Every route of the app (gateway, read API, search, `/openapi.json`), with the NUL guard and a
/// JSON 404 for unknown paths. Returns the router and the table it serves.
pub fn app(gateway_state: GatewayState, pool: sqlx::PgPool, tenants: Arc<Tenants>, index_dir: PathBuf) -> (Router, Vec<Route>) {
    let own: Routes = Routes::new().get("/openapi.json", || async { Json(openapi()) });
    let (router, table) =
        own.merge(gateway::router(gateway_state)).merge(souk_projections::api::router(pool, tenants.clone())).merge(souk_projections::search::search_router(index_dir, tenants)).into_parts();
    let router = router.fallback(|| async { ApiError::not_found("NOT_FOUND", "no such route").into_response() }).layer(axum::middleware::from_fn(refuse_nul));
    (router, table)
}
