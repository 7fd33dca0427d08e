//! The one error shape and the one authentication of souk's HTTP surface (gateway, read API,
//! search API, all on one port): every refusal is an HTTP status plus
//! `{"error": "<CODE>", "reason": "<why>"}` with a stable upper-case code clients match on, and
//! every owner request authenticates with `Authorization: Bearer <tenant api key>` (scheme matched
//! case-insensitively, as RFC 9110 says), through [`authenticate`].

use crate::tenants::{Tenant, Tenants};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused request: status, a stable machine-readable code and a human-readable reason.
/// Handlers return it instead of building responses by hand, so every 4xx/5xx looks the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// Stable code clients match on (`BAD_SIGNATURE`, `UNKNOWN_ORDER`, `NOT_FOUND`, ...).
    pub code: &'static str,
    /// What was wrong, naming the field where there is one.
    pub reason: String,
}

impl ApiError {
    /// Any error with an explicit status and code.
    pub fn new(status: StatusCode, code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError { status, code, reason: reason.into() }
    }

    /// 400 for malformed input; `reason` names the offending field.
    pub fn bad_request(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, reason)
    }

    /// 401 for a missing or wrong signature, timestamp or API key (answered with
    /// `WWW-Authenticate: Bearer`).
    pub fn unauthorized(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, reason)
    }

    /// 404 for something the tenant does not have.
    pub fn not_found(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, reason)
    }

    /// 503: the broker, registry or database is unavailable; the caller should retry.
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", reason)
    }

    /// 500: a failure of ours; the details are logged, not answered.
    pub fn internal(context: &str, error: &anyhow::Error) -> ApiError {
        tracing::error!(error = format!("{error:#}"), "{context}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", context)
    }

    /// A body that could not be read: 413 when it is over the limit, otherwise 400.
    pub fn from_body(rejection: BytesRejection) -> ApiError {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", rejection.body_text()),
            status => ApiError::new(status, "BAD_BODY", rejection.body_text()),
        }
    }
}

/// An unexpected failure (a query, a task): logged, answered 500 `INTERNAL` without details.
impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal("the request could not be served", &e)
    }
}

/// A query string that does not parse into the route's parameters: 400 `BAD_QUERY`.
impl From<QueryRejection> for ApiError {
    fn from(e: QueryRejection) -> ApiError {
        ApiError::bad_request("BAD_QUERY", e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.code, "reason": self.reason }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

/// The tenant whose owner API key is in `Authorization: Bearer <key>` (the key is never logged):
/// 401 `MISSING_API_KEY` without a Bearer credential, 401 `BAD_API_KEY` for a key no tenant has.
pub fn authenticate<'t>(tenants: &'t Tenants, headers: &HeaderMap) -> Result<&'t Tenant, ApiError> {
    let value = headers.get(header::AUTHORIZATION).ok_or_else(|| ApiError::unauthorized("MISSING_API_KEY", "Authorization: Bearer <api key> is required"))?;
    let key = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, key)| key.trim())
        .filter(|key| !key.is_empty())
        .ok_or_else(|| ApiError::unauthorized("MISSING_API_KEY", "Authorization must be Bearer <api key>"))?;
    tenants.by_api_key(key).ok_or_else(|| ApiError::unauthorized("BAD_API_KEY", "unknown API key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenants() -> Tenants {
        Tenants::parse("[[tenants]]\nid = \"a\"\nname = \"A\"\nphone_number_id = \"1\"\napp_secret = \"s\"\nverify_token = \"v\"\napi_key = \"key-a\"\naccess_token = \"t\"\n").unwrap()
    }

    fn auth(value: Option<&str>) -> Result<String, &'static str> {
        let mut headers = HeaderMap::new();
        if let Some(v) = value {
            headers.insert(header::AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        let t = tenants();
        authenticate(&t, &headers).map(|t| t.id.clone()).map_err(|e| e.code)
    }

    #[test]
    fn bearer_is_case_insensitive_and_every_failure_is_a_401_with_a_code() {
        assert_eq!(auth(Some("Bearer key-a")), Ok("a".into()));
        assert_eq!(auth(Some("bearer key-a")), Ok("a".into()));
        assert_eq!(auth(Some("BEARER  key-a ")), Ok("a".into()));
        assert_eq!(auth(None), Err("MISSING_API_KEY"));
        assert_eq!(auth(Some("Basic key-a")), Err("MISSING_API_KEY"));
        assert_eq!(auth(Some("Bearer ")), Err("MISSING_API_KEY"));
        assert_eq!(auth(Some("Bearer key-b")), Err("BAD_API_KEY"));
    }

    #[test]
    fn the_shape_is_error_and_reason_and_a_401_asks_for_bearer() {
        let r = ApiError::unauthorized("BAD_API_KEY", "unknown API key").into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers().get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    }
}
