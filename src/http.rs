//! The one HTTP app a `souk run` serves: the [`Surface`]s of the components it runs (the gateway's
//! webhook and owner commands, the read API, search) merged on one address, plus
//! `GET /openapi.json` describing exactly those routes. `tests/http_openapi.rs` compares the served
//! route table with the document, and `tests/http_schemathesis.rs` fuzzes the running app against it.

use anyhow::Context;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde_json::{json, Value};
use souk_runtime::api_error::ApiError;
use souk_runtime::http::{refuse_nul, Route, Routes, Surface};
use souk_runtime::openapi::{document, error_response, Fragment};
use std::net::SocketAddr;
use tokio::sync::watch;

/// The served app: its router, the routes it serves and the document describing them.
pub struct App {
    /// Every route, with the NUL guard and a JSON 404 for unknown paths.
    pub router: Router,
    /// `(method, path)` of every route, `/openapi.json` included.
    pub routes: Vec<Route>,
    /// The OpenAPI 3.1 document served at `/openapi.json`.
    pub openapi: Value,
}

/// `surfaces` merged into one app with its own `/openapi.json`.
pub fn app(surfaces: Vec<Surface>) -> App {
    let mut fragments = vec![own_fragment()];
    fragments.extend(surfaces.iter().map(|s| s.doc.clone()));
    let openapi = openapi(&fragments);
    let served = openapi.clone();
    let auditor = surfaces.iter().find_map(|s| s.audit.clone());
    let mut routes: Routes = Routes::new().get("/openapi.json", move || {
        let doc = served.clone();
        async move { Json(doc) }
    });
    for surface in surfaces {
        routes = routes.merge(surface.routes);
    }
    let (router, routes) = routes.into_parts();
    let mut router = router.fallback(|| async { ApiError::not_found("NOT_FOUND", "no such route").into_response() });
    // Every key presented to any surface is audited (rules AU3), when a surface publishes attempts.
    if let Some(auditor) = auditor {
        router = router.layer(axum::middleware::from_fn_with_state(auditor, souk_runtime::auth_audit::audit));
    }
    let router = router.layer(axum::middleware::from_fn(refuse_nul));
    App { router, routes, openapi }
}

/// Binds `addr` and serves `surfaces` until `shutdown` turns true; returns the bound address (port
/// 0 picks one) and the serving task.
pub async fn serve(addr: &str, surfaces: Vec<Surface>, mut shutdown: watch::Receiver<bool>) -> anyhow::Result<(SocketAddr, impl std::future::Future<Output = anyhow::Result<()>>)> {
    let App { router, routes, .. } = app(surfaces);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding the HTTP API to {addr} (--http-addr / SOUK_HTTP_ADDR)"))?;
    let bound = listener.local_addr()?;
    tracing::info!(addr = %bound, routes = routes.len(), "HTTP API: {}", routes.iter().map(Route::to_string).collect::<Vec<_>>().join(", "));
    let task = async move {
        // The peer address reaches handlers and the auth audit (ConnectInfo).
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move {
                let _ = shutdown.wait_for(|s| *s).await;
            })
            .await
            .context("HTTP server")
    };
    Ok((bound, task))
}

/// `GET /openapi.json` itself.
fn own_fragment() -> Fragment {
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
    own
}

/// The merged OpenAPI 3.1 document of `fragments`.
fn openapi(fragments: &[Fragment]) -> Value {
    let mut doc = document(
        "souk HTTP API",
        env!("CARGO_PKG_VERSION"),
        "The routes of the components this souk serves: WhatsApp webhook and owner commands (202 once the event is on Kafka), the tenant-scoped read API and search. Decimals are strings; times are RFC 3339. A NUL character anywhere in a path, query or body is refused with 400.",
        fragments,
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
