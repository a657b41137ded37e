//! The holder's security archive under `/account/archive` (PROVISIONING.md §8): the switch
//! and the kinds of messages kept (when the operator enabled the service: a size was
//! given), the space used, a search on subject and sender, and the reading of one copy
//! (its main header fields and its text, escaped; the message's HTML is never rendered,
//! the original is offered as a `.eml` download). The same operations as the API's
//! `/api/v1/me/settings` and `/api/v1/me/archive` ([`crate::api::security_archive`]).

use std::sync::Arc;

use axum::extract::{Form, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use mail_parser::MimeHeaders;
use maud::{html, Markup};
use pecd_archive::settings::{SettingsSet, ARCHIVE_KINDS};
use serde::Deserialize;

use super::{answer, csrf_field, errors, page, same_token, see_other, signed_in};
use crate::api::holders::Holder;
use crate::api::security_archive::{copy, listing, Listing};
use crate::HttpState;

type S = State<Arc<HttpState>>;

/// Copies a page of results shows.
const PER_PAGE: usize = 20;

pub fn routes() -> Router<Arc<HttpState>> {
    Router::new()
        .route("/account/archive", get(archive).post(save))
        .route("/account/archive/{uid}", get(read))
        .route("/account/archive/{uid}/eml", get(download))
}

/// The Italian name of a kind of [`ARCHIVE_KINDS`].
fn kind_label(kind: &str) -> &'static str {
    match kind {
        "certified-in" => "Messaggi certificati ricevuti",
        "certified-out" => "Messaggi certificati inviati",
        "ordinary" => "Posta ordinaria",
        "acceptance" => "Ricevute di accettazione",
        "delivery" => "Ricevute di consegna",
        "notices" => "Avvisi (non accettazione, mancata consegna e simili)",
        _ => "Altro",
    }
}

fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
}

#[derive(Default, Deserialize)]
struct Shown {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    page: Option<usize>,
    #[serde(default)]
    saved: Option<String>,
}

fn settings_form(csrf: &str, l: &Listing) -> Markup {
    html! {
        form method="post" action="/account/archive" {
            (csrf_field(csrf))
            label for="security_archive" {
                input id="security_archive" name="security_archive" type="checkbox" value="on" checked[l.enabled];
                " Conserva una copia dei messaggi nell'archivio di sicurezza"
            }
            fieldset {
                legend { "Tipi di messaggi da conservare" }
                @for k in ARCHIVE_KINDS {
                    label for=(format!("kind-{k}")) {
                        input id=(format!("kind-{k}")) name="kind" type="checkbox" value=(k)
                            checked[l.kinds.iter().any(|x| x == k)];
                        " " (kind_label(k))
                    }
                }
            }
            button type="submit" { "Salva" }
        }
    }
}

fn search_results(l: &Listing, q: &str) -> Markup {
    let pages = l.total.div_ceil(l.per_page.max(1)).max(1);
    let link = |page: usize| {
        let mut url = format!("/account/archive?page={page}");
        if !q.is_empty() {
            url.push_str("&q=");
            url.push_str(&super::url_escaped(q));
        }
        url
    };
    html! {
        section aria-labelledby="risultati" {
            h2 id="risultati" {
                @if q.is_empty() { "Messaggi archiviati" } @else { "Risultati della ricerca" }
                " (" (l.total) ")"
            }
            @if l.truncated {
                p class="hint" { "La ricerca ha esaminato solo i messaggi più recenti." }
            }
            @if l.messages.is_empty() {
                p { "Nessun messaggio." }
            } @else {
                ul class="messages" {
                    @for m in &l.messages {
                        li {
                            a href=(format!("/account/archive/{}", m.uid)) {
                                @if m.subject.is_empty() { "(senza oggetto)" } @else { (m.subject) }
                            }
                            br;
                            span class="hint" {
                                "Da: " (m.from) " · " (m.date)
                                @if !m.pec_type.is_empty() { " · " (m.pec_type) }
                            }
                        }
                    }
                }
            }
            @if pages > 1 {
                nav aria-label="Pagine dei risultati" {
                    ul {
                        @if l.page > 1 { li { a href=(link(l.page - 1)) { "Pagina precedente" } } }
                        li { "Pagina " (l.page) " di " (pages) }
                        @if l.page < pages { li { a href=(link(l.page + 1)) { "Pagina successiva" } } }
                    }
                }
            }
        }
    }
}

/// The archive's page for `h`, with a search `q` and an optional error.
async fn view(
    s: &HttpState,
    h: &Holder,
    csrf: &str,
    shown: Shown,
    status: StatusCode,
    error: Option<Markup>,
) -> Response {
    let q = shown.q.unwrap_or_default();
    let found = listing(s, h, Some(q.clone()), shown.page, Some(PER_PAGE)).await;
    let (l, search_error) = match found {
        Ok(l) => (l, None),
        Err(e) if e.status == StatusCode::BAD_REQUEST => {
            let e = errors("Testo da cercare troppo lungo.", &[]);
            match listing(s, h, None, None, Some(PER_PAGE)).await {
                Ok(l) => (l, Some(e)),
                Err(e) => return unavailable(&e.body.message),
            }
        }
        Err(e) => return unavailable(&e.body.message),
    };
    let offered = l.limit_bytes > 0;
    let content = html! {
        @if shown.saved.is_some() {
            div class="ok" role="status" { p { "Impostazioni dell'archivio salvate." } }
        }
        @if let Some(e) = error { (e) }
        @if !offered {
            p { "Il servizio di archivio di sicurezza non è attivo per questa casella: può attivarlo \
                 solo il gestore, su richiesta al suo fornitore." }
        } @else {
            p { "Spazio usato: " (megabytes(l.used_bytes)) " di " (megabytes(l.limit_bytes)) "." }
            @if h.principal.slave {
                p { "Solo il titolare della casella (utente master) può cambiare queste impostazioni." }
                p { "Archivio: " @if l.enabled { "attivo" } @else { "non attivo" } }
            } @else {
                (settings_form(csrf, &l))
            }
        }
        @if offered || l.total > 0 {
            form method="get" action="/account/archive" role="search" {
                label for="q" { "Cerca nell'oggetto e nel mittente" }
                input id="q" name="q" type="text" value=(q);
                button type="submit" id="cerca" { "Cerca" }
            }
            @if let Some(e) = search_error { (e) }
            (search_results(&l, &q))
        }
    };
    answer(status, page("Archivio di sicurezza", true, content))
}

