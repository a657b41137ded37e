//! The migration wizard under `/account/migration` (PROVISIONING.md §9, issue 20): the
//! holder of a mailbox in a migration window (`[migration] domains`, before the cutover; or
//! after it, for the old provider's archive folder, when the migration was started before)
//! gives the old provider's IMAP server, login and current password and optionally a new
//! password; the page starts the same import as the operators' `POST
//! /api/v1/mailboxes/{address}/migration` ([`crate::api::migration::migrations`]) and shows
//! its progress (folders, messages done and total, bytes, errors). Outside a window, or
//! after a cutover never prepared, it says why instead.
//!
//! Only for the holder's own mailbox, proven on our side: the session's mailbox, or, since
//! the window closes logins before the cutover, the mailbox's login and password here in
//! the same form (proven as a login is, brute-force protection included; the window's
//! refusal of a proven login counts as proven). The old server is the holder's word, so
//! without that proof anyone could point a mailbox at a server of their own and choose its
//! password. After a start without a session, the proven address travels in a signed,
//! HttpOnly cookie (HMAC with a key of this process), so the status page can follow it;
//! nothing about it goes into a URL.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::login::{self, AuthError};
use pecd_archive::migration_window;
use pecd_common::password::{check_policy, PolicyViolation};
use pecd_migrate::record::Pass;
use pecd_migrate::{Kind, MigrationRecord, RunState, StartRequest};
use serde::Deserialize;

use super::recovery::{hex, unhex};
use super::{
    answer, csrf_field, current, errors, page, random_token, same_token, see_other,
    with_form_cookie, LOGIN_COOKIE,
};
use crate::api::migration::{migrations, refusal};
use crate::auth::cookie_named;
use crate::HttpState;

type S = State<Arc<HttpState>>;

/// The signed cookie naming the mailbox proven in the form (no session).
const COOKIE: &str = "pecd_migration";
/// How long it follows the migration.
const COOKIE_SECONDS: i64 = 4 * 3600;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new().route("/account/migration", get(wizard).post(start))
}

/// The HMAC key of this process's migration cookies.
fn mac_key() -> &'static [u8] {
    static KEY: OnceLock<Vec<u8>> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut k = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut k).expect("the system's random source works");
        k
    })
}

