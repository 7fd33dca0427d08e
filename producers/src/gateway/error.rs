//! The one shape of every refusal the gateway answers: an HTTP status plus
//! `{"error": "<CODE>", "reason": "<why>"}`, so clients (and Meta's retry logic) can rely on it.

use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// A refused request: status, a stable machine-readable code and a human-readable reason.
/// Handlers return it instead of building responses by hand, so every 4xx/5xx looks the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the answer.
    pub status: StatusCode,
    /// Stable code clients match on (`BAD_SIGNATURE`, `UNKNOWN_ORDER`, ...).
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

    /// 401 for a missing or wrong signature, timestamp or API key.
    pub fn unauthorized(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, code, reason)
    }

    /// 404 for an unknown business number or order.
    pub fn not_found(code: &'static str, reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, code, reason)
    }

    /// 503: the broker, registry or database is unavailable; the caller should retry.
    pub fn unavailable(reason: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", reason)
    }

    /// A body that could not be read: 413 when it is over the limit, otherwise 400.
    pub fn from_body(rejection: BytesRejection) -> ApiError {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", rejection.body_text()),
            status => ApiError::new(status, "BAD_BODY", rejection.body_text()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.code, "reason": self.reason }))).into_response()
    }
}

impl From<super::publisher::PublishError> for ApiError {
    fn from(e: super::publisher::PublishError) -> ApiError {
        use super::publisher::PublishError;
        match e {
            PublishError::Unavailable(reason) => ApiError::unavailable(reason),
            PublishError::Rejected(reason) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "EVENT_REJECTED", reason),
        }
    }
}
