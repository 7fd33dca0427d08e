//! The owner dashboard's read API (rules S003.10): JSON over HTTP (axum), every route scoped to the
//! tenant whose owner API key is presented as `Authorization: Bearer <key>`. Reads only — owner
//! commands go through the gateway as events; `GET /v1/commands/{id}` lets a UI poll the outcome.
//! Besides commerce it serves system 2's partners, products, bundles and negotiations.
//! Decimals are JSON strings, times RFC 3339. [`fragment`] is its part of the OpenAPI document the
//! CLI serves at `GET /openapi.json`.

mod openapi;
mod products;
mod rules;
mod social;

pub use openapi::{fragment, ESCALATION_PRIORITIES, ESCALATION_STATUSES, NEGOTIATION_STATUSES};

use crate::queries::{self, MessageFilter, NegotiationFilter, OrderFilter, ProductFilter, MAX_LIMIT};
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
    /// Wake-ups of the notification streams.
    wakeups: Arc<social::Wakeups>,
}

/// The role every read runs as (`migrations/0017_row_level_security.sql`): row-level security
/// shows it only the rows of the tenant the transaction names.
pub const READER_ROLE: &str = "souk_reader";
/// The transaction setting naming the tenant a read is for.
pub const TENANT_SETTING: &str = "souk.tenant";

/// A read transaction for `tenant` (rules PR4): it runs as [`READER_ROLE`] with [`TENANT_SETTING`]
/// set for this transaction only, so Postgres itself — not only each query's `WHERE` — keeps other
/// tenants' rows out. One repeatable-read, read-only snapshot, so a read of several tables sees
/// them as of one moment; rolled back when dropped (reads change nothing).
pub async fn scoped(pool: &PgPool, tenant: &str) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    use anyhow::Context;
    let mut tx = pool.begin().await.context("starting a read")?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await.context("a consistent read")?;
    sqlx::query(&format!("SET LOCAL ROLE {READER_ROLE}")).execute(&mut *tx).await.context("switching to the reader role")?;
    sqlx::query("SELECT set_config($1, $2, true)").bind(TENANT_SETTING).bind(tenant).execute(&mut *tx).await.context("naming the read's tenant")?;
    Ok(tx)
}

impl ApiState {
    /// [`scoped`] on the read models.
    async fn scoped(&self, tenant: &str) -> anyhow::Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        scoped(&self.pool, tenant).await
    }
}

