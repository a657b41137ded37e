//! The operators' console under `/console/` (PROVISIONING.md §2–§7, the manual's web archive):
//! login with the operator's user id, the welcome page with the customer/account choice and
//! the domains available to it, and the page families in submodules: requests
//! ([`requests`], [`contracts`]), mailboxes ([`mailboxes`], [`slaves`]) and the archive's
//! other lists ([`lists`]). Every page calls the same archive operations as the JSON API as
//! the logged-in operator, so the scope rules are the CLI's. Sessions are the API's (the
//! `pecd_session` cookie, 30 minutes idle); every form carries the session's CSRF token.

pub mod contracts;
pub mod lists;
pub mod mailboxes;
pub mod requests;
pub mod slaves;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::{Actor, ArchiveError};
use serde::Deserialize;

use crate::pages::CsrfOnly;

use crate::auth::{cookie_named, cookie_session, operator_session, session_cookie};
use crate::error::ApiError;
use crate::pages::{
    answer, errors, layout, random_token, same_token, see_other, set_form_cookie, Site,
};
use crate::sessions::Principal;
use crate::HttpState;

pub(crate) type S = State<Arc<HttpState>>;

/// The double-submit cookie of the login form.
const LOGIN_COOKIE: &str = "pecd_console_login";
/// The customer/account the operator chose to work on (`CUSTOMER/ACCOUNT`); every use is
/// checked against the operator's scope by the archive.
pub(crate) const CHOICE_COOKIE: &str = "pecd_console_choice";

/// The console's additions to the pages' stylesheet: wide tables, and a printable request.
const STYLE: &str = "\
.wide header,.wide main{max-width:72rem}\
table{border-collapse:collapse;width:100%;margin:1rem 0;background:#fff}\
th,td{border:1px solid #bbb;padding:.4rem .5rem;text-align:left;vertical-align:top}\
th{background:#e8edf3}.muted{color:#555;background:#eee}\
.inline{display:inline}.inline button{margin:0 .3rem 0 0;padding:.3rem .8rem}\
.line-error{color:#b00020;font-weight:600}\
fieldset{margin-top:1rem;border:1px solid #999;min-width:0}\
main{overflow-wrap:anywhere}\
input[type=date],input[type=file],select{padding:.5rem;font-size:1rem;max-width:100%}\
.table-wrap{overflow-x:auto}\
main dl{display:grid;grid-template-columns:minmax(8rem,max-content) 1fr;gap:.2rem 1rem}\
main dt{font-weight:600}main dd{margin:0}\
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}\
@media print{header,nav,form,.noprint{display:none}body{background:#fff}}";

/// The select-all box of the mailbox search and the print button of a request (the only
/// script of the console; every page works without it).
const SCRIPT: &str = "\
document.querySelectorAll('[data-print]').forEach(function(b){\
b.addEventListener('click',function(){window.print();});});\
document.querySelectorAll('[data-select-all]').forEach(function(box){\
box.addEventListener('change',function(){\
document.querySelectorAll('input[name=address]').forEach(function(b){b.checked=box.checked;});});});";

pub fn routes(uploads: usize) -> Router<Arc<HttpState>> {
    Router::new()
        .route("/console/", get(home).post(choose))
        .route("/console/style.css", get(style))
        .route("/console/console.js", get(script))
        .route("/console/login", get(login_form).post(login))
        .route("/console/logout", get(logout_form).post(logout))
        .merge(requests::routes())
        .merge(contracts::routes(uploads))
        .merge(mailboxes::routes(uploads))
        .merge(slaves::routes())
        .merge(lists::routes())
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        format!("{}{STYLE}", crate::pages::STYLE),
    )
        .into_response()
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
        .into_response()
}

/// The logged-in operator of a console request.
pub(crate) struct Operator {
    pub actor: Actor,
    pub csrf: String,
    /// The chosen customer and account, if any.
    pub choice: Option<(String, String)>,
}

impl Operator {
    pub fn csrf_field(&self) -> Markup {
        crate::pages::csrf_field(&self.csrf)
    }

    /// Whether a form's CSRF token is the session's.
    pub fn csrf_ok(&self, sent: &str) -> bool {
        same_token(&self.csrf, sent)
    }
}

