//! What the read API's route tests share: two tenants seeded with plain SQL, the router served on
//! a loopback port, and a client that calls it with either tenant's key.
#![allow(dead_code)]

use serde_json::Value;
use souk_projections::api::router;
use souk_runtime::tenants::{Secret, Tenant, Tenants};
use sqlx::PgPool;
use std::future::Future;
use std::sync::Arc;

/// The served read API.
pub struct Api {
    pub base: String,
    pub http: reqwest::Client,
}

impl Api {
    /// `GET path` with `key` (none: no Authorization header): status and JSON body.
    pub async fn get(&self, path: &str, key: Option<&str>) -> (u16, Value) {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(key) = key {
            req = req.bearer_auth(key);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        (status, res.json().await.expect("a JSON body"))
    }

    /// `GET path` with `key`, which must answer 200.
    pub async fn ok(&self, path: &str, key: &str) -> Value {
        let (status, body) = self.get(path, Some(key)).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

/// A tenant with API key `key` (the other secrets are placeholders the read API never uses).
pub fn tenant(id: &str, number: &str, key: &str) -> Tenant {
    Tenant {
        id: id.into(),
        name: id.into(),
        phone_number_id: number.into(),
        app_secret: Secret::new("s"),
        verify_token: Secret::new("v"),
        api_key: Secret::new(key),
        access_token: Secret::new("t"),
        payments_secret_key: None,
        instagram: None,
        whatsapp_inbox: false,
        staff: vec![],
        rate_limits: None,
        intent_confidence_threshold: None,
    }
}

/// Runs `sql` with `$1` = `tenant`.
pub async fn exec(pool: &PgPool, sql: &str, tenant: &str) {
    sqlx::query(sql).bind(tenant).execute(pool).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Migrates, lets `seed` write the rows of two fresh tenants (A and B, ids unique to this run),
/// and serves the read API for them with keys `key_a` and `key_b`.
pub async fn serve<F, Fut>(tag: &str, key_a: &str, key_b: &str, seed: F) -> Api
where
    F: FnOnce(PgPool, String, String) -> Fut,
    Fut: Future<Output = ()>,
{
    souk_runtime::testkit::require_stack(tag).await;
    let pool = PgPool::connect(&souk_runtime::stack::database_url()).await.expect("postgres");
    souk_projections::migrate(&pool).await.expect("migrate");
    let run = souk_runtime::testkit::unique_prefix(tag).trim_end_matches('.').to_string();
    let (a, b) = (format!("a-{run}"), format!("b-{run}"));
    seed(pool.clone(), a.clone(), b.clone()).await;
    let tenants = Tenants::from_list(vec![tenant(&a, &format!("1{run}"), key_a), tenant(&b, &format!("2{run}"), key_b)]).expect("tenants");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = router(pool, Arc::new(tenants)).into_router();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    Api { base, http: reqwest::Client::new() }
}

/// The sorted keys of a JSON object.
pub fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

/// The `field` of every item of a JSON list.
pub fn ids<'a>(list: &'a Value, field: &str) -> Vec<&'a str> {
    list.as_array().expect("a list").iter().map(|v| v[field].as_str().expect("an id")).collect()
}
