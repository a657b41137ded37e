//! The holders' API under `/api/v1/me/` (PROVISIONING.md §7): a mailbox login (the address,
//! the master user id or a slave user id) opens a session; a session opened with an expired
//! password may only set a new one (`PUT /api/v1/me/password`), which is how a holder whose
//! IMAP, POP3 or SMTP login was refused as expired gets back in.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use pecd_archive::holders::{HolderView, SecurityInfo};
use pecd_archive::login::{self, AuthError, Principal};
use serde::Deserialize;

use super::Body;
use crate::auth::{session_cookie, Authenticated};
use crate::error::{ApiError, ApiResult};
use crate::sessions::Principal as SessionOf;
use crate::HttpState;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/api/v1/me/login", post(holder_login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/me/password", put(change_password))
        .route("/api/v1/me/security", put(security))
}

/// A request of a logged-in holder.
pub struct Holder {
    pub principal: Principal,
    pub expired: bool,
    pub token: String,
}

impl FromRequestParts<Arc<HttpState>> for Holder {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, ApiError> {
        let auth = Authenticated::from_request_parts(parts, state).await?;
        holder_for(state, auth).await
    }
}

/// The holder of an authenticated session, checked against the archive now.
pub async fn holder_for(state: &HttpState, auth: Authenticated) -> Result<Holder, ApiError> {
    let SessionOf::Holder {
        login,
        mailbox,
        identity,
        password_stamp,
        expired,
    } = &auth.session.principal
    else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "holders only",
        ));
    };
    // The session holds while the login still names the same mailbox and identity with
    // the password it was proven with: a password reset by an operator, a deleted and
    // remade mailbox or a renamed one ends it.
    match login::principal_of(state.archive.store(), login).await {
        Ok(Some(principal))
            if principal.mailbox.id == *mailbox
                && principal.identity == *identity
                && principal.password_stamp == *password_stamp =>
        {
            Ok(Holder {
                principal,
                expired: *expired,
                token: auth.token,
            })
        }
        Ok(_) => {
            state.sessions.close(&auth.token);
            Err(ApiError::unauthorized(
                "session expired or unknown; log in again",
            ))
        }
        Err(_) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store is unavailable; try again later",
        )),
    }
}