fn mac(text: &str) -> String {
    let key = openssl::pkey::PKey::hmac(mac_key()).expect("an HMAC key");
    let mut signer = openssl::sign::Signer::new(openssl::hash::MessageDigest::sha256(), &key)
        .expect("an HMAC signer");
    let tag = signer
        .sign_oneshot_to_vec(text.as_bytes())
        .expect("HMAC-SHA256");
    tag.iter().map(|b| format!("{b:02x}")).collect()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The cookie's value for `address`: hex(address).until.mac.
fn signed(address: &str) -> String {
    let body = format!("{}.{}", hex(address), now() + COOKIE_SECONDS);
    format!("{body}.{}", mac(&body))
}

/// The address of a valid, unexpired migration cookie.
fn proven_by_cookie(headers: &HeaderMap) -> Option<String> {
    let value = cookie_named(headers, COOKIE)?;
    let (body, tag) = value.rsplit_once('.')?;
    if !same_token(&mac(body), tag) {
        return None;
    }
    let (address, until) = body.split_once('.')?;
    (until.parse::<i64>().ok()? > now()).then(|| unhex(address))?
}

/// Whose migration the page is about.
enum Who {
    /// A signed-in holder: the session's mailbox and CSRF token.
    Session {
        address: String,
        csrf: String,
    },
    /// Proven earlier in the form (the cookie).
    Proven {
        address: String,
    },
    Nobody,
}

impl Who {
    fn address(&self) -> Option<&str> {
        match self {
            Who::Session { address, .. } | Who::Proven { address } => Some(address),
            Who::Nobody => None,
        }
    }
}

/// Who the request is, or where to send it (a session whose password expired).
async fn who(s: &HttpState, headers: &HeaderMap) -> Result<Who, Response> {
    match current(s, headers).await {
        Some((h, _)) if h.expired => Err(see_other("/account/password")),
        // A slave user id works in the mailbox; only its holder may move it (and set its
        // password).
        Some((h, _)) if h.principal.slave => Err(answer(
            StatusCode::FORBIDDEN,
            page("Migrazione", true, errors(ONLY_MASTER, &[])),
        )),
        Some((h, csrf)) => Ok(Who::Session {
            address: h.principal.mailbox.address.clone(),
            csrf,
        }),
        None => Ok(match proven_by_cookie(headers) {
            Some(address) => Who::Proven { address },
            None => Who::Nobody,
        }),
    }
}

/// Why `address` cannot start a migration now, if it cannot (the import checks again).
async fn why_not(s: &HttpState, address: &str) -> Option<String> {
    let m = &s.config.migration;
    if m.cutover_unix().is_none() || !m.in_window(address) {
        return Some(format!(
            "La casella {address} non è in una finestra di migrazione da un altro gestore: \
             non c'è nulla da importare."
        ));
    }
    let now = now() + s.config.pec.clock_offset_seconds;
    match migration_window::refusal(s.archive.store(), m, address, now).await {
        // Before the cutover the window closes logins: that is when the wizard is used.
        Ok(Some(_)) if m.cutover_unix().is_some_and(|c| now < c) => None,
        Ok(Some(_)) => Some(format!(
            "La migrazione della casella {address} non è stata avviata prima del passaggio al \
             nuovo gestore ({}): la casella non è utilizzabile; contatti l'assistenza.",
            cutover_text(m)
        )),
        Ok(None) => None,
        Err(_) => Some("Servizio momentaneamente non disponibile.".into()),
    }
}

fn state_text(r: &MigrationRecord) -> &'static str {
    match r.state {
        RunState::Running => "in corso",
        RunState::Done => "completata",
        RunState::Failed => "interrotta: può riprenderla avviandola di nuovo",
    }
}

fn status_view(r: &MigrationRecord) -> Markup {
    let mb = r.bytes as f64 / (1024.0 * 1024.0);
    html! {
        section aria-labelledby="stato" {
            h2 id="stato" { "Stato della migrazione" }
            dl {
                dt { "Casella" } dd { (r.address) }
                dt { "Stato" } dd { (state_text(r)) }
                dt { "Fase" } dd {
                    @match r.pass {
                        Pass::BeforeCutover => "prima del passaggio (tutte le cartelle tranne l'archivio)",
                        Pass::AfterCutover => "dopo il passaggio (cartella di archivio)",
                    }
                }
                dt { "Precedente gestore" } dd { (r.server) " (utente " (r.login) ")" }
                dt { "Messaggi importati" } dd { (r.messages_done) " di " (r.messages_total) }
                dt { "Dati importati in questa esecuzione" } dd { (format!("{mb:.1} MB")) }
                dt { "Errori" } dd { (r.errors) }
                @if r.pass == Pass::BeforeCutover {
                    dt { "Password" } dd {
                        @if r.password_kept { "resta quella del precedente gestore" }
                        @else { "quella nuova scelta, valida dal passaggio" }
                    }
                }
            }
            label for="avanzamento" { "Avanzamento" }
            progress id="avanzamento" max=(r.messages_total.max(1)) value=(r.messages_done) {
                (r.messages_done) " di " (r.messages_total)
            }
            @if !r.folders.is_empty() {
                h3 { "Cartelle" }
                ul {
                    @for f in &r.folders {
                        li {
                            (f.name) " → " (f.target) ": " (f.messages_done) " di " (f.messages_total)
                            @if f.deferred { " (dopo il passaggio)" }
                        }
                    }
                }
            }
            @if !r.error_texts.is_empty() {
                h3 { "Problemi" }
                ul { @for e in &r.error_texts { li { (e) } } }
            }
            @if r.state == RunState::Running {
                p { a href="/account/migration" { "Aggiorna lo stato" } }
            }
        }
    }
}

