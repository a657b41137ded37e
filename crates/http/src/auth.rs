//! Who is calling the API. A session token comes as `Authorization: Bearer TOKEN`, or as
//! the `pecd_session` cookie (HttpOnly, Secure, SameSite=Strict) set at login; a request
//! authenticated by the cookie that changes something must also carry the session's CSRF
//! token in `X-CSRF-Token`, so that no other site can make a browser act. Operators log in
//! with user id and password under the same brute-force protection as mail logins.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::Json;
use pecd_archive::Actor;
use pecd_common::throttle::login_key;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;
use crate::sessions::{Principal, Session};
use crate::HttpState;

pub const COOKIE: &str = "pecd_session";

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// The value of the cookie `name` of a request.
pub fn cookie_named<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn cookie(headers: &HeaderMap) -> Option<&str> {
    cookie_named(headers, COOKIE)
}

/// The token of a request and whether it came in the cookie.
fn token(headers: &HeaderMap) -> Option<(&str, bool)> {
    bearer(headers)
        .map(|t| (t, false))
        .or_else(|| cookie(headers).map(|t| (t, true)))
}

/// The `Set-Cookie` value carrying `token` for `max_age` seconds (an empty token and 0
/// clear it): HttpOnly, Secure, SameSite=Strict, for the whole site.
pub fn session_cookie(token: &str, max_age: u64) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={max_age}")
}

/// The live session of a request's cookie, without the CSRF check: for the web pages, whose
/// forms carry the session's CSRF token in a field instead of a header.
pub fn cookie_session(state: &HttpState, headers: &HeaderMap) -> Option<Authenticated> {
    let token = cookie(headers)?;
    let session = state.sessions.get(token)?;
    Some(Authenticated {
        session,
        token: token.to_string(),
    })
}

/// A request with a live session.
pub struct Authenticated {
    pub session: Session,
    pub token: String,
}

impl FromRequestParts<Arc<HttpState>> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, ApiError> {
        let (token, from_cookie) =
            token(&parts.headers).ok_or_else(|| ApiError::unauthorized("login required"))?;
        let session = state
            .sessions
            .get(token)
            .ok_or_else(|| ApiError::unauthorized("session expired or unknown; log in again"))?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if from_cookie && !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok());
            if sent != Some(session.csrf.as_str()) {
                return Err(ApiError::new(
                    axum::http::StatusCode::FORBIDDEN,
                    "csrf",
                    "missing or wrong X-CSRF-Token",
                ));
            }
        }
        Ok(Authenticated {
            session,
            token: token.to_string(),
        })
    }
}

/// A request of a logged-in operator, as the archive's actor.
pub struct OperatorActor(pub Actor);

impl FromRequestParts<Arc<HttpState>> for OperatorActor {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        let Principal::Operator(userid) = &auth.session.principal else {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "operators only",
            ));
        };
        match state.archive.actor(Some(userid)).await {
            Ok(actor) => Ok(OperatorActor(actor)),
            // The operator was deleted since: the session ends with it.
            Err(_) => {
                state.sessions.close(&auth.token);
                Err(ApiError::unauthorized(
                    "session expired or unknown; log in again",
                ))
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub userid: String,
    pub password: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoginReply {
    pub token: String,
    pub csrf_token: String,
    pub userid: String,
    pub profile: pecd_archive::model::Profile,
    pub idle_seconds: u64,
}

/// `POST /api/v1/login`: an operator's user id and password for a session.
#[utoipa::path(
    post,
    path = "/api/v1/login",
    tag = "session",
    request_body = LoginRequest,
    security(()),
    responses(
        (status = 200, description = "a session; also set as the `pecd_session` cookie", body = LoginReply),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 429, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
pub async fn login(
    State(state): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    body: Result<Json<LoginRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(req) = body?;
    let (token, csrf, op) = operator_session(&state, peer.ip(), &req.userid, req.password).await?;
    let cookie = session_cookie(&token, state.config.http.session_max_seconds);
    let reply = LoginReply {
        token,
        csrf_token: csrf,
        userid: op.userid,
        profile: op.profile,
        idle_seconds: state.config.http.session_idle_seconds,
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(reply)).into_response())
}

/// An operator's login, slowed and blocked on failures as mail logins are: a new session's
/// token and CSRF token, and the operator. The API's login and the console's use it.
pub async fn operator_session(
    state: &HttpState,
    ip: std::net::IpAddr,
    userid: &str,
    password: String,
) -> Result<(String, String, pecd_archive::model::Operator), ApiError> {
    let key = login_key(userid);
    if state.logins.check(ip, &key).is_err() {
        return Err(ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            "throttled",
            "too many failed logins; try again later",
        ));
    }
    match state.archive.operator_login(userid, password).await {
        Ok(op) => {
            let (token, csrf) = state.sessions.open(Principal::Operator(op.userid.clone()));
            Ok((token, csrf, op))
        }
        Err(e) if e.kind == pecd_archive::ErrorKind::Forbidden => {
            if let Some(b) = state.logins.failed(ip, &key) {
                tracing::warn!(%ip, login = ?key, until = ?b, "HTTPS operator logins blocked");
            }
            Err(ApiError::unauthorized(e.message))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /api/v1/logout`: ends the session and clears the cookie.
#[utoipa::path(
    post,
    path = "/api/v1/logout",
    tag = "session",
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "the session ended and its cookie cleared", body = LoggedOut),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument)
    )
)]
pub async fn logout(State(state): State<Arc<HttpState>>, auth: Authenticated) -> Response {
    state.sessions.close(&auth.token);
    let clear = session_cookie("", 0);
    (
        [(header::SET_COOKIE, clear)],
        Json(LoggedOut { logged_out: true }),
    )
        .into_response()
}

/// `POST /api/v1/logout`'s answer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct LoggedOut {
    pub logged_out: bool,
}
