//! The holders' self-service pages under `/account/` (PROVISIONING.md §7, §8): login with the
//! address, the master or a slave user id; the forced change of an expired password, with
//! the policy's rules shown and each unmet rule named; the notification settings (new-mail
//! addresses, the daily SMS); logout. The same operations as the holders' API, on the same
//! sessions.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::login::{self, AuthError};
use pecd_archive::settings::{MailboxSettings, SettingsSet};
use pecd_common::password::PolicyViolation;
use serde::Deserialize;

use crate::pages::CsrfOnly;

use super::{
    answer, csrf_field, current, errors, page, random_token, same_token, see_other,
    with_form_cookie, LOGIN_COOKIE,
};
use crate::api::holders::{change_holder_password, Holder};
use crate::auth::{cookie_named, session_cookie};
use crate::sessions::Principal as SessionOf;
use crate::HttpState;

type S = State<Arc<HttpState>>;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/account/", get(home))
        .route("/account/style.css", get(style))
        .route("/account/login", get(login_form).post(login))
        .route("/account/logout", get(logout_form).post(logout))
        .route("/account/password", get(password_form).post(password))
        .route("/account/settings", get(settings_form).post(settings))
        .merge(super::recovery::routes())
        .merge(super::security::routes())
        .merge(super::archive::routes())
        .merge(super::migration::routes())
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        super::STYLE,
    )
        .into_response()
}

#[derive(Deserialize)]
struct Shown {
    #[serde(default)]
    done: Option<String>,
}

async fn home(State(s): S, headers: HeaderMap, Query(q): Query<Shown>) -> Response {
    let Some((h, _)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    if h.expired {
        return see_other("/account/password");
    }
    let view = s.archive.holder_view(&h.principal, false).await.ok();
    let settings = s
        .archive
        .settings_of(&h.principal.mailbox.address)
        .await
        .ok();
    let content = html! {
        @if let Some(done) = q.done.as_deref() {
            div class="ok" role="status" { p { (done_text(done)) } }
        }
        dl {
            dt { "Casella" } dd { (h.principal.mailbox.address) }
            @if let Some(u) = &h.principal.userid { dt { "Utente" } dd { (u) } }
            @if let Some(v) = &view {
                dt { "Recupero password" }
                dd { (v.recovery_email.clone().or(v.recovery_mobile.clone()).unwrap_or_else(|| "non indicato".into())) }
            }
            @if let Some(st) = &settings {
                dt { "Notifiche di nuovi messaggi" }
                dd { @if st.notify.is_empty() { "nessuna" } @else { (st.notify.join(", ")) } }
                dt { "SMS" }
                dd { @if st.sms { "attivo, ore " (st.sms_hour) } @else { "non attivo" } }
            }
        }
    };
    answer(StatusCode::OK, page("Area personale", true, content))
}

fn done_text(what: &str) -> &'static str {
    match what {
        "password" => "Password cambiata.",
        "settings" => "Impostazioni salvate.",
        _ => "Fatto.",
    }
}

fn login_page(token: &str, login: &str, error: Option<Markup>) -> Markup {
    page(
        "Accesso",
        false,
        html! {
            @if let Some(e) = error { (e) }
            form method="post" action="/account/login" {
                (csrf_field(token))
                label for="login" { "Indirizzo PEC o nome utente" }
                input id="login" name="login" type="text" autocomplete="username" required value=(login);
                label for="password" { "Password" }
                input id="password" name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Accedi" }
            }
            p { a href="/account/recovery" { "Password dimenticata?" } }
        },
    )
}

async fn login_form() -> Response {
    let token = random_token();
    with_form_cookie(answer(StatusCode::OK, login_page(&token, "", None)), &token)
}

#[derive(Deserialize)]
struct LoginForm {
    login: String,
    password: String,
    csrf: String,
}