/// The values a refused form keeps (never the passwords).
#[derive(Default)]
struct Kept {
    pec_login: String,
    host: String,
    old_login: String,
}

fn start_form(token: &str, with_identity: bool, kept: &Kept) -> Markup {
    html! {
        form method="post" action="/account/migration" {
            (csrf_field(token))
            @if with_identity {
                fieldset {
                    legend { "La sua casella su questo gestore" }
                    label for="pec_login" { "Indirizzo PEC o nome utente" }
                    input id="pec_login" name="pec_login" type="text" autocomplete="username" required value=(kept.pec_login);
                    label for="pec_password" { "Password della casella su questo gestore" }
                    input id="pec_password" name="pec_password" type="password" autocomplete="current-password" required aria-describedby="pec-hint";
                    p id="pec-hint" class="hint" { "Quella ricevuta all'attivazione della casella." }
                }
            }
            fieldset {
                legend { "Il precedente gestore" }
                label for="host" { "Server IMAP del precedente gestore" }
                input id="host" name="host" type="text" required aria-describedby="host-hint" value=(kept.host);
                p id="host-hint" class="hint" { "Per esempio imap.gestore.it, oppure imap.gestore.it:993 (IMAP su TLS)." }
                label for="old_login" { "Nome utente presso il precedente gestore" }
                input id="old_login" name="old_login" type="text" autocomplete="off" aria-describedby="login-hint" value=(kept.old_login);
                p id="login-hint" class="hint" { "Se lo lascia vuoto si usa l'indirizzo PEC." }
                label for="old_password" { "Password attuale presso il precedente gestore" }
                input id="old_password" name="old_password" type="password" autocomplete="off" required;
            }
            fieldset {
                legend { "Nuova password (facoltativa)" }
                p id="regole" { "Se la password attuale non ha questi requisiti, ne scelga una nuova, valida dal passaggio al nuovo gestore:" }
                ul aria-labelledby="regole" {
                    @for r in PolicyViolation::ALL { li { (r.regola()) } }
                }
                label for="new_password" { "Nuova password" }
                input id="new_password" name="new_password" type="password" autocomplete="new-password" aria-describedby="regole";
                label for="confirm_password" { "Ripeta la nuova password" }
                input id="confirm_password" name="confirm_password" type="password" autocomplete="new-password";
            }
            button type="submit" { "Avvia la migrazione" }
        }
    }
}

/// The wizard's page for `who`: the status of its migration, and the form when a start
/// is possible; `token` is the form's CSRF token.
async fn render(
    s: &HttpState,
    who: &Who,
    token: &str,
    started: bool,
    error: Option<Markup>,
    kept: &Kept,
) -> Markup {
    let m = &s.config.migration;
    let offered = m.cutover_unix().is_some() && !m.domains.is_empty();
    let record = match who.address() {
        Some(a) => migrations(s).status(a).await.ok(),
        None => None,
    };
    let why = match who.address() {
        Some(a) if offered => why_not(s, a).await,
        _ => None,
    };
    let running = record
        .as_ref()
        .is_some_and(|r| r.state == RunState::Running);
    let content = html! {
        @if started {
            div class="ok" role="status" { p { "L'importazione dei suoi messaggi PEC è iniziata." } }
        }
        @if let Some(e) = error { (e) }
        @if !offered {
            p { "Su questo servizio non è prevista la migrazione di caselle da altri gestori." }
        } @else {
            p { "Porta qui i messaggi della sua casella PEC dal precedente gestore, mantenendo l'indirizzo. \
                 Il passaggio al nuovo gestore è fissato al " (cutover_text(m))
                "; rubrica, filtri e inoltri non vengono migrati." }
            @if let Some(r) = &record { (status_view(r)) }
            @if let Some(why) = &why {
                p { (why) }
            } @else if !running {
                (start_form(token, matches!(who, Who::Nobody | Who::Proven { .. }), kept))
            }
        }
    };
    page(
        "Migrazione da un altro gestore",
        matches!(who, Who::Session { .. }),
        content,
    )
}

