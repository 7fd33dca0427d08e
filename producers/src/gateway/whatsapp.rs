//! The WhatsApp Cloud API webhook: the GET verification handshake and the POST delivery handler.
//! A delivery is authenticated against the raw bytes before any parsing (rules C1), routed to
//! its tenant by `metadata.phone_number_id`, and answered 200 only once the broker acknowledged
//! every event it carries (otherwise 503, and Meta redelivers).

use super::error::ApiError;
use super::payload::parse_delivery;
use super::publisher::{GatewayEvent, Publish};
use super::signature::check_timestamp;
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use souk_schemas::whatsapp::{opt_keyword, ConsentChanged};
use std::collections::HashMap;

/// Header carrying Meta's body signature.
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// Optional header with the delivery time in epoch seconds (C1 skew check).
pub const TIMESTAMP_HEADER: &str = "x-hub-timestamp";

/// `GET /webhooks/whatsapp`: Meta's subscription handshake. `hub.mode=subscribe` and a
/// `hub.verify_token` equal to some tenant's verify token (every tenant compared in constant time)
/// ⇒ 200 echoing `hub.challenge` as text/plain; anything else ⇒ 403.
pub async fn verify_subscription(State(state): State<GatewayState>, Query(params): Query<HashMap<String, String>>) -> Response {
    let token = params.get("hub.verify_token").map(String::as_str).unwrap_or_default();
    // Compare against every tenant, without stopping at the first match.
    let known = state.tenants.iter().fold(false, |found, t| t.verify_token.matches(token) | found);
    match (params.get("hub.mode").map(String::as_str), params.get("hub.challenge")) {
        (Some("subscribe"), Some(challenge)) if known => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], challenge.clone()).into_response(),
        _ => {
            tracing::warn!("webhook verification refused");
            ApiError::new(StatusCode::FORBIDDEN, "VERIFICATION_FAILED", "hub.mode must be subscribe with a known hub.verify_token and a hub.challenge").into_response()
        }
    }
}

/// What a person's message says about their consent to our messages: STOP / START explicitly, any
/// other message implicitly (they wrote to us). Its id derives from the message's, so a redelivery
/// is the same record.
fn consent_of(record: &Publish) -> Option<Publish> {
    let GatewayEvent::Inbound(m) = &record.event else { return None };
    let keyword = m.text.as_deref().and_then(opt_keyword);
    let consent = ConsentChanged {
        envelope: m.envelope.derive("whatsapp-consent", 0, m.envelope.occurred_at),
        wa_id: m.wa_id.clone(),
        opted_in: keyword.unwrap_or(true),
        source: if keyword.is_some() { ConsentChanged::KEYWORD } else { ConsentChanged::CUSTOMER_MESSAGE }.to_string(),
    };
    Some(Publish::new(consent.key(), GatewayEvent::Consent(consent)))
}

/// `POST /webhooks/whatsapp`: one delivery of messages and statuses. Each message also records
/// its sender's consent (`whatsapp.consent`); `events` counts the messages and statuses.
pub async fn receive(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    match handle(&state, &headers, body).await {
        Ok(events) => (StatusCode::OK, Json(json!({ "status": "ok", "events": events }))).into_response(),
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "webhook delivery refused");
            e.into_response()
        }
    }
}

async fn handle(state: &GatewayState, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<usize, ApiError> {
    let body = body.map_err(ApiError::from_body)?;
    let signed_by = state.app_secrets.authenticate(headers, &body)?;
    let timestamp = headers.get(TIMESTAMP_HEADER).map(|v| v.to_str().unwrap_or("?"));
    check_timestamp(timestamp, (state.clock)(), state.config.max_skew_secs)?;
    let tenant_of = |phone_number_id: &str| match state.tenants.by_phone_number_id(phone_number_id) {
        None => Err(ApiError::not_found("UNKNOWN_PHONE_NUMBER", format!("no tenant owns phone_number_id {phone_number_id}"))),
        Some(t) if signed_by.contains(&t.id) => Ok(t.id.clone()),
        Some(_) => Err(ApiError::unauthorized("BAD_SIGNATURE", format!("the signature is not from the app of phone_number_id {phone_number_id}"))),
    };
    let (mut records, mut consents, mut inbox) = (Vec::new(), Vec::new(), Vec::new());
    for record in parse_delivery(&body, &tenant_of)? {
        // A social-inbox tenant's customers go to the inbox, sealed (rules SC2).
        if let Some(item) = super::whatsapp_inbox::inbox_item(&state.tenants, &record) {
            inbox.extend(item);
            continue;
        }
        consents.extend(consent_of(&record));
        records.push(super::orchestration::route_partner_reply(state, record).await?);
    }
    let mut count = records.len();
    if count > 0 {
        records.extend(consents);
        state.publish(records).await?;
    }
    if !inbox.is_empty() {
        count += super::social::seal_and_publish(state, inbox).await?;
    }
    tracing::info!(events = count, "webhook delivery accepted");
    Ok(count)
}