impl Holder {
    /// Refuses what a session opened with an expired password may not do.
    pub fn check_not_expired(&self, state: &HttpState) -> Result<(), ApiError> {
        if self.expired {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_expired",
                login::expired_text(&state.config),
            ));
        }
        Ok(())
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HolderLogin {
    login: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/api/v1/me/login",
    tag = "holders",
    request_body = HolderLogin,
    security(()),
    responses(
        (status = 200, description = "a holder session; also set as the `pecd_session` cookie", body = HolderSession),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 429, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn holder_login(
    State(s): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Body(req): Body<HolderLogin>,
) -> Result<Response, ApiError> {
    let store = s.archive.store();
    let proven = login::prove(
        store,
        &s.logins,
        &s.config,
        peer.ip(),
        &req.login,
        req.password,
    )
    .await;
    let proven = match proven {
        Ok(p) => p,
        Err(AuthError::Unavailable) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the store is unavailable; try again later",
            ))
        }
        Err(AuthError::Throttled) => {
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "too many failed logins; try again later",
            ))
        }
        Err(AuthError::Closed(text)) => {
            return Err(ApiError::new(StatusCode::FORBIDDEN, "closed", text))
        }
        Err(_) => return Err(ApiError::unauthorized("Credenziali non valide")),
    };
    let (token, csrf) = s.sessions.open(SessionOf::Holder {
        login: req.login.trim().to_string(),
        mailbox: proven.principal.mailbox.id,
        identity: proven.principal.identity.clone(),
        password_stamp: proven.principal.password_stamp,
        expired: proven.expired,
    });
    let view = s
        .archive
        .holder_view(&proven.principal, proven.expired)
        .await?;
    let cookie = session_cookie(&token, s.config.http.session_max_seconds);
    let body = HolderSession {
        token,
        csrf_token: csrf,
        holder: view,
        message: if proven.expired {
            login::expired_text(&s.config)
        } else {
            String::new()
        },
    };
    Ok(([(header::SET_COOKIE, cookie)], Json(body)).into_response())
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "holders",
    security(("bearer" = []), ("session_cookie" = [])),
    responses(
        (status = 200, description = "done", body = HolderView),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn me(State(s): State<Arc<HttpState>>, h: Holder) -> ApiResult<HolderView> {
    Ok(Json(s.archive.holder_view(&h.principal, h.expired).await?))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPassword {
    current_password: String,
    new_password: String,
}

/// `PUT /api/v1/me/password`: the current password again (proven against the store, so a
/// stolen session alone cannot change it) and a new one meeting the policy.
#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    tag = "holders",
    request_body = NewPassword,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = HolderView),
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
async fn change_password(
    State(s): State<Arc<HttpState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    h: Holder,
    Body(b): Body<NewPassword>,
) -> ApiResult<HolderView> {
    change_holder_password(&s, peer, &h, b.current_password, b.new_password).await?;
    Ok(Json(s.archive.holder_view(&h.principal, false).await?))
}

/// Changes the holder's own password (the API's and the self-service page's): the current
/// one proven again, the new one under the policy; the session goes on with the new
/// password and the holder's other sessions end.
pub async fn change_holder_password(
    s: &HttpState,
    peer: SocketAddr,
    h: &Holder,
    current: String,
    new: String,
) -> Result<(), ApiError> {
    let login = match &h.principal.userid {
        Some(u) => u.clone(),
        None => h.principal.mailbox.address.clone(),
    };
    let store = s.archive.store();
    let proven = login::prove(
        store,
        &s.logins,
        &s.config,
        peer.ip(),
        &login,
        current.clone(),
    )
    .await
    .map_err(|_| ApiError::new(StatusCode::FORBIDDEN, "forbidden", "Credenziali non valide"))?;
    if proven.principal.identity != h.principal.identity {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Credenziali non valide",
        ));
    }
    s.archive
        .change_own_password(&h.principal, current, new)
        .await?;
    let stamp = login::principal_of(store, &login)
        .await
        .ok()
        .flatten()
        .map(|p| p.password_stamp);
    s.sessions.update(&h.token, |session| {
        if let SessionOf::Holder {
            expired,
            password_stamp,
            ..
        } = &mut session.principal
        {
            *expired = false;
            if let Some(stamp) = stamp {
                *password_stamp = stamp;
            }
        }
    });
    let identity = h.principal.identity.clone();
    s.sessions.close_others(
        &h.token,
        |p| matches!(p, SessionOf::Holder { identity: i, .. } if *i == identity),
    );
    Ok(())
}

#[utoipa::path(
    put,
    path = "/api/v1/me/security",
    tag = "holders",
    request_body = SecurityInfo,
    security(("bearer" = []), ("session_cookie" = [], "csrf_token" = [])),
    responses(
        (status = 200, description = "done", body = HolderView),
        (status = 400, response = crate::error::ErrorDocument),
        (status = 413, response = crate::error::ErrorDocument),
        (status = 415, response = crate::error::ErrorDocument),
        (status = 422, response = crate::error::ErrorDocument),
        (status = 401, response = crate::error::ErrorDocument),
        (status = 403, response = crate::error::ErrorDocument),
        (status = 503, response = crate::error::ErrorDocument)
    )
)]
async fn security(
    State(s): State<Arc<HttpState>>,
    h: Holder,
    Body(info): Body<SecurityInfo>,
) -> ApiResult<HolderView> {
    h.check_not_expired(&s)?;
    s.archive.set_security_info(&h.principal, info).await?;
    Ok(Json(s.archive.holder_view(&h.principal, false).await?))
}

/// `POST /api/v1/me/login`'s answer: the session, the holder, and the expiry text when the
/// password proven is expired (empty otherwise).
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct HolderSession {
    pub token: String,
    pub csrf_token: String,
    pub holder: pecd_archive::holders::HolderView,
    pub message: String,
}
