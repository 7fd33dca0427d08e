//! Owner commands: authenticated with the tenant's API key (`Authorization: Bearer <key>`),
//! strictly parsed (`deny_unknown_fields`), validated, and published as one event each. Answered
//! `202 {"command_id", "status": "accepted"}` once the broker acknowledged the event; the command's
//! effect (approved? rejected?) is reported later by the processors (`CommandOutcome`).
//!
//! The event id is `UUIDv5("<tenant>/cmd/<command_id>")`: a client that retries with the same
//! `command_id` produces the same event, deduplicated downstream.

use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{amount, decimal, ident, invalid, name, opt_decimal, opt_ident, refuse_nul, METERS_SCALE, MONEY_SCALE};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;
use souk_runtime::tenants::Tenant;
use souk_schemas::billing::{PaymentRecorded, TenantSettingsChanged};
use souk_schemas::envelope::SOUK_ID_NAMESPACE;
use souk_schemas::inventory::{BatchReceived, CatalogItemUpserted};
use souk_schemas::key::{CustomerKey, PoolKey};
use souk_schemas::orders::OwnerDecision;
use souk_schemas::Envelope;
use uuid::Uuid;

/// Body of approve/reject (optional as a whole).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    reason: Option<String>,
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of `POST /v1/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PaymentBody {
    payment_id: String,
    customer: String,
    #[serde(deserialize_with = "decimal")]
    amount: Decimal,
    method: Option<String>,
    reference: Option<String>,
    command_id: Option<String>,
}

/// Body of `PUT /v1/catalog/{material}/{color}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogBody {
    #[serde(deserialize_with = "decimal")]
    price_per_meter: Decimal,
    #[serde(default)]
    aliases: Vec<String>,
    command_id: Option<String>,
}

/// Body of `POST /v1/stock`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StockBody {
    batch_id: String,
    material: String,
    color: String,
    dye_lot: Option<String>,
    rolls: i32,
    #[serde(deserialize_with = "decimal")]
    meters_per_roll: Decimal,
    #[serde(deserialize_with = "decimal")]
    loose_meters: Decimal,
    #[serde(default, deserialize_with = "opt_decimal")]
    price_per_meter: Option<Decimal>,
    received_at: Option<String>,
    command_id: Option<String>,
}

/// Body of `PUT /v1/settings`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SettingsBody {
    #[serde(deserialize_with = "decimal")]
    gst_rate: Decimal,
    reminder_days: i32,
    command_id: Option<String>,
}

/// The tenant whose API key is in `Authorization: Bearer <key>` (the key is never logged).
fn authenticate<'s>(state: &'s GatewayState, headers: &HeaderMap) -> Result<&'s Tenant, ApiError> {
    souk_runtime::api_error::authenticate(&state.tenants, headers)
}

/// Reads and strictly parses a JSON body; `optional` bodies may be empty.
pub(super) fn parse<T: DeserializeOwned>(body: Result<Bytes, BytesRejection>, optional: bool) -> Result<T, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    // An optional body may be absent (no bytes); whitespace alone is not JSON.
    let text: &[u8] = if optional && body.is_empty() { b"{}" } else { &body };
    let json: serde_json::Value = serde_json::from_slice(text).map_err(|e| ApiError::bad_request("MALFORMED_BODY", e.to_string()))?;
    if !json.is_object() {
        // serde would read a struct from an array too; every command body is a JSON object.
        return Err(ApiError::bad_request("MALFORMED_BODY", "the body must be a JSON object"));
    }
    refuse_nul(&json)?;
    serde_path_to_error::deserialize(json).map_err(|e| {
        let path = e.path().to_string();
        let reason = if path == "." { e.inner().to_string() } else { format!("{path}: {}", e.inner()) };
        ApiError::bad_request("MALFORMED_BODY", reason)
    })
}

/// The client's `command_id` (validated) or, when absent, `fallback()`.
pub(super) fn command_id(given: Option<&str>, fallback: impl FnOnce() -> String) -> Result<String, ApiError> {
    Ok(opt_ident("command_id", given)?.unwrap_or_else(fallback))
}

