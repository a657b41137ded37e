//! The lifecycle over HTTPS (PROVISIONING.md §6, §7, §8): for operators, expiry management
//! settings, the password campaign (JSON or the CSV report) and its block, and a mailbox's
//! notification settings, with the same scope rules as `pecctl expiry|password|mailbox
//! settings`; for holders, their own settings (`/api/v1/me/settings`) and the reset of a
//! forgotten password with a one-time code sent to their recovery contact
//! (`/api/v1/me/recovery`, `/api/v1/me/recovery/confirm`, no session needed).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pecd_archive::campaign::{BlockResult, CampaignReport};
use pecd_archive::expiry::{ExpiryConfig, ExpirySet};
use pecd_archive::mailboxes::ops::parse_date;
use pecd_archive::settings::{MailboxSettings, SettingsSet};
use pecd_common::throttle::login_key;
use serde::Deserialize;

use super::holders::Holder;
use super::{Body, Query};
use crate::auth::OperatorActor;
use crate::error::{ApiError, ApiResult};
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/expiry", get(list_expiry))
        .route("/api/v1/expiry/{customer}/{account}", put(set_expiry))
        .route("/api/v1/password/campaign", get(campaign))
        .route("/api/v1/password/block", post(block))
        .route(
            "/api/v1/mailboxes/{address}/settings",
            get(mailbox_settings).put(set_mailbox_settings),
        )
        .route("/api/v1/me/settings", get(my_settings).put(set_my_settings))
        .route("/api/v1/me/recovery", post(recovery))
        .route("/api/v1/me/recovery/confirm", post(recovery_confirm))
}