async fn login(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let expected = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_token(expected, &f.csrf) {
        let e = errors("Modulo scaduto: ricaricare la pagina e riprovare.", &[]);
        return answer(
            StatusCode::FORBIDDEN,
            login_page(expected, &f.login, Some(e)),
        );
    }
    let store = s.archive.store();
    let proven = login::prove(store, &s.logins, &s.config, peer.ip(), &f.login, f.password).await;
    let proven = match proven {
        Ok(p) => p,
        Err(e) => {
            let (status, text) = match e {
                AuthError::Throttled => (
                    StatusCode::TOO_MANY_REQUESTS,
                    "Troppi tentativi falliti: riprovare più tardi.",
                ),
                AuthError::Unavailable => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Servizio momentaneamente non disponibile.",
                ),
                // The migration window (PROVISIONING.md §9): why, and where to migrate.
                AuthError::Closed(why) => {
                    let e = html! {
                        (errors(&why, &[]))
                        p { a href="/account/migration" { "Migrazione dal precedente gestore" } }
                    };
                    return answer(
                        StatusCode::FORBIDDEN,
                        login_page(expected, &f.login, Some(e)),
                    );
                }
                _ => (StatusCode::UNAUTHORIZED, "Credenziali non valide"),
            };
            return answer(
                status,
                login_page(expected, &f.login, Some(errors(text, &[]))),
            );
        }
    };
    let (token, _) = s.sessions.open(SessionOf::Holder {
        login: f.login.trim().to_string(),
        mailbox: proven.principal.mailbox.id,
        identity: proven.principal.identity.clone(),
        password_stamp: proven.principal.password_stamp,
        expired: proven.expired,
    });
    let mut r = see_other(if proven.expired {
        "/account/password"
    } else {
        "/account/"
    });
    if let Ok(v) = session_cookie(&token, s.config.http.session_max_seconds).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

