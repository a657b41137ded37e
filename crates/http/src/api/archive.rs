//! Operators, customers, accounts, domains, the audit log and the job runner
//! (PROVISIONING.md §2, §5): the same operations as `pecctl operator|customer|account|domain|
//! audit|jobs`, with the same scope rules.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::NaiveDate;
use pecd_archive::audit::AuditQuery;
use pecd_archive::customers::NewAccount;
use pecd_archive::domains::DomainRequest;
use pecd_archive::jobs::JobReport;
use pecd_archive::model::{Account, AuditEntry, Customer, Domain, Operator, Profile};
use pecd_archive::operators::NewOperator;
use serde::{Deserialize, Serialize};

use super::{Body, Query};
use crate::auth::OperatorActor;
use crate::error::ApiResult;
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/whoami", get(whoami))
        .route(
            "/api/v1/operators",
            get(list_operators).post(create_operator),
        )
        .route(
            "/api/v1/operators/{userid}",
            get(show_operator).delete(delete_operator),
        )
        .route(
            "/api/v1/customers",
            get(list_customers).post(create_customer),
        )
        .route("/api/v1/accounts", get(list_accounts).post(create_account))
        .route("/api/v1/domains", get(list_domains).post(request_domain))
        .route("/api/v1/domains/{name}/enable", post(enable_domain))
        .route("/api/v1/audit", get(audit))
        .route("/api/v1/jobs/run", post(run_jobs))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Whoami {
    userid: String,
    profile: Profile,
}

#[utoipa::path(
    get,
    path = "/api/v1/whoami",
    tag = "operators",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the logged-in operator", body = Whoami),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument)
    )
)]
async fn whoami(OperatorActor(a): OperatorActor) -> ApiResult<Whoami> {
    Ok(Json(Whoami {
        userid: a.userid().to_string(),
        profile: a.profile(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/operators",
    tag = "operators",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<Operator>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn list_operators(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<Vec<Operator>> {
    Ok(Json(s.archive.list_operators(&a).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/operators",
    tag = "operators",
    request_body = NewOperator,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Operator),
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
async fn create_operator(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(n): Body<NewOperator>,
) -> ApiResult<Operator> {
    Ok(Json(s.archive.create_operator(&a, n).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/operators/{userid}",
    tag = "operators",
    params(("userid" = String, Path, description = "a user id")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Operator),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn show_operator(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(userid): Path<String>,
) -> ApiResult<Operator> {
    Ok(Json(s.archive.show_operator(&a, &userid).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/operators/{userid}",
    tag = "operators",
    params(("userid" = String, Path, description = "a user id")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the deleted operator; its sessions end", body = Operator),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn delete_operator(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(userid): Path<String>,
) -> ApiResult<Operator> {
    let removed = s.archive.delete_operator(&a, &userid).await?;
    s.sessions.close_all(&crate::sessions::Principal::Operator(
        removed.userid.clone(),
    ));
    Ok(Json(removed))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    code: String,
    name: String,
}

#[utoipa::path(
    get,
    path = "/api/v1/customers",
    tag = "operators",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<Customer>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn list_customers(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<Vec<Customer>> {
    Ok(Json(s.archive.list_customers(&a).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/customers",
    tag = "operators",
    request_body = NewCustomer,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Customer),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn create_customer(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(c): Body<NewCustomer>,
) -> ApiResult<Customer> {
    Ok(Json(s.archive.create_customer(&a, &c.code, &c.name).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AccountFilter {
    customer: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/accounts",
    tag = "operators",
    params(AccountFilter),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<Account>),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn list_accounts(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Query(f): Query<AccountFilter>,
) -> ApiResult<Vec<Account>> {
    Ok(Json(
        s.archive.list_accounts(&a, f.customer.as_deref()).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/accounts",
    tag = "operators",
    request_body = NewAccount,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Account),
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
async fn create_account(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(n): Body<NewAccount>,
) -> ApiResult<Account> {
    Ok(Json(s.archive.create_account(&a, n).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/domains",
    tag = "operators",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<Domain>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn list_domains(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<Vec<Domain>> {
    Ok(Json(s.archive.list_domains(&a).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/domains",
    tag = "operators",
    request_body = DomainRequest,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Domain),
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
async fn request_domain(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(r): Body<DomainRequest>,
) -> ApiResult<Domain> {
    Ok(Json(s.archive.request_domain(&a, r).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/domains/{name}/enable",
    tag = "operators",
    params(("name" = String, Path, description = "the domain")),
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = Domain),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn enable_domain(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(name): Path<String>,
) -> ApiResult<Domain> {
    Ok(Json(s.archive.enable_domain(&a, &name).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditFilter {
    since: Option<NaiveDate>,
    operator: Option<String>,
    target: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "operators",
    params(AuditFilter),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<AuditEntry>),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn audit(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Query(f): Query<AuditFilter>,
) -> ApiResult<Vec<AuditEntry>> {
    let q = AuditQuery {
        since: f.since,
        operator: f.operator,
        target: f.target,
        limit: f.limit,
    };
    Ok(Json(s.archive.audit(&a, &q).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/jobs/run",
    tag = "operators",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "what the run did", body = JobReport),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn run_jobs(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<JobReport> {
    a.check_admin("jobs run")?;
    let report = s.lifecycle.run_jobs().await?;
    // First passwords are shown once: here, so the request no longer keeps them.
    s.archive.forget_reported_passwords(&report).await?;
    Ok(Json(report))
}
