//! The JSON API under `/api/v1/`: one module per family of operations, each calling the
//! archive as the logged-in operator. Bodies are JSON with unknown fields refused; every
//! error is a JSON document ([`crate::error`]).

pub mod archive;
pub mod holders;
pub mod lifecycle;
pub mod mailboxes;
pub mod migration;
pub mod openapi;
pub mod requests;
pub mod security_archive;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::Router;
use serde::de::DeserializeOwned;

use crate::auth;
use crate::error::ApiError;
use crate::HttpState;

/// A JSON body whose refusal is a JSON error like every other.
pub struct Body<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<HttpState>> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &Arc<HttpState>) -> Result<Self, ApiError> {
        let json = json_content_type(req.headers());
        // The body is read (within the route's limit) before any refusal: a connection
        // closed with unread bytes is reset, and the client may lose the answer.
        let bytes = axum::body::Bytes::from_request(req, state).await?;
        if !json {
            return Err(ApiError::new(
                axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "Expected request with `Content-Type: application/json`",
            ));
        }
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(json_refusal(e)),
        }
    }
}

/// `application/json` or `application/*+json`, parameters aside.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

fn json_refusal(e: JsonRejection) -> ApiError {
    ApiError::from(e)
}

/// A query string whose refusal is a JSON error.
pub struct Query<T>(pub T);

impl<T: DeserializeOwned + Send> FromRequestParts<Arc<HttpState>> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(query_refusal(e)),
        }
    }
}

fn query_refusal(e: QueryRejection) -> ApiError {
    ApiError::bad_request(e.body_text())
}

/// The API's routes; `uploads` is the body limit of contract documents
/// (`http.max_body_bytes`), every other body has [`crate::SMALL_BODY_BYTES`].
pub fn routes(uploads: usize) -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/login", post(auth::login))
        .route("/api/v1/logout", post(auth::logout))
        .route("/api/v1/openapi.json", get(openapi::document))
        .merge(archive::routes())
        .merge(requests::routes(uploads))
        .merge(holders::routes())
        .merge(lifecycle::routes())
        .merge(mailboxes::routes())
        .merge(security_archive::routes())
        .merge(migration::routes())
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::NOT_FOUND,
        "not_found",
        "no such resource",
    )
}