fn unavailable(message: &str) -> Response {
    let e = errors(
        "Archivio momentaneamente non disponibile.",
        &[message.to_string()],
    );
    answer(
        StatusCode::SERVICE_UNAVAILABLE,
        page("Archivio di sicurezza", true, e),
    )
}

async fn archive(State(s): S, headers: HeaderMap, Query(q): Query<Shown>) -> Response {
    let (h, csrf) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    view(&s, &h, &csrf, q, StatusCode::OK, None).await
}

/// The settings form: repeated `kind` fields, so read as pairs.
async fn save(State(s): S, headers: HeaderMap, Form(f): Form<Vec<(String, String)>>) -> Response {
    let (h, csrf) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    let field = |name: &str| f.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let refuse = |status, e: Markup| view(&s, &h, &csrf, Shown::default(), status, Some(e));
    if !same_token(&csrf, field("csrf").unwrap_or_default()) {
        let e = errors("Modulo scaduto: riprovare.", &[]);
        return refuse(StatusCode::FORBIDDEN, e).await;
    }
    let kinds: Vec<String> = f
        .iter()
        .filter(|(k, _)| k == "kind")
        .map(|(_, v)| v.clone())
        .collect();
    let set = SettingsSet {
        security_archive: Some(field("security_archive").is_some()),
        archive_kinds: Some(kinds),
        ..SettingsSet::default()
    };
    match s.archive.set_holder_settings(&h.principal, set).await {
        Ok(_) => see_other("/account/archive?saved=1"),
        Err(e) => {
            let e = errors(&e.message, &e.details);
            refuse(StatusCode::UNPROCESSABLE_ENTITY, e).await
        }
    }
}

/// A header field as written, unfolded.
fn field(m: &mail_parser::Message, name: &str) -> String {
    m.header_raw(name)
        .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

async fn read(State(s): S, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    let (h, _) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    let bytes = match copy(&s, &h, &uid).await {
        Ok(b) => b,
        Err(e) if e.status == StatusCode::NOT_FOUND => {
            let e = errors("Messaggio non trovato nell'archivio.", &[]);
            return answer(StatusCode::NOT_FOUND, page("Messaggio archiviato", true, e));
        }
        Err(e) => return unavailable(&e.body.message),
    };
    let parsed = mail_parser::MessageParser::default().parse(&bytes);
    let content = match &parsed {
        None => {
            html! { p { "Il messaggio non è leggibile: lo scarichi per aprirlo con un programma di posta." } }
        }
        Some(m) => {
            let subject = m.subject().unwrap_or_default();
            let mut kind = field(m, "X-Ricevuta");
            if kind.is_empty() {
                kind = field(m, "X-Trasporto");
            }
            let text = m.body_text(0).map(|t| t.to_string()).unwrap_or_default();
            let attachments: Vec<String> = m
                .attachments()
                .map(|a| {
                    let name = a.attachment_name().unwrap_or("(senza nome)");
                    format!("{name} ({} byte)", a.len())
                })
                .collect();
            // A PEC envelope carries the certified message itself (postacert.eml).
            let inner: Vec<String> = m
                .attachments()
                .filter_map(|a| a.message())
                .map(|inner| {
                    inner
                        .body_text(0)
                        .map(|t| t.to_string())
                        .unwrap_or_default()
                })
                .collect();
            html! {
                dl {
                    dt { "Oggetto" } dd { (subject) }
                    dt { "Da" } dd { (field(m, "From")) }
                    dt { "A" } dd { (field(m, "To")) }
                    @let cc = field(m, "Cc");
                    @if !cc.is_empty() { dt { "Cc" } dd { (cc) } }
                    dt { "Data" } dd { (field(m, "Date")) }
                    @if !kind.is_empty() { dt { "Tipo PEC" } dd { (kind) } }
                    dt { "Message-ID" } dd { (field(m, "Message-ID")) }
                }
                h2 { "Testo" }
                pre class="message" { (text) }
                @for t in &inner {
                    h2 { "Testo del messaggio originale" }
                    pre class="message" { (t) }
                }
                @if !attachments.is_empty() {
                    h2 { "Allegati" }
                    ul { @for a in &attachments { li { (a) } } }
                }
            }
        }
    };
    let content = html! {
        (content)
        p {
            a href=(format!("/account/archive/{uid}/eml")) { "Scarica il messaggio originale (.eml)" }
            " · "
            a href="/account/archive" { "Torna all'archivio" }
        }
    };
    answer(StatusCode::OK, page("Messaggio archiviato", true, content))
}

async fn download(State(s): S, headers: HeaderMap, Path(uid): Path<String>) -> Response {
    let (h, _) = match signed_in(&s, &headers).await {
        Ok(found) => found,
        Err(go) => return go,
    };
    match copy(&s, &h, &uid).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "message/rfc822".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"archivio-{uid}.eml\""),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            bytes,
        )
            .into_response(),
        Err(e) => answer(
            e.status,
            page("Messaggio archiviato", true, errors(&e.body.message, &[])),
        ),
    }
}