pub(super) fn fresh() -> String {
    Uuid::new_v4().to_string()
}

/// The authenticated tenant and the request time (the event's source time).
pub(super) fn begin<'s>(state: &'s GatewayState, headers: &HeaderMap) -> Result<(&'s str, i64), ApiError> {
    let tenant = authenticate(state, headers)?;
    Ok((&tenant.id, (state.clock)()))
}

/// Publishes a command's one event and returns its `command_id` once acknowledged.
async fn finish(state: &GatewayState, tenant: &str, (command_id, record): (String, Publish)) -> Result<String, ApiError> {
    state.publish(vec![record]).await?;
    tracing::info!(tenant, command_id, "owner command accepted");
    Ok(command_id)
}

fn answer(result: Result<String, ApiError>) -> Response {
    match result {
        Ok(command_id) => (StatusCode::ACCEPTED, Json(json!({ "command_id": command_id, "status": "accepted" }))).into_response(),
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "owner command refused");
            e.into_response()
        }
    }
}

pub(super) fn envelope(tenant: &str, command_id: &str, now_ms: i64) -> Envelope {
    Envelope::external(tenant, &format!("cmd/{command_id}"), now_ms)
}

/// The `OwnerDecision` for an order, keyed by the order's customer.
async fn decision_event(state: &GatewayState, tenant: &str, now_ms: i64, order_id: &str, decision: &str, body: DecisionBody) -> Result<(String, Publish), ApiError> {
    let order_id = ident("order_id", order_id)?;
    let command_id = command_id(body.command_id.as_deref(), fresh)?;
    let actor = opt_ident("actor", body.actor.as_deref())?;
    let customer = state
        .orders
        .customer_of(tenant, &order_id)
        .await
        .map_err(|e| ApiError::unavailable(format!("order lookup failed: {e:#}")))?
        .ok_or_else(|| ApiError::not_found("UNKNOWN_ORDER", format!("no order {order_id}")))?;
    let event = OwnerDecision {
        envelope: envelope(tenant, &command_id, now_ms),
        command_id: command_id.clone(),
        order_id,
        customer: customer.clone(),
        decision: decision.to_string(),
        actor,
        reason: body.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
    };
    Ok((command_id, Publish::new(CustomerKey::of(tenant, &customer), GatewayEvent::OwnerDecision(event))))
}

async fn decide(state: GatewayState, order_id: String, decision: &str, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    answer(
        async {
            let (tenant, now) = begin(&state, &headers)?;
            let event = decision_event(&state, tenant, now, &order_id, decision, parse(body, true)?).await?;
            finish(&state, tenant, event).await
        }
        .await,
    )
}

/// Runs a command whose event depends only on its body: authenticate, parse, build, publish.
async fn simple<B: DeserializeOwned>(
    state: GatewayState,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
    build: impl FnOnce(&str, i64, B) -> Result<(String, Publish), ApiError>,
) -> Response {
    answer(
        async {
            let (tenant, now) = begin(&state, &headers)?;
            let event = build(tenant, now, parse(body, false)?)?;
            finish(&state, tenant, event).await
        }
        .await,
    )
}