/// The read API's share of the HTTP API (the `read-api` component): routes and documentation.
pub fn surface(pool: PgPool, tenants: Arc<Tenants>) -> Surface {
    Surface { routes: router(pool, tenants), doc: fragment(), audit: None }
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
        .get("/v1/partners", partners)
        .get("/v1/partners/{partner_id}", partner_detail)
        .get("/v1/products", products)
        .get("/v1/bundles/{bundle_id}", bundle_detail)
        .get("/v1/bundles/{bundle_id}/checkout", bundle_checkout)
        .get("/v1/negotiations", negotiations)
        .get("/v1/negotiations/{negotiation_id}", negotiation_detail)
        .get("/v1/standing-intents", standing_intents)
        .get("/v1/standing-intents/{intent_id}", standing_intent)
        .get("/v1/standing-intents/{intent_id}/progress", intent_progress)
        .get("/v1/conversations", social::conversations)
        .get("/v1/conversations/{conversation_id}", social::conversation)
        .get("/v1/conversations/{conversation_id}/export", social::export)
        .get("/v1/replies", social::replies)
        .get("/v1/notifications", social::notifications)
        .get("/v1/notifications/stream", social::stream)
        .get("/v1/inventory/products", products::products)
        .get("/v1/inventory/products/{product_id}", products::product)
        .get("/v1/inventory/movements", products::movements)
        .get("/v1/rules", rules::rules)
        .get("/v1/rules/{rule_id}", rules::rule)
        .get("/console", crate::console::page)
        .get("/console/console.js", crate::console::script)
        .get("/console/console.css", crate::console::style)
        // Staff roles (rules AU1): 403 before a handler when the key's role lacks the read's permission.
        .map_router({
            let tenants = tenants.clone();
            move |r| r.route_layer(axum::middleware::from_fn_with_state(tenants, souk_runtime::permissions::authorize))
        })
        .with_state(ApiState { pool, tenants, wakeups: social::wakeups() })
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

/// The shared error response of the OpenAPI document.
fn openapi_error(description: &str) -> serde_json::Value {
    souk_runtime::openapi::error_response(description)
}

fn found<T: serde::Serialize>(value: Option<T>, what: impl FnOnce() -> String) -> ApiResult {
    value.map(|v| Json(v).into_response()).ok_or_else(|| ApiError::not_found("NOT_FOUND", what()))
}

async fn pending_approvals(State(s): State<ApiState>, TenantId(tenant): TenantId) -> ApiResult {
    let orders = queries::pending_approvals(&mut *s.scoped(&tenant).await?, &tenant).await?;
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
    let orders = queries::orders(&mut *s.scoped(&tenant).await?, &tenant, &filter).await?;
    Ok(Json(json!({ "orders": orders })).into_response())
}

async fn order_detail(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(order_id): Path<String>) -> ApiResult {
    found(queries::order_detail(&mut *s.scoped(&tenant).await?, &tenant, &order_id).await?, || format!("no order {order_id}"))
}

async fn stock(State(s): State<ApiState>, TenantId(tenant): TenantId) -> ApiResult {
    Ok(Json(queries::stock(&mut *s.scoped(&tenant).await?, &tenant).await?).into_response())
}

async fn ledger(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(customer): Path<String>) -> ApiResult {
    let ledger = queries::ledger(&mut *s.scoped(&tenant).await?, &tenant, &customer).await?;
    let known = ledger.balance.is_some() || !ledger.entries.is_empty() || !ledger.payments.is_empty();
    found(known.then_some(ledger), || format!("no ledger for customer {customer}"))
}

async fn invoice(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(number): Path<String>) -> ApiResult {
    found(queries::invoice_by_number(&mut *s.scoped(&tenant).await?, &tenant, &number).await?, || format!("no invoice {number}"))
}

/// Query of `GET /v1/escalations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EscalationsQuery {
    status: Option<String>,
    kind: Option<String>,
    priority: Option<String>,
}

async fn escalations(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<EscalationsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(status) = q.status.as_deref().filter(|s| !ESCALATION_STATUSES.contains(s)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("status must be one of {}, not {status:?}", ESCALATION_STATUSES.join(", "))));
    }
    if let Some(priority) = q.priority.as_deref().filter(|p| !ESCALATION_PRIORITIES.contains(p)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("priority must be one of {}, not {priority:?}", ESCALATION_PRIORITIES.join(", "))));
    }
    let filter = queries::EscalationFilter { status: q.status.as_deref(), kind: q.kind.as_deref(), priority: q.priority.as_deref() };
    let escalations = queries::escalations(&mut *s.scoped(&tenant).await?, &tenant, &filter).await?;
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
    let messages = queries::messages(&mut *s.scoped(&tenant).await?, &tenant, &filter).await?;
    Ok(Json(json!({ "messages": messages })).into_response())
}

async fn command_outcome(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(command_id): Path<String>) -> ApiResult {
    found(queries::command_outcome(&mut *s.scoped(&tenant).await?, &tenant, &command_id).await?, || format!("no outcome for command {command_id} yet"))
}

async fn partners(State(s): State<ApiState>, TenantId(tenant): TenantId) -> ApiResult {
    let partners = queries::partners(&mut *s.scoped(&tenant).await?, &tenant).await?;
    Ok(Json(json!({ "partners": partners })).into_response())
}

async fn partner_detail(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(partner_id): Path<String>) -> ApiResult {
    found(queries::partner_detail(&mut *s.scoped(&tenant).await?, &tenant, &partner_id).await?, || format!("no partner {partner_id}"))
}

/// Query of `GET /v1/products`.
#[derive(Debug, Deserialize)]
struct ProductsQuery {
    partner_id: Option<String>,
    capability: Option<String>,
}

async fn products(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<ProductsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    let products = queries::products(&mut *s.scoped(&tenant).await?, &tenant, &ProductFilter { partner_id: q.partner_id, capability: q.capability }).await?;
    Ok(Json(json!({ "products": products })).into_response())
}

