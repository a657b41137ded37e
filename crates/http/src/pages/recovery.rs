//! The forgotten password under `/account/recovery` (PROVISIONING.md §7): the holder gives
//! the login (address, master or slave user id), a one-time code goes to its recovery
//! e-mail and mobile number, and with the code the holder sets a new password, the
//! policy's rules shown and each unmet one named. The same operations as the API's
//! `/api/v1/me/recovery` and `/api/v1/me/recovery/confirm`
//! ([`crate::api::lifecycle::ask_recovery`], [`crate::api::lifecycle::confirm_recovery`]).
//!
//! No session is needed; the forms carry the double-submit token of the login form. The
//! login travels from one step to the next in a short-lived HttpOnly cookie of its own,
//! never in a URL; the code and the password only in the POSTed forms.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::recovery::CODE_SECONDS;
use pecd_common::password::PolicyViolation;
use serde::Deserialize;

use super::{
    answer, csrf_field, errors, page, random_token, same_token, see_other, with_form_cookie,
    LOGIN_COOKIE,
};
use crate::api::lifecycle::{ask_recovery, confirm_recovery, RECOVERY_SENT};
use crate::auth::cookie_named;
use crate::HttpState;

type S = State<Arc<HttpState>>;

/// The cookie carrying the login between the two steps (hex, so any login fits).
const RECOVERY_COOKIE: &str = "pecd_recovery";

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/account/recovery", get(ask_form).post(ask))
        .route("/account/recovery/confirm", get(confirm_form).post(confirm))
        .route("/account/recovery/done", get(done))
}

