//! The holder's security information under `/account/security` (PROVISIONING.md §7): the
//! recovery e-mail and mobile number of the user id logged in with, where a forgotten
//! password's one-time code is sent ([`super::recovery`]). The same operation as the API's
//! `PUT /api/v1/me/security` (`Archive::set_security_info`); both values are replaced, an
//! empty field clears its value.

use std::sync::Arc;

use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::holders::SecurityInfo;
use serde::Deserialize;

use super::{answer, csrf_field, errors, page, same_token, see_other, signed_in};
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new().route("/account/security", get(form).post(save))
}

fn security_page(
    csrf: &str,
    who: &str,
    info: &SecurityInfo,
    saved: bool,
    error: Option<Markup>,
) -> Markup {
    page(
        "Informazioni di sicurezza",
        true,
        html! {
            @if saved {
                div class="ok" role="status" { p { "Informazioni di sicurezza salvate." } }
            }
            @if let Some(e) = error { (e) }
            p { "Se dimentica la password di " strong { (who) } ", un codice monouso per sceglierne una nuova \
                 viene inviato a questi recapiti. Un campo lasciato vuoto cancella il recapito." }
            form method="post" action="/account/security" {
                (csrf_field(csrf))
                label for="recovery_email" { "E-mail di recupero" }
                input id="recovery_email" name="recovery_email" type="email" autocomplete="email"
                    value=(info.recovery_email.clone().unwrap_or_default());
                label for="recovery_mobile" { "Cellulare di recupero" }
                input id="recovery_mobile" name="recovery_mobile" type="tel" autocomplete="tel"
                    aria-describedby="mobile-hint" value=(info.recovery_mobile.clone().unwrap_or_default());
                p id="mobile-hint" class="hint" { "Con il prefisso internazionale, per esempio +393331234567." }
                button type="submit" { "Salva" }
            }
        },
    )
}

#[derive(Deserialize)]
struct Shown {
    #[serde(default)]
    saved: Option<String>,
}

async fn form(State(s): S, headers: HeaderMap, Query(q): Query<Shown>) -> Response {
    let (h, csrf) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    let view = match s.archive.holder_view(&h.principal, false).await {
        Ok(v) => v,
        Err(e) => {
            let e = errors(&e.message, &e.details);
            return answer(StatusCode::SERVICE_UNAVAILABLE, page("Errore", true, e));
        }
    };
    let info = SecurityInfo {
        recovery_email: view.recovery_email,
        recovery_mobile: view.recovery_mobile,
    };
    let who = h.principal.identity.clone();
    let saved = q.saved.is_some();
    answer(
        StatusCode::OK,
        security_page(&csrf, &who, &info, saved, None),
    )
}

#[derive(Deserialize)]
struct SecurityForm {
    csrf: String,
    #[serde(default)]
    recovery_email: String,
    #[serde(default)]
    recovery_mobile: String,
}

fn given(field: &str) -> Option<String> {
    Some(field.trim().to_string()).filter(|f| !f.is_empty())
}

async fn save(State(s): S, headers: HeaderMap, Form(f): Form<SecurityForm>) -> Response {
    let (h, csrf) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    let info = SecurityInfo {
        recovery_email: given(&f.recovery_email),
        recovery_mobile: given(&f.recovery_mobile),
    };
    let who = h.principal.identity.clone();
    let refuse = |status, info: &SecurityInfo, e: Markup| {
        answer(status, security_page(&csrf, &who, info, false, Some(e)))
    };
    if !same_token(&csrf, &f.csrf) {
        let e = errors("Modulo scaduto: riprovare.", &[]);
        return refuse(StatusCode::FORBIDDEN, &info, e);
    }
    match s
        .archive
        .set_security_info(&h.principal, info.clone())
        .await
    {
        Ok(()) => see_other("/account/security?saved=1"),
        Err(e) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &info,
            errors(&e.message, &e.details),
        ),
    }
}
