//! Mailboxes of the archive (PROVISIONING.md §4) in the operators' API: the operations of
//! `pecctl mailbox search|show|revoke|reactivate|change|massive|to-standard|services`, with
//! the same scope rules and the same outcome per mailbox for batches.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pecd_archive::mailboxes::ops::{Change, Form};
use pecd_archive::mailboxes::search::{csv, SearchQuery, SearchResult};
use pecd_archive::mailboxes::services::ServicesAsk;
use pecd_archive::mailboxes::show::CasellaDetail;
use pecd_archive::mailboxes::Outcome;
use pecd_archive::model::{Casella, RevokeReason};
use serde::Deserialize;

use super::{Body, Query};
use crate::auth::OperatorActor;
use crate::error::{ApiError, ApiResult};
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/mailboxes", get(search))
        .route("/api/v1/mailboxes.csv", get(report))
        .route("/api/v1/mailboxes/revoke", post(revoke))
        .route("/api/v1/mailboxes/reactivate", post(reactivate))
        .route("/api/v1/mailboxes/services", post(services))
        .route("/api/v1/mailboxes/{address}", get(show).patch(change))
        .route("/api/v1/mailboxes/{address}/massive", put(massive))
        .route("/api/v1/mailboxes/{address}/to-standard", post(to_standard))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    address: Option<String>,
    userid: Option<String>,
    activated_from: Option<String>,
    activated_to: Option<String>,
    limit: Option<usize>,
}

impl From<SearchParams> for SearchQuery {
    fn from(p: SearchParams) -> SearchQuery {
        SearchQuery {
            address: p.address,
            userid: p.userid,
            activated_from: p.activated_from,
            activated_to: p.activated_to,
            limit: p.limit,
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/mailboxes",
    tag = "mailboxes",
    operation_id = "search_mailboxes",
    params(SearchParams),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = SearchResult),
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
    Query(p): Query<SearchParams>,
) -> ApiResult<SearchResult> {
    Ok(Json(s.archive.search(&a, &p.into()).await?))
}

/// The search as the CSV report (`;`-separated, UTF-8, a header row).
#[utoipa::path(
    get,
    path = "/api/v1/mailboxes.csv",
    tag = "mailboxes",
    params(SearchParams),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the search as a `;`-separated CSV with a header row", content_type = "text/csv", body = String),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn report(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Query(p): Query<SearchParams>,
) -> Result<Response, ApiError> {
    let r = s.archive.search(&a, &p.into()).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"caselle.csv\"",
            ),
        ],
        csv(&r.rows),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/mailboxes/{address}",
    tag = "mailboxes",
    operation_id = "show_mailbox",
    params(("address" = String, Path, description = "the mailbox address")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = CasellaDetail),
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
    Path(address): Path<String>,
) -> ApiResult<CasellaDetail> {
    match s.archive.casella_detail(&a, &address).await? {
        Some(d) => Ok(Json(d)),
        None => Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("casella inesistente: {address}"),
        )),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    addresses: Vec<String>,
    reason: RevokeReason,
    /// The revocation form (customer-request): a name and its bytes in base64.
    form: Option<Form>,
}

#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/revoke",
    tag = "mailboxes",
    request_body = RevokeBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the outcome per mailbox", body = Vec<Outcome>),
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
async fn revoke(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(b): Body<RevokeBody>,
) -> ApiResult<Vec<Outcome>> {
    Ok(Json(
        s.archive.revoke(&a, &b.addresses, b.reason, b.form).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Addresses {
    addresses: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/reactivate",
    tag = "mailboxes",
    request_body = Addresses,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the outcome per mailbox", body = Vec<Outcome>),
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
async fn reactivate(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(b): Body<Addresses>,
) -> ApiResult<Vec<Outcome>> {
    Ok(Json(s.archive.reactivate(&a, &b.addresses).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServicesBody {
    addresses: Vec<String>,
    archive_gb: Option<u32>,
    sms: Option<bool>,
    #[serde(default)]
    restore_quota: bool,
    order: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/services",
    tag = "mailboxes",
    request_body = ServicesBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the outcome per mailbox", body = Vec<Outcome>),
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
async fn services(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(b): Body<ServicesBody>,
) -> ApiResult<Vec<Outcome>> {
    let ask = ServicesAsk {
        archive_gb: b.archive_gb,
        sms: b.sms,
        restore_quota: b.restore_quota,
        order: b.order,
    };
    Ok(Json(s.archive.set_services(&a, &b.addresses, ask).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    new_address: Option<String>,
    description: Option<String>,
    expiry: Option<String>,
}

#[utoipa::path(
    patch,
    path = "/api/v1/mailboxes/{address}",
    tag = "mailboxes",
    params(("address" = String, Path, description = "the mailbox address")),
    request_body = ChangeBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Casella),
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
async fn change(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
    Body(b): Body<ChangeBody>,
) -> ApiResult<Casella> {
    let ch = Change {
        new_address: b.new_address,
        description: b.description,
        expiry: b.expiry,
    };
    Ok(Json(s.archive.change(&a, &address, ch).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MassiveBody {
    on: bool,
}

#[utoipa::path(
    put,
    path = "/api/v1/mailboxes/{address}/massive",
    tag = "mailboxes",
    params(("address" = String, Path, description = "the mailbox address")),
    request_body = MassiveBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Casella),
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
async fn massive(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
    Body(b): Body<MassiveBody>,
) -> ApiResult<Casella> {
    Ok(Json(s.archive.set_massive(&a, &address, b.on).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/mailboxes/{address}/to-standard",
    tag = "mailboxes",
    params(("address" = String, Path, description = "the mailbox address")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Casella),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn to_standard(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
) -> ApiResult<Casella> {
    Ok(Json(s.archive.to_standard(&a, &address).await?))
}
