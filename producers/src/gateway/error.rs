//! The gateway answers refusals with the shared [`ApiError`] (`souk_runtime::api_error`); this
//! module maps publishing failures onto it.

pub use souk_runtime::api_error::ApiError;

use axum::http::StatusCode;

impl From<super::publisher::PublishError> for ApiError {
    fn from(e: super::publisher::PublishError) -> ApiError {
        use super::publisher::PublishError;
        match e {
            PublishError::Unavailable(reason) => ApiError::unavailable(reason),
            PublishError::Rejected(reason) => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "EVENT_REJECTED", reason),
        }
    }
}
