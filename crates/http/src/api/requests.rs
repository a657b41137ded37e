//! Requests and their contract documents (PROVISIONING.md §3), and slave user ids (§4
//! multi-user): the operations of `pecctl request` and `pecctl slave`, with the same scope
//! rules. A request body is the request file's JSON (ARCHITECTURE.md "Interfaces"); a
//! contract document is uploaded as the raw body of a `PUT`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pecd_archive::requests::contracts::ContractOutcome;
use pecd_archive::requests::file::RequestFile;
use pecd_archive::requests::model::RequestView;
use pecd_archive::requests::ops::RequestQuery;
use pecd_archive::requests::parse_code;
use pecd_archive::slaves::{NewSlave, SlaveView};
use serde::Deserialize;

use super::{Body, Query};
use crate::auth::OperatorActor;
use crate::error::{ApiError, ApiResult};
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes(uploads: usize) -> Router<Arc<HttpState>> {
    let upload = put(add_contract).layer(axum::extract::DefaultBodyLimit::max(uploads));
    Router::new()
        .route("/api/v1/requests", get(search).post(create))
        .route("/api/v1/requests/recent", get(recent))
        .route("/api/v1/requests/{code}", get(show).put(modify))
        .route("/api/v1/requests/{code}/duplicate", post(duplicate))
        .route("/api/v1/requests/{code}/cancel", post(cancel))
        .route("/api/v1/requests/{code}/complete", post(complete))
        .route("/api/v1/requests/{code}/confirm", post(confirm))
        .route("/api/v1/requests/{code}/contracts", get(contracts))
        .route(
            "/api/v1/requests/{code}/contracts/{name}",
            upload.get(contract).delete(delete_contract),
        )
        .route(
            "/api/v1/mailboxes/{address}/slaves",
            get(slaves).post(add_slave),
        )
        .route("/api/v1/slaves/{userid}/activate", post(activate_slave))
        .route("/api/v1/slaves/{userid}/deactivate", post(deactivate_slave))
        .route("/api/v1/slaves/{userid}/password", put(slave_password))
}

fn code(text: &str) -> Result<u64, ApiError> {
    Ok(parse_code(text)?)
}

