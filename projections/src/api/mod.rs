//! The owner dashboard's read API (rules S003.10): JSON over HTTP (axum), every route scoped to the
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
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_runtime::api_error::{authenticate, ApiError};
use souk_runtime::http::{Routes, Surface};
use souk_runtime::tenants::Tenants;
use sqlx::PgPool;
use std::sync::Arc;

/// What every handler needs: the read models and the tenant registry.
#[derive(Clone)]
struct ApiState {
    pool: PgPool,
    tenants: Arc<Tenants>,
}

/// The read API's share of the HTTP API (the `read-api` component): routes and documentation.
pub fn surface(pool: PgPool, tenants: Arc<Tenants>) -> Surface {
    Surface { routes: router(pool, tenants), doc: fragment() }
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
        Some(n) if !(1..=MAX_LIMIT).contains(&n) => Err(ApiError::bad_request("BAD_QUERY", format!("limit must be between 1 and {MAX_LIMIT}, not {n}"))),
        other => Ok(other),
    }
}

type ApiResult = Result<Response, ApiError>;

/// The tenant whose owner API key the request presents (the key itself is never logged).
struct TenantId(String);

impl FromRequestParts<ApiState> for TenantId {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<TenantId, ApiError> {
        authenticate(&state.tenants, &parts.headers).map(|t| TenantId(t.id.clone()))
    }
}

fn found<T: serde::Serialize>(value: Option<T>, what: impl FnOnce() -> String) -> ApiResult {
    value.map(|v| Json(v).into_response()).ok_or_else(|| ApiError::not_found("NOT_FOUND", what()))
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
        return Err(ApiError::bad_request("BAD_QUERY", format!("status must be one of {}, not {status:?}", ESCALATION_STATUSES.join(", "))));
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