#[derive(Deserialize)]
struct Shown {
    #[serde(default)]
    started: Option<String>,
}

async fn wizard(State(s): S, headers: HeaderMap, Query(q): Query<Shown>) -> Response {
    let who = match who(&s, &headers).await {
        Ok(w) => w,
        Err(go) => return go,
    };
    let started = q.started.is_some();
    match &who {
        Who::Session { csrf, .. } => {
            let p = render(&s, &who, csrf, started, None, &Kept::default()).await;
            answer(StatusCode::OK, p)
        }
        _ => {
            let token = random_token();
            let p = render(&s, &who, &token, started, None, &Kept::default()).await;
            with_form_cookie(answer(StatusCode::OK, p), &token)
        }
    }
}

#[derive(Deserialize)]
struct StartForm {
    csrf: String,
    #[serde(default)]
    pec_login: String,
    #[serde(default)]
    pec_password: String,
    host: String,
    #[serde(default)]
    old_login: String,
    old_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    confirm_password: String,
}

/// The mailbox `login` names if `password` is its password here; the error to show if not.
async fn prove_owner(
    s: &HttpState,
    peer: SocketAddr,
    login: &str,
    password: String,
) -> Result<String, (StatusCode, Markup)> {
    let store = s.archive.store();
    let principal =
        match login::prove(store, &s.logins, &s.config, peer.ip(), login, password).await {
            // An expired password may only be changed (PROVISIONING.md §7).
            Ok(p) if p.expired => {
                let e = errors(
                    "La password di questa casella è scaduta: la cambi nell'area personale \
                     prima di avviare la migrazione.",
                    &[],
                );
                return Err((StatusCode::FORBIDDEN, e));
            }
            Ok(p) => Some(p.principal),
            // Proven, refused only by the window: found again by its login.
            Err(AuthError::Closed(_)) => login::principal_of(store, login).await.ok().flatten(),
            Err(AuthError::Throttled) => {
                let e = errors("Troppi tentativi falliti: riprovare più tardi.", &[]);
                return Err((StatusCode::TOO_MANY_REQUESTS, e));
            }
            Err(AuthError::Unavailable) => None,
            Err(_) => {
                let e = errors(
                    "Credenziali non valide per la casella su questo gestore.",
                    &[],
                );
                return Err((StatusCode::FORBIDDEN, e));
            }
        };
    match principal {
        Some(p) if p.slave => Err((StatusCode::FORBIDDEN, errors(ONLY_MASTER, &[]))),
        Some(p) => Ok(p.mailbox.address),
        None => Err((
            StatusCode::SERVICE_UNAVAILABLE,
            errors("Servizio momentaneamente non disponibile.", &[]),
        )),
    }
}

/// The cutover as Italian pages write a time (`dd/mm/yyyy HH:MM:SS`, Italy).
fn cutover_text(m: &pecd_common::config::Migration) -> String {
    m.cutover_unix()
        .map(pecd_archive::mailboxes::search::rome_day_time)
        .unwrap_or_default()
}

const ONLY_MASTER: &str =
    "Solo il titolare della casella (utente master) può avviarne la migrazione.";

/// The port of an `imaps://HOST[:PORT]` address (993 when not given; 0 when unreadable, so
/// that it is refused).
fn port_of(from: &str) -> u16 {
    let rest = from.strip_prefix("imaps://").unwrap_or(from);
    let authority = rest.split('/').next().unwrap_or_default();
    let port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once("]:").map_or("", |(_, p)| p),
        None => authority.rsplit_once(':').map_or("", |(_, p)| p),
    };
    if port.is_empty() {
        993
    } else {
        port.parse().unwrap_or(0)
    }
}

/// The new password's refusal, each unmet rule named, if it has one.
fn new_password_refusal(f: &StartForm) -> Option<Markup> {
    if f.new_password.is_empty() && f.confirm_password.is_empty() {
        return None;
    }
    super::new_password_refusal(&f.new_password, &f.confirm_password)
}