pub(super) fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) || text.len() > 1024 {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

/// The login of the recovery under way, from its cookie.
fn recovering(headers: &HeaderMap) -> Option<String> {
    cookie_named(headers, RECOVERY_COOKIE)
        .and_then(unhex)
        .filter(|l| !l.trim().is_empty())
}

/// `r` setting (or, with `None`, clearing) the cookie of the login under recovery.
fn with_recovery_cookie(mut r: Response, login: Option<&str>) -> Response {
    let cookie = match login {
        Some(l) => format!(
            "{RECOVERY_COOKIE}={}; Path=/account/recovery; HttpOnly; Secure; SameSite=Strict; \
             Max-Age={CODE_SECONDS}",
            hex(l)
        ),
        None => format!(
            "{RECOVERY_COOKIE}=; Path=/account/recovery; HttpOnly; Secure; SameSite=Strict; \
             Max-Age=0"
        ),
    };
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}

/// Whether a form shown before login came back with the token of its cookie.
fn token_ok(headers: &HeaderMap, given: &str) -> bool {
    let expected = cookie_named(headers, LOGIN_COOKIE).unwrap_or_default();
    !expected.is_empty() && same_token(expected, given)
}

fn ask_page(token: &str, login: &str, error: Option<Markup>) -> Markup {
    page(
        "Password dimenticata",
        false,
        html! {
            @if let Some(e) = error { (e) }
            p { "Indichi la casella o il nome utente: le invieremo un codice monouso all'indirizzo \
                 e-mail e al numero di cellulare indicati nelle sue informazioni di sicurezza." }
            form method="post" action="/account/recovery" {
                (csrf_field(token))
                label for="login" { "Indirizzo PEC o nome utente" }
                input id="login" name="login" type="text" autocomplete="username" required value=(login);
                button type="submit" { "Invia il codice" }
            }
            p { a href="/account/login" { "Torna all'accesso" } }
        },
    )
}

async fn ask_form() -> Response {
    let token = random_token();
    with_form_cookie(answer(StatusCode::OK, ask_page(&token, "", None)), &token)
}

#[derive(Deserialize)]
struct AskForm {
    csrf: String,
    login: String,
}

async fn ask(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<AskForm>,
) -> Response {
    let token = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !token_ok(&headers, &f.csrf) {
        let e = errors("Modulo scaduto: ricaricare la pagina e riprovare.", &[]);
        return answer(StatusCode::FORBIDDEN, ask_page(token, &f.login, Some(e)));
    }
    let login = f.login.trim();
    if login.is_empty() {
        let e = errors("Indicare la casella o il nome utente.", &[]);
        return answer(
            StatusCode::UNPROCESSABLE_ENTITY,
            ask_page(token, login, Some(e)),
        );
    }
    match ask_recovery(&s, peer, login).await {
        Ok(()) => with_recovery_cookie(see_other("/account/recovery/confirm"), Some(login)),
        Err(e) => {
            let text = if e.status == StatusCode::TOO_MANY_REQUESTS {
                "Troppe richieste: riprovare più tardi."
            } else {
                "Servizio momentaneamente non disponibile."
            };
            answer(e.status, ask_page(token, login, Some(errors(text, &[]))))
        }
    }
}

fn confirm_page(token: &str, login: &str, error: Option<Markup>) -> Markup {
    page(
        "Nuova password con il codice",
        false,
        html! {
            @if let Some(e) = error { (e) } @else {
                div class="ok" role="status" { p { (RECOVERY_SENT) "." } }
            }
            p { "Utente: " strong { (login) } ". Il codice vale " (CODE_SECONDS / 60) " minuti e una sola volta." }
            p id="regole" { "La nuova password deve avere:" }
            ul aria-labelledby="regole" {
                @for r in PolicyViolation::ALL { li { (r.regola()) } }
            }
            form method="post" action="/account/recovery/confirm" {
                (csrf_field(token))
                label for="code" { "Codice ricevuto" }
                input id="code" name="code" type="text" inputmode="numeric" autocomplete="one-time-code" required;
                label for="new_password" { "Nuova password" }
                input id="new_password" name="new_password" type="password" autocomplete="new-password" required aria-describedby="regole";
                label for="confirm_password" { "Ripeta la nuova password" }
                input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required;
                button type="submit" { "Imposta la nuova password" }
            }
            p { a href="/account/recovery" { "Richiedi un nuovo codice" } }
        },
    )
}

async fn confirm_form(headers: HeaderMap) -> Response {
    let Some(login) = recovering(&headers) else {
        return see_other("/account/recovery");
    };
    let token = random_token();
    let r = answer(StatusCode::OK, confirm_page(&token, &login, None));
    with_form_cookie(r, &token)
}

#[derive(Deserialize)]
struct ConfirmForm {
    csrf: String,
    code: String,
    new_password: String,
    confirm_password: String,
}

async fn confirm(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let Some(login) = recovering(&headers) else {
        return see_other("/account/recovery");
    };
    let token = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    let refuse = |status, e: Markup| answer(status, confirm_page(token, &login, Some(e)));
    if !token_ok(&headers, &f.csrf) {
        let e = errors("Modulo scaduto: ricaricare la pagina e riprovare.", &[]);
        return refuse(StatusCode::FORBIDDEN, e);
    }
    if let Some(e) = super::new_password_refusal(&f.new_password, &f.confirm_password) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, e);
    }
    match confirm_recovery(&s, peer, &login, &f.code, f.new_password).await {
        Ok(()) => with_recovery_cookie(see_other("/account/recovery/done"), None),
        Err(e) => {
            let text = match e.status {
                StatusCode::TOO_MANY_REQUESTS => "Troppi tentativi falliti: riprovare più tardi.",
                StatusCode::SERVICE_UNAVAILABLE => "Servizio momentaneamente non disponibile.",
                _ => &e.body.message,
            };
            refuse(e.status, errors(text, &e.body.details))
        }
    }
}

async fn done() -> Response {
    let content = html! {
        div class="ok" role="status" {
            p { "Password cambiata: ora può accedere con la nuova password." }
        }
        p { a href="/account/login" { "Vai all'accesso" } }
    };
    answer(StatusCode::OK, page("Password cambiata", false, content))
}