/// The operator of the request's session cookie, or the answer that sends the browser to
/// the login page.
pub(crate) async fn operator(s: &HttpState, headers: &HeaderMap) -> Result<Operator, Response> {
    let to_login = || see_other("/console/login");
    let auth = cookie_session(s, headers).ok_or_else(to_login)?;
    let Principal::Operator(userid) = &auth.session.principal else {
        return Err(to_login());
    };
    let actor = match s.archive.actor(Some(userid)).await {
        Ok(a) => a,
        Err(_) => {
            s.sessions.close(&auth.token);
            return Err(to_login());
        }
    };
    let choice = cookie_named(headers, CHOICE_COOKIE)
        .and_then(|v| v.split_once('/'))
        .map(|(c, a)| (c.to_string(), a.to_string()));
    Ok(Operator {
        actor,
        csrf: auth.session.csrf.clone(),
        choice,
    })
}

/// The console's handlers take the logged-in operator as an argument; a request without
/// one is sent to the login page.
impl axum::extract::FromRequestParts<Arc<HttpState>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &Arc<HttpState>,
    ) -> Result<Self, Response> {
        operator(state, &parts.headers).await
    }
}

/// A console page: the operator's navigation, then `content`.
pub(crate) fn page(title: &str, content: Markup) -> Markup {
    let nav = html! {
        nav aria-label="Console" {
            ul {
                li { a href="/console/" { "Benvenuto" } }
                li { a href="/console/requests/new" { "Nuova richiesta" } }
                li { a href="/console/requests" { "Richieste" } }
                li { a href="/console/mailboxes" { "Caselle" } }
                li { a href="/console/domains" { "Domini" } }
                li { a href="/console/expiry" { "Scadenze" } }
                li { a href="/console/campaign" { "Campagna password" } }
                li { a href="/console/audit" { "Registro" } }
                li { a href="/console/logout" { "Esci" } }
            }
        }
    };
    let site = Site {
        home: "/console/",
        name: "Archivio PEC - Console operatori",
        stylesheet: "/console/style.css",
        wide: true,
    };
    layout(&site, title, Some(nav), content)
}

/// A console page as a 200 answer.
pub(crate) fn ok(title: &str, content: Markup) -> Response {
    answer(StatusCode::OK, page(title, content))
}

/// An archive refusal as its status and the error box (message and details).
pub(crate) fn refusal(e: ArchiveError) -> (StatusCode, Markup) {
    let e = ApiError::from(e);
    (e.status, errors(&e.body.message, &e.body.details))
}

/// A page that only shows an archive refusal.
pub(crate) fn refused(title: &str, e: ArchiveError) -> Response {
    let (status, markup) = refusal(e);
    answer(status, page(title, markup))
}

/// A page that shows an archive refusal and a link (`label`) back to `back`.
pub(crate) fn refused_back(title: &str, back: &str, label: &str, e: ArchiveError) -> Response {
    let (status, markup) = refusal(e);
    answer(
        status,
        page(title, html! { (markup) p { a href=(back) { (label) } } }),
    )
}

/// The refusal of a form whose CSRF token is not the session's.
pub(crate) fn stale_form(title: &str) -> Response {
    answer(
        StatusCode::FORBIDDEN,
        page(
            title,
            errors("Modulo scaduto: ricaricare la pagina e riprovare.", &[]),
        ),
    )
}

