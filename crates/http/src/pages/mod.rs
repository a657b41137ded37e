//! The web pages (server-rendered HTML, no JavaScript): the holders' self-service under
//! `/account/`: login, expired password and notifications ([`account`]), forgotten password
//! ([`recovery`]), security information ([`security`]), security archive ([`archive`]),
//! migration wizard ([`migration`]). Pages are built with maud, in Italian, with landmarks,
//! labels for every field and a layout usable on a phone; every form carries a CSRF token
//! (the session's, or before login a double-submit token in its own cookie); the session is
//! the API's (the `pecd_session` cookie: HttpOnly, Secure, SameSite=Strict; 30 minutes idle).
//! The helpers every page family shares are here.

pub mod account;
pub mod archive;
pub mod migration;
pub mod recovery;
pub mod security;

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use maud::{html, Markup, DOCTYPE};

use crate::api::holders::{holder_for, Holder};
use crate::auth::cookie_session;
use crate::HttpState;

/// The stylesheet of every page (served, since the CSP allows no inline style).
pub const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f7f9;line-height:1.5}\
header,main,footer{max-width:40rem;margin:0 auto;padding:1rem}\
header{border-bottom:2px solid #0b4f8a}header a{color:#0b4f8a;font-weight:bold;text-decoration:none}\
nav ul{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1rem}\
label{display:block;margin-top:1rem;font-weight:600}\
input[type=text],input[type=password],input[type=email],input[type=tel],input[type=number],textarea\
{width:100%;box-sizing:border-box;padding:.6rem;font-size:1rem;border:1px solid #555;border-radius:4px}\
button{margin-top:1.2rem;padding:.7rem 1.4rem;font-size:1rem;background:#0b4f8a;color:#fff;border:0;border-radius:4px}\
button:focus,input:focus,textarea:focus,a:focus{outline:3px solid #f2a900;outline-offset:2px}\
.error{background:#fde8e8;border-left:4px solid #b00020;padding:.5rem 1rem}\
.ok{background:#e6f4ea;border-left:4px solid #1e7a34;padding:.5rem 1rem}\
.hint{color:#444;font-size:.95rem}\
pre{white-space:pre-wrap;overflow-wrap:anywhere;background:#fff;border:1px solid #ccc;padding:.5rem}\
dd{overflow-wrap:anywhere}ul.messages li{margin-bottom:.8rem}";

/// A whole page of the holders' area: `title`, an optional navigation, the content.
pub fn page(title: &str, nav: bool, content: Markup) -> Markup {
    let nav = nav.then(|| {
        html! {
            nav aria-label="Area personale" {
                ul {
                    li { a href="/account/" { "Riepilogo" } }
                    li { a href="/account/password" { "Password" } }
                    li { a href="/account/settings" { "Notifiche" } }
                    li { a href="/account/security" { "Sicurezza" } }
                    li { a href="/account/archive" { "Archivio" } }
                    li { a href="/account/migration" { "Migrazione" } }
                    li { a href="/account/logout" { "Esci" } }
                }
            }
        }
    });
    let site = Site {
        home: "/account/",
        name: "Posta Elettronica Certificata",
        stylesheet: "/account/style.css",
        wide: false,
    };
    layout(&site, title, nav, content)
}

/// Where a page belongs: the area's home, its name in the header, its stylesheet, and
/// whether its content may use the whole width (tables).
pub struct Site<'a> {
    pub home: &'a str,
    pub name: &'a str,
    pub stylesheet: &'a str,
    pub wide: bool,
}

/// A whole page of `site`: header with the area's name and navigation, then `content`
/// under an `h1` of `title` in the main landmark.
pub fn layout(site: &Site, title: &str, nav: Option<Markup>, content: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="it" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " - PEC" }
                link rel="stylesheet" href=(site.stylesheet);
            }
            body class=[site.wide.then_some("wide")] {
                header {
                    a href=(site.home) { (site.name) }
                    @if let Some(nav) = nav { (nav) }
                }
                main id="contenuto" {
                    h1 { (title) }
                    (content)
                }
            }
        }
    }
}

/// A page as an answer, never cached (it carries personal data).
pub fn answer(status: StatusCode, markup: Markup) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        Html(markup.into_string()),
    )
        .into_response()
}

/// A redirect after a form (303, so the browser GETs the target).
pub fn see_other(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// An error box with each detail on its own line.
pub fn errors(message: &str, details: &[String]) -> Markup {
    html! {
        div class="error" role="alert" {
            p { (message) }
            @if !details.is_empty() {
                ul { @for d in details { li { (d) } } }
            }
        }
    }
}

/// A fresh random token (hex) for the login form's double-submit cookie.
pub fn random_token() -> String {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).expect("the system's random source works");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `text` safe in a URL's path segment or query value: every byte but letters, digits,
/// `-`, `.` and `_` percent-encoded.
pub fn url_escaped(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Compares two tokens in constant time.
pub fn same_token(a: &str, b: &str) -> bool {
    a.len() == b.len() && openssl::memcmp::eq(a.as_bytes(), b.as_bytes())
}

/// The double-submit cookie of the forms shown before login (login, password recovery).
pub(crate) const LOGIN_COOKIE: &str = "pecd_login";

/// The holder of the request's session cookie with the session's CSRF token, if any.
pub(crate) async fn current(s: &HttpState, headers: &HeaderMap) -> Option<(Holder, String)> {
    let auth = cookie_session(s, headers)?;
    let csrf = auth.session.csrf.clone();
    let h = holder_for(s, auth).await.ok()?;
    Some((h, csrf))
}

/// The holder of a page that needs a session whose password is not expired, or where to
/// send the browser instead (the login, or the forced change of an expired password).
pub(crate) async fn signed_in(
    s: &HttpState,
    headers: &HeaderMap,
) -> Result<(Holder, String), Response> {
    match current(s, headers).await {
        None => Err(see_other("/account/login")),
        Some((h, _)) if h.expired => Err(see_other("/account/password")),
        Some(found) => Ok(found),
    }
}

/// Why a new password typed twice is refused: the two differ, or the policy's unmet rules,
/// each named (PROVISIONING.md §7); `None` when it is acceptable.
pub(crate) fn new_password_refusal(new: &str, confirm: &str) -> Option<Markup> {
    if new != confirm {
        return Some(errors("Le due nuove password non coincidono.", &[]));
    }
    let unmet = pecd_common::password::check_policy(new).err()?;
    let rules: Vec<String> = unmet.iter().map(|v| v.regola().to_string()).collect();
    Some(errors("Password non valida: mancano", &rules))
}

/// A form whose only field is the CSRF token (a button that posts).
#[derive(serde::Deserialize)]
pub(crate) struct CsrfOnly {
    pub csrf: String,
}

pub(crate) fn csrf_field(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

/// `r` setting the double-submit cookie of a form shown before login to `token`.
pub(crate) fn with_form_cookie(r: Response, token: &str) -> Response {
    set_form_cookie(r, LOGIN_COOKIE, "/account/", token)
}

/// Adds the double-submit cookie `name` of a form shown before login, for the pages under
/// `path`, lasting 30 minutes.
pub(crate) fn set_form_cookie(mut r: Response, name: &str, path: &str, token: &str) -> Response {
    let cookie =
        format!("{name}={token}; Path={path}; HttpOnly; Secure; SameSite=Strict; Max-Age=1800");
    if let Ok(v) = cookie.parse() {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
