//! Every request body is read whole, within its route's limit, before any handler or
//! extractor can answer. An answer given while the client is still sending (a 401 from a
//! missing token, a 415 from a wrong content type) would otherwise be followed by closing a
//! connection with unread bytes, and a TLS client sees its answer lost to the reset ("EOF in
//! violation of protocol"). The limit is the contract upload's (`http.max_body_bytes`) on
//! `PUT .../contracts/{name}` (and the console's multipart uploads of a contract or a revocation
//! form, with room for the form's framing) and [`crate::SMALL_BODY_BYTES`] everywhere else; a body over it
//! gets the JSON 413 at once.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::HttpState;

/// The largest body `request` may carry.
fn limit(state: &HttpState, method: &Method, path: &str, headers: &HeaderMap) -> usize {
    let uploads = state
        .config
        .http
        .max_body_bytes
        .max(crate::SMALL_BODY_BYTES);
    if method == Method::PUT && path.contains("/contracts/") {
        uploads
    } else if method == Method::POST
        && path.starts_with("/console/")
        && (path.ends_with("/contracts") || path.ends_with("/revoke"))
        // Only a logged-in browser may make the server hold an upload's worth of bytes.
        && crate::auth::cookie_session(state, headers).is_some()
    {
        uploads.saturating_add(crate::console::contracts::MULTIPART_OVERHEAD)
    } else {
        crate::SMALL_BODY_BYTES
    }
}

pub async fn read_first(
    State(state): State<Arc<HttpState>>,
    request: Request,
    next: Next,
) -> Response {
    let max = limit(
        &state,
        request.method(),
        request.uri().path(),
        request.headers(),
    );
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, max).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(_) => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("the body is over {max} bytes, or could not be read"),
        )
        .into_response(),
    }
}
