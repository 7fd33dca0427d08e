//! The escalation lifecycle's commands (rules B7): assign, start, resolve with notes, and the
//! admin's "intervene" that writes to a negotiation's partner as a human. Authenticated like every
//! owner command; each is one event, answered 202 with its `command_id` once acknowledged. Whether
//! it fit the escalation's state is told by the lifecycle (`EscalationUpdated` naming the command,
//! or `EscalationCommandRejected`), read back from the read API.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{ident, opt_ident, text};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::escalations::{EscalationAssigned, EscalationResolved, EscalationWorkStarted};
use souk_schemas::key::BundleKey;
use souk_schemas::orchestration::HumanIntervened;

/// Body of assign.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AssignBody {
    assignee: String,
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of start (optional as a whole).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StartBody {
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of resolve.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    notes: String,
    actor: Option<String>,
    command_id: Option<String>,
}

/// Body of intervene.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InterveneBody {
    text: String,
    actor: Option<String>,
    command_id: Option<String>,
}

/// `<tenant>|<escalation id>`, the lifecycle's key.
fn key(tenant: &str, escalation_id: &str) -> String {
    format!("{tenant}|{escalation_id}")
}

async fn run(state: &GatewayState, headers: &HeaderMap, build: impl AsyncFnOnce(&str, i64) -> Result<(String, Publish), ApiError>) -> Response {
    let result = async {
        let (tenant, now) = begin(state, headers)?;
        let (command_id, record) = build(tenant, now).await?;
        state.publish(vec![record]).await?;
        tracing::info!(tenant, command_id, "escalation command accepted");
        Ok::<_, ApiError>(command_id)
    }
    .await;
    match result {
        Ok(command_id) => (StatusCode::ACCEPTED, Json(json!({ "command_id": command_id, "status": "accepted" }))).into_response(),
        Err(e) => {
            tracing::warn!(status = e.status.as_u16(), code = e.code, reason = %e.reason, "escalation command refused");
            e.into_response()
        }
    }
}

/// `POST /v1/escalations/{escalation_id}/assign`.
pub async fn assign(State(state): State<GatewayState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: AssignBody = parse(body, false)?;
        let (escalation_id, command_id) = (ident("escalation_id", &id)?, command_id(b.command_id.as_deref(), fresh)?);
        let assignee = ident("assignee", &b.assignee)?;
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| assignee.clone());
        let e = EscalationAssigned { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), escalation_id: escalation_id.clone(), assignee, actor };
        Ok((command_id, Publish::new(key(tenant, &escalation_id), GatewayEvent::EscalationAssigned(e))))
    })
    .await
}

/// `POST /v1/escalations/{escalation_id}/start`.
pub async fn start(State(state): State<GatewayState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: StartBody = parse(body, true)?;
        let (escalation_id, command_id) = (ident("escalation_id", &id)?, command_id(b.command_id.as_deref(), fresh)?);
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let e = EscalationWorkStarted { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), escalation_id: escalation_id.clone(), actor };
        Ok((command_id, Publish::new(key(tenant, &escalation_id), GatewayEvent::EscalationStarted(e))))
    })
    .await
}

/// `POST /v1/escalations/{escalation_id}/resolve`.
pub async fn resolve(State(state): State<GatewayState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: ResolveBody = parse(body, false)?;
        let (escalation_id, command_id) = (ident("escalation_id", &id)?, command_id(b.command_id.as_deref(), fresh)?);
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let e = EscalationResolved { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), escalation_id: escalation_id.clone(), actor, notes: text("notes", &b.notes)? };
        Ok((command_id, Publish::new(key(tenant, &escalation_id), GatewayEvent::EscalationResolved(e))))
    })
    .await
}

/// `POST /v1/escalations/{escalation_id}/intervene`: the text goes to the partner of the
/// escalated negotiation (`<negotiation id>/<kind>`) as written by a human.
pub async fn intervene(State(state): State<GatewayState>, Path(id): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    run(&state, &headers, async |tenant, now| {
        let b: InterveneBody = parse(body, false)?;
        let escalation_id = ident("escalation_id", &id)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let tables = state.orchestration.as_deref().ok_or_else(|| ApiError::unavailable("this gateway runs without the negotiations directory"))?;
        let negotiation_id = escalation_id.rsplit_once('/').map(|(n, _)| n.to_string()).unwrap_or_default();
        let bundle_id = tables
            .routes
            .bundle_of(tenant, &negotiation_id)
            .await
            .map_err(|e| ApiError::unavailable(format!("negotiation lookup failed: {e:#}")))?
            .ok_or_else(|| ApiError::not_found("NOT_A_NEGOTIATION", format!("escalation {escalation_id} is not about a negotiation this tenant has")))?;
        let actor = opt_ident("actor", b.actor.as_deref())?.unwrap_or_else(|| "owner".into());
        let e = HumanIntervened { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), bundle_id: bundle_id.clone(), negotiation_id, actor, text: text("text", &b.text)? };
        Ok((command_id, Publish::new(BundleKey::of(tenant, &bundle_id), GatewayEvent::Intervened(e))))
    })
    .await
}