/// `POST /v1/orders/{order_id}/approve`.
pub async fn approve(State(state): State<GatewayState>, Path(order_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(state, order_id, "APPROVE", headers, body).await
}

/// `POST /v1/orders/{order_id}/reject`.
pub async fn reject(State(state): State<GatewayState>, Path(order_id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    decide(state, order_id, "REJECT", headers, body).await
}

/// `POST /v1/payments`: the default `command_id` derives from `payment_id`, so a retried POST
/// is the same event.
pub async fn payment(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    simple(state, headers, body, |tenant, now_ms, b: PaymentBody| {
        let payment_id = ident("payment_id", &b.payment_id)?;
        let customer = ident("customer", &b.customer)?;
        let command_id = command_id(b.command_id.as_deref(), || Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("payment/{payment_id}").as_bytes()).to_string())?;
        let event = PaymentRecorded {
            envelope: envelope(tenant, &command_id, now_ms),
            payment_id,
            customer: customer.clone(),
            amount: amount("amount", b.amount, MONEY_SCALE, true)?,
            method: opt_ident("method", b.method.as_deref())?,
            reference: opt_ident("reference", b.reference.as_deref())?,
        };
        Ok((command_id, Publish::new(CustomerKey::of(tenant, &customer), GatewayEvent::Payment(event))))
    })
    .await
}

/// `PUT /v1/catalog/{material}/{color}`: material, color and aliases are normalized (trimmed,
/// lowercase); aliases are deduplicated.
pub async fn catalog(State(state): State<GatewayState>, Path((material, color)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    simple(state, headers, body, |tenant, now_ms, b: CatalogBody| {
        let (material, color) = (name("material", &material)?, name("color", &color)?);
        let mut aliases = Vec::new();
        for (i, a) in b.aliases.iter().enumerate() {
            let a = name(&format!("aliases[{i}]"), a)?;
            if !aliases.contains(&a) {
                aliases.push(a);
            }
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let key = PoolKey::of(tenant, &material, &color);
        let event =
            CatalogItemUpserted { envelope: envelope(tenant, &command_id, now_ms), material, color, price_per_meter: amount("price_per_meter", b.price_per_meter, MONEY_SCALE, true)?, aliases };
        Ok((command_id, Publish::new(key, GatewayEvent::CatalogItem(event))))
    })
    .await
}

/// `POST /v1/stock`: a received batch. `received_at` (RFC 3339) defaults to now; the default
/// `command_id` derives from `batch_id`, so a retried POST is the same event.
pub async fn stock(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    simple(state, headers, body, |tenant, now_ms, b: StockBody| {
        let (material, color) = (name("material", &b.material)?, name("color", &b.color)?);
        let batch_id = ident("batch_id", &b.batch_id)?;
        if b.rolls < 0 {
            return Err(invalid("rolls", "must not be negative"));
        }
        let meters_per_roll = amount("meters_per_roll", b.meters_per_roll, METERS_SCALE, true)?;
        let loose_meters = amount("loose_meters", b.loose_meters, METERS_SCALE, false)?;
        if b.rolls == 0 && loose_meters.is_zero() {
            return Err(invalid("rolls", "a batch needs rolls or loose meters"));
        }
        let received_at = match b.received_at.as_deref() {
            Some(t) => chrono::DateTime::parse_from_rfc3339(t.trim()).map_err(|e| invalid("received_at", format!("not RFC 3339: {e}")))?.timestamp_millis(),
            None => now_ms,
        };
        let command_id = command_id(b.command_id.as_deref(), || Uuid::new_v5(&SOUK_ID_NAMESPACE, format!("stock/{material}/{color}/{batch_id}").as_bytes()).to_string())?;
        let key = PoolKey::of(tenant, &material, &color);
        let event = BatchReceived {
            envelope: envelope(tenant, &command_id, now_ms),
            batch_id,
            material,
            color,
            dye_lot: opt_ident("dye_lot", b.dye_lot.as_deref())?,
            rolls: b.rolls,
            meters_per_roll,
            loose_meters,
            price_per_meter: b.price_per_meter.map(|p| amount("price_per_meter", p, MONEY_SCALE, true)).transpose()?,
            received_at,
        };
        Ok((command_id, Publish::new(key, GatewayEvent::Batch(event))))
    })
    .await
}

/// `PUT /v1/settings`: GST rate in [0, 1) with at most 4 decimals, reminder cadence 1–365 days.
pub async fn settings(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    simple(state, headers, body, |tenant, now_ms, b: SettingsBody| {
        let gst_rate = amount("gst_rate", b.gst_rate, 4, false)?;
        if gst_rate >= Decimal::ONE {
            return Err(invalid("gst_rate", "must be below 1 (0.05 is 5 %)"));
        }
        if !(1..=365).contains(&b.reminder_days) {
            return Err(invalid("reminder_days", "must be between 1 and 365"));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = TenantSettingsChanged { envelope: envelope(tenant, &command_id, now_ms), gst_rate, reminder_days: b.reminder_days };
        Ok((command_id, Publish::new(tenant.to_string(), GatewayEvent::Settings(event))))
    })
    .await
}
