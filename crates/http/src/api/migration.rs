//! A mailbox's migration from another provider in the operators' API (PROVISIONING.md §9):
//! the operation of `pecctl migrate start|status`, through the same
//! [`pecd_migrate::Migrations`], for amministratori.
//!
//! - `POST /api/v1/mailboxes/{address}/migration` `{"from", "login"?, "password",
//!   "new_password"?}`: checks the credentials at the old provider, starts the import on
//!   the server and answers 202 with the record (`state: running`);
//! - `GET /api/v1/mailboxes/{address}/migration`: the record (`state`, `messages_done`,
//!   `messages_total`, `errors`, folders).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use pecd_migrate::{Kind, MigrateError, MigrationRecord, Migrations, StartRequest};
use serde::Deserialize;

use super::Body;
use crate::auth::OperatorActor;
use crate::error::{ApiError, ErrorBody};
use crate::HttpState;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new().route(
        "/api/v1/mailboxes/{address}/migration",
        get(status).post(start),
    )
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Start {
    from: String,
    login: Option<String>,
    password: String,
    new_password: Option<String>,
}

pub(crate) fn migrations(s: &HttpState) -> Migrations {
    Migrations::new(s.archive.store().clone(), s.config.clone())
}

/// Checks the credentials at the old provider and starts the import (amministratori).
#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/{address}/migration",
    tag = "mailboxes",
    params(("address" = String, Path, description = "the mailbox's address")),
    request_body = Start,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 202, description = "the import started", body = pecd_migrate::MigrationRecord),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 502, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
pub(crate) async fn start(
    State(s): State<Arc<HttpState>>,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
    Body(b): Body<Start>,
) -> Result<Response, ApiError> {
    a.check_admin("migrazione")?;
    let request = StartRequest {
        address,
        from: b.from,
        login: b.login,
        password: b.password,
        new_password: b.new_password,
    };
    let record = migrations(&s).start(request).await.map_err(refusal)?;
    Ok((StatusCode::ACCEPTED, Json(record)).into_response())
}

/// The migration's record (amministratori).
#[utoipa::path(
    get,
    path = "/api/v1/mailboxes/{address}/migration",
    tag = "mailboxes",
    params(("address" = String, Path, description = "the mailbox's address")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the migration's state and counters", body = pecd_migrate::MigrationRecord),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 502, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
pub(crate) async fn status(
    State(s): State<Arc<HttpState>>,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
) -> Result<Json<MigrationRecord>, ApiError> {
    a.check_admin("migrazione")?;
    Ok(Json(
        migrations(&s).status(&address).await.map_err(refusal)?,
    ))
}

pub(crate) fn refusal(e: MigrateError) -> ApiError {
    let (status, code) = match e.kind {
        Kind::Invalid if !e.details.is_empty() => {
            (StatusCode::UNPROCESSABLE_ENTITY, "weak_password")
        }
        Kind::Invalid => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_value"),
        Kind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        Kind::Credentials => (StatusCode::FORBIDDEN, "forbidden"),
        Kind::OldServer => (StatusCode::BAD_GATEWAY, "old_server"),
        Kind::Conflict => (StatusCode::CONFLICT, "conflict"),
        Kind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
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
