//! The owner dashboard's read API (seed 003.10): JSON over HTTP (axum), every route scoped to the
//! tenant whose owner API key is presented as `Authorization: Bearer <key>`. Reads only — owner
//! commands go through the gateway as events; `GET /v1/commands/{id}` lets a UI poll the outcome.
//! Decimals are JSON strings, times RFC 3339. [`fragment`] is its part of the OpenAPI document the
//! CLI serves at `GET /openapi.json`.

mod openapi;

pub use openapi::{fragment, ESCALATION_STATUSES};

use crate::queries::{self, MessageFilter, OrderFilter, MAX_LIMIT};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_runtime::http::Routes;
use souk_runtime::tenants::Tenants;
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler needs: the read models and the tenant registry.
#[derive(Clone)]
struct ApiState {
    pool: PgPool,
    tenants: Arc<Tenants>,
}

/// The read API's routes (paths are absolute `/v1/...`), state applied, ready to merge.
pub fn router(pool: PgPool, tenants: Arc<Tenants>) -> Routes {
    Routes::new()
        .get("/v1/orders/pending-approval", pending_approvals)
        .get("/v1/orders", list_orders)
        .get("/v1/orders/{order_id}", order_detail)
        .get("/v1/stock", stock)
        .get("/v1/ledger/{customer}", ledger)
        .get("/v1/invoices/{invoice_number}", invoice)
        .get("/v1/escalations", escalations)
        .get("/v1/messages", messages)
        .get("/v1/commands/{command_id}", command_outcome)
        .with_state(ApiState { pool, tenants })
}

/// A page size within the documented `1..=MAX_LIMIT` (absent ⇒ the default); out of range ⇒ 400.
fn page_limit(limit: Option<i64>) -> Result<Option<i64>, ApiError> {
    match limit {
        Some(n) if !(1..=MAX_LIMIT).contains(&n) => Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("limit must be between 1 and {MAX_LIMIT}, not {n}"))),
        other => Ok(other),
    }
}

/// A JSON error body `{"error": code, "message": ...}` with its HTTP status.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into() }
    }
    fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        tracing::error!(error = format!("{e:#}"), "read API query failed");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the read models could not be queried")
    }
}

impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.code, "message": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

type ApiResult = Result<Response, ApiError>;

/// The tenant whose owner API key the request presents (the key itself is never logged).
struct TenantId(String);

impl FromRequestParts<ApiState> for TenantId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<TenantId, ApiError> {
        let unauthorized = |m: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", m);
        let value = parts.headers.get(header::AUTHORIZATION).ok_or_else(|| unauthorized("missing Authorization: Bearer <api key>"))?;
        let key = value
            .to_str()
            .ok()
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, key)| key.trim())
            .filter(|key| !key.is_empty())
            .ok_or_else(|| unauthorized("the Authorization header is not Bearer <api key>"))?;
        state.tenants.by_api_key(key).map(|t| TenantId(t.id.clone())).ok_or_else(|| unauthorized("unknown API key"))
    }
}

fn found<T: serde::Serialize>(value: Option<T>, what: impl FnOnce() -> String) -> ApiResult {
    value.map(|v| Json(v).into_response()).ok_or_else(|| ApiError::not_found(what()))
}

async fn pending_approvals(State(s): State<ApiState>, TenantId(tenant): TenantId) -> ApiResult {
    let orders = queries::pending_approvals(&s.pool, &tenant).await?;
    Ok(Json(json!({ "orders": orders })).into_response())
}

/// Query of `GET /v1/orders`.
#[derive(Debug, Deserialize)]
struct OrdersQuery {
    state: Option<String>,
    customer: Option<String>,
    limit: Option<i64>,
}

async fn list_orders(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<OrdersQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let filter = OrderFilter { state: q.state, customer: q.customer, limit: page_limit(q.limit)? };
    let orders = queries::orders(&s.pool, &tenant, &filter).await?;
    Ok(Json(json!({ "orders": orders })).into_response())
}

async fn order_detail(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(order_id): Path<String>) -> ApiResult {
    found(queries::order_detail(&s.pool, &tenant, &order_id).await?, || format!("no order {order_id}"))
}

async fn stock(State(s): State<ApiState>, TenantId(tenant): TenantId) -> ApiResult {
    Ok(Json(queries::stock(&s.pool, &tenant).await?).into_response())
}

async fn ledger(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(customer): Path<String>) -> ApiResult {
    let ledger = queries::ledger(&s.pool, &tenant, &customer).await?;
    let known = ledger.balance.is_some() || !ledger.entries.is_empty() || !ledger.payments.is_empty();
    found(known.then_some(ledger), || format!("no ledger for customer {customer}"))
}

async fn invoice(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(number): Path<String>) -> ApiResult {
    found(queries::invoice_by_number(&s.pool, &tenant, &number).await?, || format!("no invoice {number}"))
}

/// Query of `GET /v1/escalations`.
#[derive(Debug, Deserialize)]
struct EscalationsQuery {
    status: Option<String>,
}

async fn escalations(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<EscalationsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(status) = q.status.as_deref().filter(|s| !ESCALATION_STATUSES.contains(s)) {
        return Err(ApiError::new(StatusCode::BAD_REQUEST, "bad_request", format!("status must be one of {}, not {status:?}", ESCALATION_STATUSES.join(", "))));
    }
    let escalations = queries::escalations(&s.pool, &tenant, q.status.as_deref()).await?;
    Ok(Json(json!({ "escalations": escalations })).into_response())
}

/// Query of `GET /v1/messages`.
#[derive(Debug, Deserialize)]
struct MessagesQuery {
    customer: Option<String>,
    order_id: Option<String>,
    limit: Option<i64>,
}

async fn messages(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<MessagesQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let filter = MessageFilter { customer: q.customer, order_id: q.order_id, limit: page_limit(q.limit)? };
    let messages = queries::messages(&s.pool, &tenant, &filter).await?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn command_outcome(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(command_id): Path<String>) -> ApiResult {
    found(queries::command_outcome(&s.pool, &tenant, &command_id).await?, || format!("no outcome for command {command_id} yet"))
}
