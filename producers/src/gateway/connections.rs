//! The owner's channel connections (rules CC1–CC3): `PUT /v1/connections/{platform}/{account}`
//! with the access token the owner's OAuth consent produced and its expiry, and `DELETE` to
//! disconnect. The token is sealed under the master key here, before it reaches a topic; the
//! `channel-connection` processor keeps its expiry timers and tells the owner before it lapses.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{ident, invalid, text};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::connections::{connection_key, ConnectionAuthorized, ConnectionCommand, ConnectionDisconnected};

/// The platforms a connection can be for.
pub const PLATFORMS: [&str; 2] = ["instagram", "whatsapp"];

/// Body of `PUT /v1/connections/{platform}/{platform_user_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    access_token: String,
    expires_at: String,
    command_id: Option<String>,
}

/// Body of `DELETE /v1/connections/{platform}/{platform_user_id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DisconnectBody {
    reason: Option<String>,
    command_id: Option<String>,
}

fn target(platform: &str, account: &str) -> Result<(String, String), ApiError> {
    if !PLATFORMS.contains(&platform) {
        return Err(invalid("platform", format!("must be one of {}", PLATFORMS.join(", "))));
    }
    let account = ident("platform_user_id", account)?;
    if account.contains('|') {
        return Err(invalid("platform_user_id", "must not contain '|'"));
    }
    Ok((platform.to_string(), account))
}

async fn publish(state: &GatewayState, tenant: &str, platform: &str, account: &str, command: ConnectionCommand) -> Result<(), ApiError> {
    state.publish(vec![Publish::new(connection_key(tenant, platform, account), GatewayEvent::ConnectionCommand(command))]).await
}

/// `PUT /v1/connections/{platform}/{platform_user_id}`: connect, reconnect or refresh.
pub async fn authorize(State(state): State<GatewayState>, Path((platform, account)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: AuthorizeBody = parse(body, false)?;
        let (platform, account) = target(&platform, &account)?;
        let token = text("access_token", &b.access_token)?;
        let expires_at = chrono::DateTime::parse_from_rfc3339(b.expires_at.trim()).map_err(|e| invalid("expires_at", format!("not RFC 3339: {e}")))?.timestamp_millis();
        let ring = state.privacy.as_ref().ok_or_else(|| ApiError::unavailable("this gateway runs without the privacy keys: connections cannot be sealed"))?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let sealed = ring.master().seal_secret(&format!("connection/{tenant}/{platform}/{account}"), &token);
        let event = ConnectionAuthorized {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            platform: platform.clone(),
            platform_user_id: account.clone(),
            access_token: sealed,
            expires_at,
        };
        publish(&state, tenant, &platform, &account, ConnectionCommand::ConnectionAuthorized(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "connection": format!("{platform}/{account}") }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, |b| (StatusCode::ACCEPTED, Json(b)).into_response())
}

/// `DELETE /v1/connections/{platform}/{platform_user_id}`: disconnect (body optional).
pub async fn disconnect(State(state): State<GatewayState>, Path((platform, account)): Path<(String, String)>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: DisconnectBody = parse(body, true)?;
        let (platform, account) = target(&platform, &account)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let reason = b.reason.as_deref().map(|r| text("reason", r)).transpose()?.unwrap_or_else(|| "disconnected by the owner".into());
        let event = ConnectionDisconnected { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), reason };
        publish(&state, tenant, &platform, &account, ConnectionCommand::ConnectionDisconnected(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "connection": format!("{platform}/{account}") }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, |b| (StatusCode::ACCEPTED, Json(b)).into_response())
}

/// The connection operations of the gateway's OpenAPI document.
pub(super) fn openapi(f: &mut souk_runtime::openapi::Fragment) {
    use super::openapi::{body, command, command_id, path_param};
    let params = || {
        let mut platform = path_param("platform", "instagram or whatsapp");
        platform["schema"] = json!({ "type": "string", "enum": PLATFORMS });
        vec![platform, path_param("platform_user_id", "the Instagram account id or the WhatsApp phone_number_id")]
    };
    let with_connection = |mut op: serde_json::Value| {
        op["responses"]["202"]["content"]["application/json"]["schema"]["properties"]["connection"] = json!({ "type": "string" });
        op
    };
    let authorize = body(
        &[
            (
                "access_token",
                json!({ "type": "string", "minLength": 1, "maxLength": 4096, "pattern": super::TEXT_PATTERN, "description": "the token the owner's OAuth consent produced; sealed before it reaches a topic" }),
            ),
            ("expires_at", json!({ "type": "string", "format": "date-time", "description": "when the token stops working (RFC 3339)" })),
            ("command_id", command_id()),
        ],
        &["access_token", "expires_at"],
    );
    f.operation(
        "/v1/connections/{platform}/{platform_user_id}",
        "put",
        with_connection(command("Connect, reconnect or refresh a channel account (rules CC1); the owner is told before its token expires (CC2)", params(), authorize, true, false)),
    );
    let disconnect = body(&[("reason", json!({ "type": ["string", "null"], "maxLength": 4096, "pattern": "^[^\\u0000]*$" })), ("command_id", command_id())], &[]);
    f.operation(
        "/v1/connections/{platform}/{platform_user_id}",
        "delete",
        with_connection(command("Disconnect a channel account: its token is forgotten (rules CC3; body optional)", params(), disconnect, false, false)),
    );
}