async fn bundle_detail(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(bundle_id): Path<String>) -> ApiResult {
    found(queries::bundle_detail(&mut *s.scoped(&tenant).await?, &tenant, &bundle_id).await?, || format!("no bundle {bundle_id}"))
}

/// `GET /v1/bundles/{bundle_id}/checkout`: the bundle's latest checkout; 404 `NO_CHECKOUT` while
/// it has none (or the tenant has no such bundle).
async fn bundle_checkout(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(bundle_id): Path<String>) -> ApiResult {
    let checkout = queries::bundle_checkout(&mut *s.scoped(&tenant).await?, &tenant, &bundle_id).await?;
    checkout.map(|c| Json(c).into_response()).ok_or_else(|| ApiError::not_found("NO_CHECKOUT", format!("bundle {bundle_id} has no checkout")))
}

/// Query of `GET /v1/negotiations`.
#[derive(Debug, Deserialize)]
struct NegotiationsQuery {
    bundle_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

async fn negotiations(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<NegotiationsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(status) = q.status.as_deref().filter(|s| !NEGOTIATION_STATUSES.contains(s)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("status must be one of {}, not {status:?}", NEGOTIATION_STATUSES.join(", "))));
    }
    let filter = NegotiationFilter { bundle_id: q.bundle_id, status: q.status, limit: page_limit(q.limit)? };
    let negotiations = queries::negotiations(&mut *s.scoped(&tenant).await?, &tenant, &filter).await?;
    Ok(Json(json!({ "negotiations": negotiations })).into_response())
}

async fn negotiation_detail(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(negotiation_id): Path<String>) -> ApiResult {
    found(queries::negotiation_detail(&mut *s.scoped(&tenant).await?, &tenant, &negotiation_id).await?, || format!("no negotiation {negotiation_id}"))
}

/// The statuses of a standing intent (rules SI1).
pub const INTENT_STATUSES: [&str; 5] = ["active", "waiting_approval", "executing", "completed", "cancelled"];

/// Query of `GET /v1/standing-intents`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IntentsQuery {
    user_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
}

async fn standing_intents(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<IntentsQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(status) = q.status.as_deref().filter(|s| !INTENT_STATUSES.contains(s)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("status must be one of {}, not {status:?}", INTENT_STATUSES.join(", "))));
    }
    let filter = queries::IntentFilter { user_id: q.user_id, status: q.status, limit: page_limit(q.limit)? };
    Ok(Json(json!({ "standing_intents": queries::standing_intents(&mut *s.scoped(&tenant).await?, &tenant, &filter).await? })).into_response())
}

fn unknown_intent(intent_id: &str) -> ApiError {
    ApiError::not_found("UNKNOWN_STANDING_INTENT", format!("no standing intent {intent_id}"))
}

async fn standing_intent(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(intent_id): Path<String>) -> ApiResult {
    let intent = queries::standing_intent(&mut *s.scoped(&tenant).await?, &tenant, &intent_id).await?.ok_or_else(|| unknown_intent(&intent_id))?;
    Ok(Json(intent).into_response())
}

/// Query of `GET /v1/standing-intents/{intent_id}/progress`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProgressQuery {
    log_type: Option<String>,
}

async fn intent_progress(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(intent_id): Path<String>, q: Result<Query<ProgressQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(t) = q.log_type.as_deref().filter(|t| !queries::LEDGER_LOG_TYPES.contains(t)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("log_type must be one of {}, not {t:?}", queries::LEDGER_LOG_TYPES.join(", "))));
    }
    // Known by its snapshot, as on `GET /v1/standing-intents/{intent_id}`: ledger rows alone
    // (their snapshot not projected yet) are not an intent.
    if !queries::standing_intent_exists(&mut *s.scoped(&tenant).await?, &tenant, &intent_id).await? {
        return Err(unknown_intent(&intent_id));
    }
    let entries = queries::intent_progress(&mut *s.scoped(&tenant).await?, &tenant, &intent_id, q.log_type.as_deref()).await?;
    Ok(Json(json!({ "intent_id": intent_id, "entries": entries })).into_response())
}
