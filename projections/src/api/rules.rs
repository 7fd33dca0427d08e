//! The business-rule reads (rules BR1–BR5): `GET /v1/rules` in the order the reply stage applies
//! them, and `GET /v1/rules/{rule_id}` (what the owner chat understood, and how often it applied).

use super::{ApiResult, ApiState, TenantId};
use crate::queries::rules as queries;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use souk_runtime::api_error::ApiError;
use souk_runtime::openapi::{array_of, int, object, reference, string, time, Fragment};

/// The statuses a rule can be in.
pub const RULE_STATUSES: [&str; 4] = ["proposed", "active", "inactive", "deleted"];

/// Query of `GET /v1/rules`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RulesQuery {
    status: Option<String>,
}

pub(super) async fn rules(State(s): State<ApiState>, TenantId(tenant): TenantId, q: Result<Query<RulesQuery>, QueryRejection>) -> ApiResult {
    let Query(q) = q?;
    if let Some(status) = q.status.as_deref().filter(|s| !RULE_STATUSES.contains(s)) {
        return Err(ApiError::bad_request("BAD_QUERY", format!("status must be one of {}, not {status:?}", RULE_STATUSES.join(", "))));
    }
    Ok(Json(json!({ "rules": queries::rules(&mut *s.scoped(&tenant).await?, &tenant, q.status.as_deref()).await? })).into_response())
}

pub(super) async fn rule(State(s): State<ApiState>, TenantId(tenant): TenantId, Path(id): Path<String>) -> ApiResult {
    super::found(queries::rule(&mut *s.scoped(&tenant).await?, &tenant, &id).await?, || format!("no rule {id}"))
}

/// The rule reads' schema and operations.
pub(super) fn document(f: &mut Fragment, get: impl Fn(&str, Vec<Value>, Value, bool) -> Value, param: impl Fn(&str, &str, &str) -> Value) {
    let condition = object(&[("field", string()), ("operator", string()), ("value", string())]);
    let rule = object(&[
        ("id", string()),
        ("type", json!({ "enum": ["shipping", "returns", "pricing", "availability", "custom"] })),
        ("name", string()),
        ("description", string()),
        ("conditions", json!({ "type": "array", "items": condition })),
        ("action", json!({ "enum": ["discount", "answer"] })),
        ("discount_percent", json!({ "type": ["string", "null"], "pattern": "^[0-9]+(\\.[0-9]+)?$" })),
        ("response_template", string()),
        ("priority", int()),
        ("status", json!({ "enum": RULE_STATUSES })),
        ("parser", string()),
        ("taught_text", string()),
        ("answer", string()),
        ("executions", int()),
        ("created_at", time()),
        ("updated_at", time()),
    ]);
    assert!(!f.schemas.contains_key("BusinessRule"), "schema BusinessRule is defined twice");
    f.schemas.insert("BusinessRule".into(), rule);
    let mut status = param("status", "query", "only rules in this status (default: all but deleted)");
    status["schema"] = json!({ "type": "string", "enum": RULE_STATUSES });
    f.operation("/v1/rules", "get", get("The business rules, in the order they apply (priority, then id)", vec![status], object(&[("rules", array_of("BusinessRule"))]), false));
    f.operation("/v1/rules/{rule_id}", "get", get("One business rule, whatever its status", vec![param("rule_id", "path", "the rule")], reference("BusinessRule"), true));
}