/// An optional form field: trimmed, `None` when empty.
pub(crate) fn given(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A Unix time as Italian reports write it.
pub(crate) fn when(at: i64) -> String {
    pecd_archive::mailboxes::search::rome_day_time(at)
}

async fn home(State(s): S, op: Operator) -> Response {
    let a = &op.actor;
    let accounts = match s.archive.list_accounts(a, None).await {
        Ok(list) => list,
        // An LMXADM without patterns: the manual's message, and nothing else to do.
        Err(e) => return refused("Benvenuto", e),
    };
    let chosen = op
        .choice
        .as_ref()
        .filter(|(c, acc)| accounts.iter().any(|x| &x.customer == c && &x.code == acc));
    let domains = s.archive.list_domains(a).await.unwrap_or_default();
    let usable: Vec<_> = domains
        .iter()
        .filter(|d| match (chosen, &d.customer, &d.account) {
            (_, None, _) => true,
            (Some((c, acc)), Some(dc), da) => dc == c && da.as_ref().is_none_or(|x| x == acc),
            (None, Some(_), _) => true,
        })
        .collect();
    let content = html! {
        p { "Operatore " strong { (a.userid()) } ", profilo " strong { (a.profile().name()) } "." }
        section aria-labelledby="scelta" {
            h2 id="scelta" { "Cliente e account di lavoro" }
            @if let Some((c, acc)) = chosen {
                p { "Sta lavorando su cliente " strong { (c) } ", account " strong { (acc) } "." }
            }
            form method="post" action="/console/" {
                (op.csrf_field())
                label for="choice" { "Cliente / account" }
                select id="choice" name="choice" {
                    @for x in &accounts {
                        @let v = format!("{}/{}", x.customer, x.code);
                        option value=(v) selected[chosen.is_some_and(|(c, acc)| c == &x.customer && acc == &x.code)] {
                            (x.customer) " / " (x.code) " - " (x.description)
                        }
                    }
                }
                button type="submit" { "Scegli" }
            }
        }
        section aria-labelledby="domini" {
            h2 id="domini" { "Domini disponibili" }
            @if usable.is_empty() { p { "Nessun dominio disponibile." } }
            @else {
                ul { @for d in &usable { li { (d.name) " (" (lists::state_name(d.state)) ")" } } }
            }
        }
    };
    ok("Benvenuto", content)
}

#[derive(Deserialize)]
struct ChoiceForm {
    csrf: String,
    choice: String,
}

async fn choose(State(s): S, op: Operator, Form(f): Form<ChoiceForm>) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form("Benvenuto");
    }
    let Some((c, acc)) = f.choice.split_once('/') else {
        return see_other("/console/");
    };
    // Only a choice in scope is kept.
    let seen = s
        .archive
        .list_accounts(&op.actor, Some(c))
        .await
        .is_ok_and(|list| list.iter().any(|x| x.code == acc));
    if !seen {
        let e = ArchiveError::new(
            pecd_archive::ErrorKind::Forbidden,
            format!("account non disponibile: {c}/{acc}"),
        );
        return refused("Benvenuto", e);
    }
    let mut r = see_other("/console/");
    let cookie =
        format!("{CHOICE_COOKIE}={c}/{acc}; Path=/console/; HttpOnly; Secure; SameSite=Strict");
    if let Ok(v) = cookie.parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

fn login_page(token: &str, userid: &str, error: Option<Markup>) -> Markup {
    let site = Site {
        home: "/console/",
        name: "Archivio PEC - Console operatori",
        stylesheet: "/console/style.css",
        wide: false,
    };
    let content = html! {
        @if let Some(e) = error { (e) }
        form method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(token);
            label for="userid" { "Nome utente" }
            input id="userid" name="userid" type="text" autocomplete="username" required value=(userid);
            label for="password" { "Password" }
            input id="password" name="password" type="password" autocomplete="current-password" required;
            button type="submit" { "Accedi" }
        }
    };
    layout(&site, "Accesso operatori", None, content)
}

async fn login_form() -> Response {
    let token = random_token();
    let r = answer(StatusCode::OK, login_page(&token, "", None));
    set_form_cookie(r, LOGIN_COOKIE, "/console/", &token)
}

#[derive(Deserialize)]
struct LoginForm {
    userid: String,
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
            login_page(expected, &f.userid, Some(e)),
        );
    }
    match operator_session(&s, peer.ip(), f.userid.trim(), f.password).await {
        Ok((token, _, _)) => {
            let mut r = see_other("/console/");
            if let Ok(v) = session_cookie(&token, s.config.http.session_max_seconds).parse() {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => {
            let text = match e.body.code {
                "throttled" => "Troppi tentativi falliti: riprovare più tardi.",
                "unauthorized" => "Credenziali non valide",
                _ => "Servizio momentaneamente non disponibile.",
            };
            answer(
                e.status,
                login_page(expected, &f.userid, Some(errors(text, &[]))),
            )
        }
    }
}

async fn logout_form(op: Operator) -> Response {
    let content = html! {
        form method="post" action="/console/logout" {
            (op.csrf_field())
            button type="submit" { "Esci dalla console" }
        }
    };
    ok("Uscita", content)
}

async fn logout(State(s): S, headers: HeaderMap, Form(f): Form<CsrfOnly>) -> Response {
    if let Some(auth) = cookie_session(&s, &headers) {
        if same_token(&auth.session.csrf, &f.csrf) {
            s.sessions.close(&auth.token);
        }
    }
    let mut r = see_other("/console/login");
    if let Ok(v) = session_cookie("", 0).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}