async fn start(
    State(s): S,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<StartForm>,
) -> Response {
    let who = match who(&s, &headers).await {
        Ok(w) => w,
        Err(go) => return go,
    };
    let form_token = cookie_named(&headers, LOGIN_COOKIE).unwrap_or_default();
    let token = match &who {
        Who::Session { csrf, .. } => csrf.clone(),
        _ => form_token.to_string(),
    };
    let kept = Kept {
        pec_login: f.pec_login.trim().to_string(),
        host: f.host.trim().to_string(),
        old_login: f.old_login.trim().to_string(),
    };
    let refuse = |status, e: Markup, who: Who| {
        let (s, token, kept) = (&s, &token, &kept);
        async move { answer(status, render(s, &who, token, false, Some(e), kept).await) }
    };
    if token.is_empty() || !same_token(&token, &f.csrf) {
        let e = errors("Modulo scaduto: ricaricare la pagina e riprovare.", &[]);
        return refuse(StatusCode::FORBIDDEN, e, who).await;
    }
    if let Some(e) = new_password_refusal(&f) {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, e, who).await;
    }
    let address = match &who {
        Who::Session { address, .. } => address.clone(),
        _ => match prove_owner(&s, peer, &kept.pec_login, f.pec_password.clone()).await {
            Ok(a) => a,
            Err((status, e)) => return refuse(status, e, Who::Nobody).await,
        },
    };
    let from = if kept.host.starts_with("imaps://") {
        kept.host.clone()
    } else {
        format!("imaps://{}", kept.host)
    };
    let port = port_of(&from);
    if !s.config.migration.holder_ports.contains(&port) {
        let allowed: Vec<String> = s
            .config
            .migration
            .holder_ports
            .iter()
            .map(u16::to_string)
            .collect();
        let e = errors(
            &format!(
                "Porta {port} non ammessa: il server IMAP del precedente gestore si indica \
                 con la porta di IMAP su TLS ({}).",
                allowed.join(", ")
            ),
            &[],
        );
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, e, who).await;
    }
    let new_password = Some(f.new_password.clone()).filter(|p| !p.is_empty());
    let request = StartRequest {
        address: address.clone(),
        from,
        login: Some(kept.old_login.clone()).filter(|l| !l.is_empty()),
        password: f.old_password.clone(),
        new_password: new_password.clone(),
    };
    let proven = match who {
        Who::Session { .. } => who,
        _ => Who::Proven {
            address: address.clone(),
        },
    };
    match migrations(&s).start(request).await {
        Ok(_) => {
            let mut r = see_other("/account/migration?started=1");
            if !matches!(proven, Who::Session { .. }) {
                let cookie = format!(
                    "{COOKIE}={}; Path=/account/migration; HttpOnly; Secure; SameSite=Strict; \
                     Max-Age={COOKIE_SECONDS}",
                    signed(&address)
                );
                if let Ok(v) = cookie.parse() {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            r
        }
        Err(e) => {
            let weak_old =
                e.kind == Kind::Invalid && !e.details.is_empty() && new_password.is_none();
            let shown = if weak_old {
                let rules: Vec<String> = check_policy(&f.old_password)
                    .err()
                    .unwrap_or_default()
                    .iter()
                    .map(|v| v.regola().to_string())
                    .collect();
                errors(
                    "Password non valida: la password attuale non ha tutti i requisiti; \
                     ne scelga una nuova. Mancano",
                    &rules,
                )
            } else {
                errors(&e.message, &e.details)
            };
            let status = refusal(e).status;
            refuse(status, shown, proven).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::port_of;

    #[test]
    fn the_wizard_reads_the_port_the_holder_typed() {
        assert_eq!(port_of("imaps://imap.gestore.it"), 993);
        assert_eq!(port_of("imaps://imap.gestore.it:143"), 143);
        assert_eq!(port_of("imaps://[2001:db8::1]"), 993);
        assert_eq!(port_of("imaps://[2001:db8::1]:10993"), 10993);
        assert_eq!(port_of("imaps://host:99999"), 0);
        assert_eq!(port_of("imaps://host:x"), 0);
    }
}
