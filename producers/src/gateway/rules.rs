//! The owner chat and the business-rule commands (rules BR1–BR3): what the owner says becomes one
//! event on `rules.commands` under `<tenant>|<rule_id>`; the rule aggregate reads it, and its
//! answer — the rule it understood, or why it understood none — is the command's outcome at
//! `GET /v1/commands/{command_id}` and the rule itself at `GET /v1/rules/{rule_id}`.

use super::commands::{begin, command_id, envelope, fresh, parse};
use super::error::ApiError;
use super::publisher::{GatewayEvent, Publish};
use super::validate::{ident, invalid, message_content};
use super::GatewayState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use souk_schemas::rules::{rule_key, RuleChanged, RuleCommand, RuleConfirmed, RuleDeleteRequested, RuleTaught};

/// Largest priority accepted either way.
pub const MAX_PRIORITY: i64 = 1000;

/// Body of `POST /v1/assistant/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TeachBody {
    text: String,
    #[serde(default, deserialize_with = "super::validate::opt_whole")]
    priority: Option<i64>,
    command_id: Option<String>,
}

/// Body of `PATCH /v1/rules/{rule_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    #[serde(default, deserialize_with = "super::validate::opt_whole")]
    priority: Option<i64>,
    active: Option<bool>,
    description: Option<String>,
    response_template: Option<String>,
    command_id: Option<String>,
}

/// Body of confirming or deleting a rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommandBody {
    command_id: Option<String>,
}

fn priority(value: Option<i64>) -> Result<Option<i32>, ApiError> {
    match value {
        Some(p) if p.abs() > MAX_PRIORITY => Err(invalid("priority", format!("must be a whole number within ±{MAX_PRIORITY}"))),
        Some(p) => Ok(Some(p as i32)),
        None => Ok(None),
    }
}

async fn publish(state: &GatewayState, tenant: &str, rule_id: &str, command: RuleCommand) -> Result<(), ApiError> {
    state.publish(vec![Publish::new(rule_key(tenant, rule_id), GatewayEvent::RuleCommand(command))]).await
}

fn accepted(body: serde_json::Value) -> Response {
    (StatusCode::ACCEPTED, Json(body)).into_response()
}

