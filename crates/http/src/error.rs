//! Errors as the API answers them: an HTTP status and a JSON body
//! `{"error": {"code", "message", "details"}}` with a stable code and, where
//! PROVISIONING.md gives one, the Italian message.

use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use pecd_archive::{ArchiveError, ErrorKind};
use serde::Serialize;

/// What went wrong: a stable code, a message for people, and the details of a refusal
/// (e.g. one line per rejected field) when there are any.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable, e.g. `unauthorized`, `forbidden`, `csrf`, `not_found`, `invalid_value`,
    /// `conflict`, `bad_request`, `too_large`, `unsupported_media_type`, `throttled`,
    /// `password_expired`, `unavailable`.
    #[schema(value_type = String)]
    pub code: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<String>,
}

/// The JSON document of every API error.
#[derive(Debug, Serialize, utoipa::ToSchema, utoipa::ToResponse)]
#[response(description = "JSON error document")]
pub struct ErrorDocument {
    pub error: ErrorBody,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: ErrorBody,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: message.into(),
                details: Vec::new(),
            },
        }
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        let (status, code) = match e.kind {
            ErrorKind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
            ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
            ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ErrorKind::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        };
        ApiError {
            status,
            body: ErrorBody {
                code,
                message: e.message,
                details: e.details,
            },
        }
    }
}

/// A JSON body refused before any handler ran: 415 without the JSON content type, 413 over
/// the body limit, 400 for bad syntax, 422 for the wrong shape, as a JSON error like every
/// other.
impl From<JsonRejection> for ApiError {
    fn from(e: JsonRejection) -> ApiError {
        let status = e.status();
        let code = match e {
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            JsonRejection::BytesRejection(_) => "too_large",
            _ => "bad_request",
        };
        ApiError::new(status, code, e.body_text())
    }
}

/// A body that could not be read: 413 over the route's limit, 400 otherwise.
impl From<BytesRejection> for ApiError {
    fn from(e: BytesRejection) -> ApiError {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "too_large"
        } else {
            "bad_request"
        };
        ApiError::new(status, code, e.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorDocument { error: self.body })).into_response()
    }
}

pub type ApiResult<T> = Result<Json<T>, ApiError>;
