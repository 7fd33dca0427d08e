//! The OpenAPI document served at `/openapi.json` against the routes the app really serves: the
//! app's route table (every route is registered through `souk_runtime::http::Routes`) must equal
//! the documented `(method, path)` set, every documented operation must be answered by its handler
//! (not the fallback, not 405), and every other method on a documented path must be a 405.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use souk_producers::gateway::{GatewayState, KafkaPublisher, NoOrderDirectory};
use souk_runtime::http::Route;
use souk_runtime::openapi::documented_routes;
use souk_runtime::tenants::Tenants;
use souk_runtime::topology::Topology;
use std::collections::BTreeSet;
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> souk::http::App {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/topology.toml")).expect("topology.toml");
    let topology = Topology::parse(&text, "").expect("topology");
    let catalog = souk_schemas::Catalog::builtin().expect("catalog");
    // Nothing here reaches a broker, registry or database: every probe is refused before that.
    let codec = Arc::new(souk_runtime::stack::codec_for(&topology, &catalog, "http://127.0.0.1:9").expect("codec"));
    let publisher = Arc::new(KafkaPublisher::connect("127.0.0.1:9", codec, &topology).expect("publisher"));
    let pool = sqlx::postgres::PgPoolOptions::new().connect_lazy("postgres://nobody@127.0.0.1:9/none").expect("lazy pool");
    let tenants = Arc::new(Tenants::from_list(Vec::new()).expect("tenants"));
    let state = GatewayState::new(tenants.clone(), publisher, Arc::new(NoOrderDirectory));
    let index_dir = std::env::temp_dir().join("souk-openapi-test-index");
    souk::http::app(vec![souk_producers::gateway::surface(state), souk_projections::api::surface(pool, tenants.clone()), souk_projections::search::search_surface(index_dir, tenants)])
}

async fn call(router: &axum::Router, method: &str, path: &str) -> (StatusCode, String) {
    let request = Request::builder().method(method).uri(path).header("content-type", "application/json").body(Body::from("{}")).expect("request");
    let response = router.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_document_lists_exactly_the_served_routes() {
    let app = app();
    let table = &app.routes;
    let served: BTreeSet<Route> = table.iter().cloned().collect();
    assert_eq!(served.len(), table.len(), "a route is registered twice: {table:?}");
    let documented = documented_routes(&app.openapi);
    let undocumented: Vec<String> = served.difference(&documented).map(Route::to_string).collect();
    let unserved: Vec<String> = documented.difference(&served).map(Route::to_string).collect();
    assert!(undocumented.is_empty() && unserved.is_empty(), "served but not documented: {undocumented:?}; documented but not served: {unserved:?}");
    for must in ["POST /webhooks/whatsapp", "POST /v1/orders/{order_id}/approve", "PUT /v1/settings", "GET /v1/search", "GET /openapi.json"] {
        assert!(served.iter().any(|r| r.to_string() == must), "{must} is served");
    }
}

#[tokio::test]
async fn every_documented_operation_reaches_its_handler_and_other_methods_are_405() {
    let souk::http::App { router, openapi: doc, .. } = app();
    let documented = documented_routes(&doc);
    let paths: BTreeSet<&str> = documented.iter().map(|r| r.path.as_str()).collect();
    for path in paths {
        let concrete = path.replace('{', "x").replace('}', "");
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            let (status, body) = call(&router, method, &concrete).await;
            if documented.contains(&Route { method: method.into(), path: path.into() }) {
                assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete}: {body}");
                assert!(!body.contains("no such route"), "{method} {concrete} fell through to the fallback: {body}");
                let code = status.as_str();
                let responses = &doc["paths"][path][method.to_lowercase()]["responses"];
                assert!(responses.get(code).is_some(), "{method} {path} answered {code}, which the document does not list: {body}");
            } else {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {concrete} is not documented, so it must not be served: {body}");
            }
        }
    }
    let (status, body) = call(&router, "GET", "/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = call(&router, "GET", "/v1/orders?customer=a%00b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "a NUL in the query is refused at the edge");
}

#[tokio::test]
async fn one_surface_alone_serves_and_documents_only_its_routes() {
    // What `souk run --only search-api` serves: search, discovery and the document, nothing of the
    // gateway (setting the weights is a gateway command).
    let tenants = Arc::new(Tenants::from_list(Vec::new()).expect("tenants"));
    let app = souk::http::app(vec![souk_projections::search::search_surface(std::env::temp_dir().join("souk-openapi-test-index"), tenants)]);
    let documented: Vec<String> = documented_routes(&app.openapi).iter().map(Route::to_string).collect();
    assert_eq!(documented, ["GET /openapi.json", "GET /v1/discover", "GET /v1/ranking/config", "GET /v1/search"]);
    let (status, body) = call(&app.router, "GET", "/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).expect("json"), app.openapi, "the served document is the app's");
    let (status, body) = call(&app.router, "POST", "/webhooks/whatsapp").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "the gateway is not part of this app: {body}");
}