#[utoipa::path(
    post,
    path = "/api/v1/requests",
    tag = "requests",
    request_body = RequestFile,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = RequestView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn create(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(file): Body<RequestFile>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.create_request(&a, file).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    richiedente: Option<String>,
    titolare: Option<String>,
    order: Option<String>,
    code: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/v1/requests",
    tag = "requests",
    operation_id = "search_requests",
    params(SearchQuery),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<RequestView>),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn search(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Vec<RequestView>> {
    let q = RequestQuery {
        richiedente: q.richiedente,
        titolare: q.titolare,
        order: q.order,
        code: q.code,
    };
    Ok(Json(s.archive.search_requests(&a, &q).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/recent",
    tag = "requests",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<RequestView>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn recent(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<Vec<RequestView>> {
    Ok(Json(s.archive.recent_requests(&a).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/{code}",
    tag = "requests",
    operation_id = "show_request",
    params(("code" = String, Path, description = "the codice attivazione, or a mailbox address")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = RequestView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn show(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(key): Path<String>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.show_request(&a, &key).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/requests/{code}",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    request_body = RequestFile,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = RequestView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn modify(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
    Body(file): Body<RequestFile>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.modify_request(&a, code(&c)?, file).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{code}/duplicate",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the new request", body = RequestView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn duplicate(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.duplicate_request(&a, code(&c)?).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{code}/cancel",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = RequestView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn cancel(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.cancel_request(&a, code(&c)?).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{code}/complete",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    request_body = RequestFile,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = RequestView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn complete(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
    Body(file): Body<RequestFile>,
) -> ApiResult<RequestView> {
    Ok(Json(s.archive.complete_request(&a, code(&c)?, file).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/requests/{code}/confirm",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = ContractOutcome),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn confirm(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
) -> ApiResult<ContractOutcome> {
    Ok(Json(s.archive.confirm_contracts(&a, code(&c)?).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/{code}/contracts",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = ContractOutcome),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn contracts(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(c): Path<String>,
) -> ApiResult<ContractOutcome> {
    Ok(Json(s.archive.list_contracts(&a, code(&c)?).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/requests/{code}/contracts/{name}",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione"), ("name" = String, Path, description = "the document's file name (pdf, tif, jpg, txt, rtf, doc, docx, xml, p7m)")),
    request_body(content = inline(Binary), content_type = "application/octet-stream", description = "the document as is"),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = ContractOutcome),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn add_contract(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path((c, name)): Path<(String, String)>,
    bytes: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<ContractOutcome> {
    let bytes = bytes?;
    let out = s
        .archive
        .add_contract(&a, code(&c)?, &name, bytes.to_vec())
        .await?;
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/api/v1/requests/{code}/contracts/{name}",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione"), ("name" = String, Path, description = "the document's file name (pdf, tif, jpg, txt, rtf, doc, docx, xml, p7m)")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the document as uploaded", content_type = "application/octet-stream", body = inline(Binary)),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn contract(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path((c, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bytes = s.archive.contract_bytes(&a, code(&c)?, &name).await?;
    let disposition = format!(
        "attachment; filename=\"{}\"",
        name.replace(['"', '\\', '\r', '\n'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}

#[utoipa::path(
    delete,
    path = "/api/v1/requests/{code}/contracts/{name}",
    tag = "requests",
    params(("code" = String, Path, description = "the request's codice attivazione"), ("name" = String, Path, description = "the document's file name (pdf, tif, jpg, txt, rtf, doc, docx, xml, p7m)")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = ContractOutcome),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn delete_contract(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path((c, name)): Path<(String, String)>,
) -> ApiResult<ContractOutcome> {
    Ok(Json(s.archive.delete_contract(&a, code(&c)?, &name).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/mailboxes/{address}/slaves",
    tag = "slaves",
    params(("address" = String, Path, description = "the mailbox address")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<SlaveView>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn slaves(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
) -> ApiResult<Vec<SlaveView>> {
    Ok(Json(s.archive.list_slaves(&a, &address).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SlaveBody {
    first_name: String,
    last_name: String,
    description: Option<String>,
    password: String,
    #[serde(default)]
    must_change: bool,
    recovery_email: Option<String>,
    recovery_mobile: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/{address}/slaves",
    tag = "slaves",
    params(("address" = String, Path, description = "the mailbox address")),
    request_body = SlaveBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = SlaveView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn add_slave(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
    Body(b): Body<SlaveBody>,
) -> ApiResult<SlaveView> {
    let n = NewSlave {
        address,
        first_name: b.first_name,
        last_name: b.last_name,
        description: b.description,
        password: b.password,
        must_change: b.must_change,
        recovery_email: b.recovery_email,
        recovery_mobile: b.recovery_mobile,
    };
    Ok(Json(s.archive.add_slave(&a, n).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/slaves/{userid}/activate",
    tag = "slaves",
    params(("userid" = String, Path, description = "a user id")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = SlaveView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn activate_slave(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(userid): Path<String>,
) -> ApiResult<SlaveView> {
    Ok(Json(s.archive.activate_slave(&a, &userid).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/slaves/{userid}/deactivate",
    tag = "slaves",
    params(("userid" = String, Path, description = "a user id")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = SlaveView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn deactivate_slave(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(userid): Path<String>,
) -> ApiResult<SlaveView> {
    Ok(Json(s.archive.deactivate_slave(&a, &userid).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
    #[serde(default)]
    must_change: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/slaves/{userid}/password",
    tag = "slaves",
    params(("userid" = String, Path, description = "a user id")),
    request_body = PasswordBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = SlaveView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn slave_password(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(userid): Path<String>,
    Body(b): Body<PasswordBody>,
) -> ApiResult<SlaveView> {
    let v = s
        .archive
        .set_slave_password(&a, &userid, b.password, b.must_change)
        .await?;
    Ok(Json(v))
}

/// A document's bytes, as is.
#[derive(utoipa::ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Binary(pub Vec<u8>);