#[utoipa::path(
    get,
    path = "/api/v1/expiry",
    tag = "lifecycle",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = Vec<ExpiryConfig>),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn list_expiry(State(s): S, OperatorActor(a): OperatorActor) -> ApiResult<Vec<ExpiryConfig>> {
    Ok(Json(s.archive.expiry_configs(&a).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpiryBody {
    enabled: bool,
    /// Report addresses separated by `;`.
    #[serde(default)]
    report: Option<String>,
    #[serde(default)]
    auto_revoke: Option<bool>,
}

#[utoipa::path(
    put,
    path = "/api/v1/expiry/{customer}/{account}",
    tag = "lifecycle",
    params(("customer" = String, Path, description = "the customer code"), ("account" = String, Path, description = "the account code")),
    request_body = ExpiryBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = ExpiryConfig),
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
async fn set_expiry(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path((customer, account)): Path<(String, String)>,
    Body(b): Body<ExpiryBody>,
) -> ApiResult<ExpiryConfig> {
    let set = ExpirySet {
        customer,
        account,
        enabled: b.enabled,
        report: b.report,
        auto_revoke: b.auto_revoke,
    };
    Ok(Json(s.archive.set_expiry_config(&a, set).await?))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CampaignParams {
    #[serde(default)]
    account: Option<String>,
    /// `csv` for the `;`-separated report.
    #[serde(default)]
    format: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/v1/password/campaign",
    tag = "lifecycle",
    params(CampaignParams),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "the campaign report, as JSON or (format=csv) the `;`-separated CSV", content((CampaignReport = "application/json"), (String = "text/csv"))),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn campaign(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Query(p): Query<CampaignParams>,
) -> Result<Response, ApiError> {
    let report: CampaignReport = s
        .archive
        .password_campaign(&a, p.account.as_deref())
        .await?;
    match p.format.as_deref() {
        None | Some("json") => Ok(Json(report).into_response()),
        Some("csv") => Ok((
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"campagna-password.csv\"",
                ),
            ],
            report.csv(),
        )
            .into_response()),
        Some(other) => Err(ApiError::bad_request(format!(
            "format {other:?}: json or csv"
        ))),
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BlockBody {
    list: String,
    /// YYYY-MM-DD.
    on: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/password/block",
    tag = "lifecycle",
    request_body = BlockBody,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = BlockResult),
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
async fn block(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Body(b): Body<BlockBody>,
) -> ApiResult<BlockResult> {
    let on = parse_date("on", &b.on)?;
    let done = s.archive.password_block(&a, &b.list, on).await?;
    let mut report = pecd_archive::report::JobReport::default();
    if let Err(e) = s.lifecycle.send_campaign_reminders(&mut report).await {
        tracing::warn!(error = %e, "campaign reminders left for the next run");
    }
    Ok(Json(done))
}

#[utoipa::path(
    get,
    path = "/api/v1/mailboxes/{address}/settings",
    tag = "lifecycle",
    params(("address" = String, Path, description = "the mailbox address")),
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = MailboxSettings),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn mailbox_settings(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
) -> ApiResult<MailboxSettings> {
    Ok(Json(s.archive.mailbox_settings(&a, &address).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/mailboxes/{address}/settings",
    tag = "lifecycle",
    params(("address" = String, Path, description = "the mailbox address")),
    request_body = SettingsSet,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = MailboxSettings),
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
async fn set_mailbox_settings(
    State(s): S,
    OperatorActor(a): OperatorActor,
    Path(address): Path<String>,
    Body(set): Body<SettingsSet>,
) -> ApiResult<MailboxSettings> {
    Ok(Json(
        s.archive.set_mailbox_settings(&a, &address, set).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/v1/me/settings",
    tag = "holders",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = MailboxSettings),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn my_settings(State(s): S, h: Holder) -> ApiResult<MailboxSettings> {
    h.check_not_expired(&s)?;
    Ok(Json(
        s.archive.settings_of(&h.principal.mailbox.address).await?,
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/me/settings",
    tag = "holders",
    request_body = SettingsSet,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = MailboxSettings),
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
async fn set_my_settings(
    State(s): S,
    h: Holder,
    Body(set): Body<SettingsSet>,
) -> ApiResult<MailboxSettings> {
    h.check_not_expired(&s)?;
    Ok(Json(
        s.archive.set_holder_settings(&h.principal, set).await?,
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryAsk {
    login: String,
}

/// What a recovery request always answers, whoever the login names.
pub(crate) const RECOVERY_SENT: &str =
    "Se l'utente esiste e ha informazioni di sicurezza, un codice è \
                             stato inviato ai suoi recapiti";

/// `POST /api/v1/me/recovery`: a code to the login's recovery contact, if it has one. The
/// answer is the same for every login, so it tells nobody which logins exist.
#[utoipa::path(
    post,
    path = "/api/v1/me/recovery",
    tag = "holders",
    request_body = RecoveryAsk,
    security(()),
    responses(
        (status = 202, description = "the same answer for every login", body = Message),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 429, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn recovery(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(b): Body<RecoveryAsk>,
) -> Result<Response, ApiError> {
    ask_recovery(&s, peer, &b.login).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(Message {
            message: RECOVERY_SENT.to_string(),
        }),
    )
        .into_response())
}

/// Sends a one-time code to the recovery contact of `login`, if it has one (the API's
/// and the self-service page's): throttled per client address, the same outcome whoever
/// the login names.
pub(crate) async fn ask_recovery(
    s: &HttpState,
    peer: SocketAddr,
    login: &str,
) -> Result<(), ApiError> {
    let key = login_key(login);
    if s.logins.check(peer.ip(), &key).is_err() {
        return Err(throttled());
    }
    // Each request counts against the client's address (not the login: nobody can lock a
    // holder out by asking for codes); the login's own codes are capped per day.
    s.logins.failed_from(peer.ip());
    if let Some(code) = s.archive.start_recovery(login).await? {
        // Sent in the background: the answer takes the same time whoever the login names.
        let lifecycle = s.lifecycle.clone();
        tokio::spawn(async move {
            if let Err(e) = lifecycle.send_recovery_code(&code).await {
                tracing::warn!(identity = %code.principal.identity, error = %e, "recovery code not sent");
            }
        });
    }
    Ok(())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoveryConfirm {
    login: String,
    code: String,
    new_password: String,
}

/// `POST /api/v1/me/recovery/confirm`: the code and a new password meeting the policy. A
/// wrong code counts as a failed login for the brute-force protection.
#[utoipa::path(
    post,
    path = "/api/v1/me/recovery/confirm",
    tag = "holders",
    request_body = RecoveryConfirm,
    security(()),
    responses(
        (status = 200, description = "the password was changed", body = Message),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 404, response = crate::error::ErrorDocument),
        (status = 409, response = crate::error::ErrorDocument),
        (status = 429, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn recovery_confirm(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(b): Body<RecoveryConfirm>,
) -> Result<Response, ApiError> {
    confirm_recovery(&s, peer, &b.login, &b.code, b.new_password).await?;
    Ok(Json(Message {
        message: "Password cambiata: ora può accedere con la nuova password".to_string(),
    })
    .into_response())
}

/// Sets the new password of `login` if `code` is its live one-time code (the API's and
/// the self-service page's); a wrong code counts as a failed login.
pub(crate) async fn confirm_recovery(
    s: &HttpState,
    peer: SocketAddr,
    login: &str,
    code: &str,
    new_password: String,
) -> Result<(), ApiError> {
    let key = login_key(login);
    if s.logins.check(peer.ip(), &key).is_err() {
        return Err(throttled());
    }
    match s.archive.finish_recovery(login, code, new_password).await {
        Ok(()) => Ok(()),
        Err(e) => {
            if e.message.starts_with("Codice") {
                s.logins.failed(peer.ip(), &key);
            }
            Err(e.into())
        }
    }
}

fn throttled() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "throttled",
        "too many failed attempts; try again later",
    )
}

/// A message for people (`/api/v1/me/recovery` and its confirmation).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Message {
    pub message: String,
}