/// `POST /v1/assistant/messages` `{text}`: the owner chat. The words are read as a rule (offline,
/// by the aggregate); the rule id derives from the command id, so a retried message with the same
/// `command_id` is the same rule.
pub async fn teach(State(state): State<GatewayState>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: TeachBody = parse(body, false)?;
        let text = message_content("text", &b.text)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let rule_id = format!("rule-{}", uuid::Uuid::new_v5(&souk_schemas::envelope::SOUK_ID_NAMESPACE, format!("{tenant}/{command_id}").as_bytes()).simple());
        let event = RuleTaught { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), rule_id: rule_id.clone(), text, priority: priority(b.priority)?.unwrap_or(0) };
        publish(&state, tenant, &rule_id, RuleCommand::RuleTaught(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "rule_id": rule_id }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `POST /v1/rules/{rule_id}/confirm`: the owner's confirmation; only then does the rule apply.
pub async fn confirm(State(state): State<GatewayState>, Path(rule): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: CommandBody = parse(body, true)?;
        let rule_id = ident("rule_id", &rule)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = RuleConfirmed { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), rule_id: rule_id.clone() };
        publish(&state, tenant, &rule_id, RuleCommand::RuleConfirmed(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "rule_id": rule_id }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `PATCH /v1/rules/{rule_id}`: priority, on/off, wording.
pub async fn change(State(state): State<GatewayState>, Path(rule): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: ChangeBody = parse(body, false)?;
        let rule_id = ident("rule_id", &rule)?;
        if b.priority.is_none() && b.active.is_none() && b.description.is_none() && b.response_template.is_none() {
            return Err(ApiError::bad_request("EMPTY_CHANGE", "name at least one of priority, active, description, response_template"));
        }
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = RuleChanged {
            envelope: envelope(tenant, &command_id, now),
            command_id: command_id.clone(),
            rule_id: rule_id.clone(),
            priority: priority(b.priority)?,
            active: b.active,
            description: b.description.as_deref().map(|d| message_content("description", d)).transpose()?,
            response_template: b.response_template.as_deref().map(|t| message_content("response_template", t)).transpose()?,
        };
        publish(&state, tenant, &rule_id, RuleCommand::RuleChanged(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "rule_id": rule_id }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// `DELETE /v1/rules/{rule_id}`: the rule is deleted for good.
pub async fn delete(State(state): State<GatewayState>, Path(rule): Path<String>, headers: HeaderMap, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let (tenant, now) = begin(&state, &headers)?;
        let b: CommandBody = parse(body, true)?;
        let rule_id = ident("rule_id", &rule)?;
        let command_id = command_id(b.command_id.as_deref(), fresh)?;
        let event = RuleDeleteRequested { envelope: envelope(tenant, &command_id, now), command_id: command_id.clone(), rule_id: rule_id.clone() };
        publish(&state, tenant, &rule_id, RuleCommand::RuleDeleteRequested(event)).await?;
        Ok::<_, ApiError>(json!({ "command_id": command_id, "status": "accepted", "rule_id": rule_id }))
    }
    .await;
    result.map_or_else(IntoResponse::into_response, accepted)
}

/// The owner chat's and the rule commands' part of the gateway's OpenAPI document.
pub(super) fn openapi(f: &mut souk_runtime::openapi::Fragment) {
    use super::openapi::{body, command, command_id, path_param};
    let message = |what: &str| json!({ "type": "string", "minLength": 1, "maxLength": 5000, "description": format!("{what}; 1–5,000 characters; <script> removed, tags other than b i u em strong code pre stripped") });
    let priority = json!({ "type": ["integer", "null"], "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY, "description": "evaluation order, higher first (default 0)" });
    let with_rule = |mut op: serde_json::Value| {
        op["responses"]["202"]["content"]["application/json"]["schema"]["properties"]["rule_id"] = json!({ "type": "string" });
        op
    };
    let teach =
        body(&[("text", message("what the owner says, e.g. \"If someone orders more than 3 items, give them 10% off\"")), ("priority", priority.clone()), ("command_id", command_id())], &["text"]);
    f.operation(
        "/v1/assistant/messages",
        "post",
        with_rule(command(
            "The owner chat (rules BR1): the words are read as a business rule and proposed; the command's outcome has the rule understood, or NO_RULE_FOUND with examples",
            vec![],
            teach,
            true,
            false,
        )),
    );
    let rule = || path_param("rule_id", "the rule");
    let plain = body(&[("command_id", command_id())], &[]);
    f.operation("/v1/rules/{rule_id}/confirm", "post", with_rule(command("Confirm a proposed rule: only then does it apply (rules BR2; body optional)", vec![rule()], plain.clone(), false, false)));
    // At least one change that is not null (a null field changes nothing: 400 EMPTY_CHANGE alone).
    let mut change = body(
        &[
            ("priority", json!({ "type": ["integer", "null"], "minimum": -MAX_PRIORITY, "maximum": MAX_PRIORITY, "description": "evaluation order, higher first" })),
            ("active", json!({ "type": ["boolean", "null"], "description": "pause (false) or resume (true) a confirmed rule" })),
            ("description", json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 5000, "description": "the rule's one-line description; HTML stripped as for messages" })),
            ("response_template", json!({ "type": ["string", "null"], "minLength": 1, "maxLength": 5000, "description": "what customers are told when it applies; HTML stripped as for messages" })),
            ("command_id", command_id()),
        ],
        &[],
    );
    change["anyOf"] = json!(["priority", "active", "description", "response_template"].map(|f| json!({ "required": [f], "properties": { f: { "not": { "type": "null" } } } })));
    f.operation("/v1/rules/{rule_id}", "patch", with_rule(command("Change a rule's priority, pause or resume it, or reword it (rules BR3); at least one field", vec![rule()], change, true, false)));
    f.operation("/v1/rules/{rule_id}", "delete", with_rule(command("Delete a rule for good (rules BR3; body optional)", vec![rule()], plain, false, false)));
}