async fn logout_form(State(s): S, headers: HeaderMap) -> Response {
    let Some((_, csrf)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    let content = html! {
        form method="post" action="/account/logout" {
            (csrf_field(&csrf))
            button type="submit" { "Esci dall'area personale" }
        }
    };
    answer(StatusCode::OK, page("Uscita", true, content))
}

async fn logout(State(s): S, headers: HeaderMap, Form(f): Form<CsrfOnly>) -> Response {
    if let Some((h, csrf)) = current(&s, &headers).await {
        if same_token(&csrf, &f.csrf) {
            s.sessions.close(&h.token);
        }
    }
    let mut r = see_other("/account/login");
    if let Ok(v) = session_cookie("", 0).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn password_page(h: &Holder, csrf: &str, error: Option<Markup>) -> Markup {
    let title = if h.expired {
        "Password scaduta: sceglierne una nuova"
    } else {
        "Cambio password"
    };
    page(
        title,
        !h.expired,
        html! {
            @if h.expired {
                p { "La password di " (h.principal.userid.clone().unwrap_or_else(|| h.principal.mailbox.address.clone()))
                    " è scaduta: per usare di nuovo la casella ne scelga una nuova." }
            }
            @if let Some(e) = error { (e) }
            p id="regole" { "La nuova password deve avere:" }
            ul aria-labelledby="regole" {
                @for r in PolicyViolation::ALL { li { (r.regola()) } }
            }
            form method="post" action="/account/password" {
                (csrf_field(csrf))
                label for="current_password" { "Password attuale" }
                input id="current_password" name="current_password" type="password" autocomplete="current-password" required;
                label for="new_password" { "Nuova password" }
                input id="new_password" name="new_password" type="password" autocomplete="new-password" required aria-describedby="regole";
                label for="confirm_password" { "Ripeta la nuova password" }
                input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password" required;
                button type="submit" { "Cambia password" }
            }
        },
    )
}

async fn password_form(State(s): S, headers: HeaderMap) -> Response {
    let Some((h, csrf)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    answer(StatusCode::OK, password_page(&h, &csrf, None))
}

#[derive(Deserialize)]
struct PasswordForm {
    current_password: String,
    new_password: String,
    confirm_password: String,
    csrf: String,
}

async fn password(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let Some((h, csrf)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    let refuse = |status, e: Markup| answer(status, password_page(&h, &csrf, Some(e)));
    if !same_token(&csrf, &f.csrf) {
        return refuse(
            StatusCode::FORBIDDEN,
            errors("Modulo scaduto: riprovare.", &[]),
        );
    }
    if let Some(e) = super::new_password_refusal(&f.new_password, &f.confirm_password) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, e);
    }
    match change_holder_password(&s, peer, &h, f.current_password, f.new_password).await {
        Ok(()) => see_other("/account/?done=password"),
        Err(e) => refuse(e.status, errors(&e.body.message, &e.body.details)),
    }
}

fn settings_page(
    csrf: &str,
    st: &MailboxSettings,
    sms_allowed: bool,
    error: Option<Markup>,
) -> Markup {
    page(
        "Notifiche",
        true,
        html! {
            @if let Some(e) = error { (e) }
            form method="post" action="/account/settings" {
                (csrf_field(csrf))
                fieldset {
                    legend { "Avviso di nuovi messaggi certificati" }
                    label for="notify" { "Indirizzi e-mail da avvisare (fino a 5, uno per riga)" }
                    textarea id="notify" name="notify" rows="5" aria-describedby="notify-hint" {
                        (st.notify.join("\n"))
                    }
                    p id="notify-hint" class="hint" { "Al massimo due avvisi al giorno, solo se ci sono messaggi certificati non letti." }
                }
                @if sms_allowed {
                    fieldset {
                        legend { "SMS giornaliero" }
                        label for="sms" {
                            input id="sms" name="sms" type="checkbox" value="on" checked[st.sms];
                            " Invia un SMS quando arrivano nuovi messaggi certificati"
                        }
                        label for="sms_phone" { "Numero di cellulare" }
                        input id="sms_phone" name="sms_phone" type="tel" autocomplete="tel" value=(st.sms_phone.clone().unwrap_or_default());
                        label for="sms_hour" { "Ora dell'SMS (0-23)" }
                        input id="sms_hour" name="sms_hour" type="number" min="0" max="23" value=(st.sms_hour);
                    }
                }
                button type="submit" { "Salva" }
            }
        },
    )
}

/// Whether the operator enabled the SMS service of the holder's mailbox.
async fn sms_allowed(s: &HttpState, address: &str) -> bool {
    pecd_archive::records::load::<pecd_archive::model::Casella>(
        s.archive.store(),
        address.as_bytes(),
    )
    .await
    .ok()
    .flatten()
    .is_some_and(|c| c.services.sms)
}

async fn settings_form(State(s): S, headers: HeaderMap) -> Response {
    let Some((h, csrf)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    if h.expired {
        return see_other("/account/password");
    }
    let address = &h.principal.mailbox.address;
    let st = s.archive.settings_of(address).await.unwrap_or_default();
    let sms = sms_allowed(&s, address).await;
    answer(StatusCode::OK, settings_page(&csrf, &st, sms, None))
}

#[derive(Deserialize)]
struct SettingsForm {
    csrf: String,
    #[serde(default)]
    notify: String,
    #[serde(default)]
    sms: Option<String>,
    #[serde(default)]
    sms_phone: Option<String>,
    #[serde(default)]
    sms_hour: Option<String>,
}

async fn settings(State(s): S, headers: HeaderMap, Form(f): Form<SettingsForm>) -> Response {
    let Some((h, csrf)) = current(&s, &headers).await else {
        return see_other("/account/login");
    };
    if h.expired {
        return see_other("/account/password");
    }
    let address = h.principal.mailbox.address.clone();
    let sms = sms_allowed(&s, &address).await;
    let mut kept = s.archive.settings_of(&address).await.unwrap_or_default();
    kept.notify = f
        .notify
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect();
    let refuse = |status, kept: &MailboxSettings, e: Markup| {
        answer(status, settings_page(&csrf, kept, sms, Some(e)))
    };
    if !same_token(&csrf, &f.csrf) {
        return refuse(
            StatusCode::FORBIDDEN,
            &kept,
            errors("Modulo scaduto: riprovare.", &[]),
        );
    }
    let hour = match f
        .sms_hour
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
    {
        None => None,
        Some(h) => match h.parse::<u8>() {
            Ok(h) => Some(h),
            Err(_) => {
                let e = errors("Ora dell'SMS: un numero da 0 a 23.", &[]);
                return refuse(StatusCode::UNPROCESSABLE_ENTITY, &kept, e);
            }
        },
    };
    let phone = f
        .sms_phone
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty());
    let set = SettingsSet {
        notify: Some(kept.notify.clone()),
        sms: sms.then_some(f.sms.is_some()),
        sms_phone: if sms { phone } else { None },
        sms_hour: if sms { hour } else { None },
        ..SettingsSet::default()
    };
    match s.archive.set_holder_settings(&h.principal, set).await {
        Ok(_) => see_other("/account/?done=settings"),
        Err(e) => refuse(
            StatusCode::UNPROCESSABLE_ENTITY,
            &kept,
            errors(&e.message, &e.details),
        ),
    }
}
