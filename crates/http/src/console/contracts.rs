//! The console's request detail (PROVISIONING.md §3): the summary, printable with the print
//! stylesheet; the contract documents (upload, list, download, delete, confirm); modify,
//! duplicate and cancel; the mailbox list, and the first passwords the first time a processed
//! request is shown.

use axum::extract::{Multipart, Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use pecd_archive::requests::model::RequestState;
use pecd_archive::requests::model::RequestView;
use pecd_archive::requests::parse_code;
use pecd_archive::ArchiveError;
use serde::Deserialize;

use crate::pages::CsrfOnly;

use super::{ok, page, refused, refused_back, stale_form, when, Operator, S};
use crate::pages::{answer, see_other, url_escaped};

pub fn routes(uploads: usize) -> Router<std::sync::Arc<crate::HttpState>> {
    let upload = post(upload).layer(axum::extract::DefaultBodyLimit::max(
        uploads.saturating_add(MULTIPART_OVERHEAD),
    ));
    Router::new()
        .route("/console/requests/{code}", get(detail))
        .route("/console/requests/{code}/contracts", upload)
        .route("/console/requests/{code}/contracts/{name}", get(download))
        .route(
            "/console/requests/{code}/contracts/{name}/delete",
            post(delete),
        )
        .route("/console/requests/{code}/confirm", post(confirm))
        .route("/console/requests/{code}/cancel", post(cancel))
        .route("/console/requests/{code}/duplicate", post(duplicate))
}

/// Room for a multipart form's boundaries, headers and CSRF field beside the document.
pub const MULTIPART_OVERHEAD: usize = 64 * 1024;

#[derive(Deserialize)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

fn done_text(done: &str) -> &'static str {
    match done {
        "created" => "Richiesta inserita. Caricare il contratto e confermarlo.",
        "modified" => "[!] Attenzione: la richiesta è stata modificata; ricontrollare il riepilogo e il contratto.",
        "uploaded" => "Documento caricato.",
        "deleted" => "Documento cancellato.",
        "confirmed" => "Contratto confermato: la richiesta sarà elaborata.",
        "cancelled" => "Richiesta annullata.",
        "duplicated" => "Richiesta duplicata: questa è la copia.",
        _ => "Fatto.",
    }
}

fn summary(v: &RequestView) -> Markup {
    html! {
        dl {
            dt { "Stato" } dd { (v.state.map(|s| s.name()).unwrap_or("-")) }
            dt { "Cliente / account" } dd { (v.customer.clone().unwrap_or_default()) " / " (v.account.clone().unwrap_or_default()) }
            dt { "Numero d'ordine" } dd { (v.order.clone().unwrap_or_else(|| "-".into())) }
            dt { "Scadenza" } dd { (v.expiry.map(|d| d.format("%d/%m/%Y").to_string()).unwrap_or_default()) }
            @if let Some(p) = &v.richiedente {
                dt { "Richiedente" }
                dd { (p.surname) " " (p.first_name) ", " (p.tax_code) ", " (p.email) ", " (p.phone) }
            }
            @if let Some(t) = &v.titolare {
                dt { "Titolare" }
                dd { (t.name) ", " (t.tax_code) ", " (t.address) ", " (t.email) }
            }
            @if let Some(c) = &v.collocazione { dt { "Collocazione" } dd { (c) } }
            dt { "Contratto confermato" } dd { @if v.confirmed { "sì" } @else { "no" } }
            @if let (Some(at), Some(by)) = (v.created_at, &v.created_by) {
                dt { "Inserita" } dd { (when(at)) " da " (by) }
            }
        }
    }
}

fn mailboxes(v: &RequestView) -> Markup {
    html! {
        h2 { "Caselle" }
        div class="table-wrap" {
            table {
                thead { tr { th scope="col" { "Indirizzo" } th scope="col" { "Utente" } th scope="col" { "Stato" } th scope="col" { "Tipo" } th scope="col" { "Descrizione" } } }
                tbody {
                    @for m in &v.mailboxes {
                        tr {
                            td { a href=(format!("/console/mailboxes/{}", m.address)) { (m.address) } }
                            td { (m.userid.clone().unwrap_or_default()) }
                            td { (m.state) }
                            td { (m.kind.map(|k| k.name()).unwrap_or("")) }
                            td { (m.description) }
                        }
                    }
                }
            }
        }
        @if !v.initial_passwords.is_empty() {
            div class="ok" role="status" {
                p { "Password iniziali (mostrate solo ora: comunicarle ai titolari)" }
                ul { @for p in &v.initial_passwords { li { (p.address) " - utente " (p.userid) ": " code { (p.password) } } } }
            }
        }
    }
}

/// A one-button form posting to `action`.
fn button(op: &Operator, action: &str, label: &str) -> Markup {
    html! {
        form class="inline" method="post" action=(action) {
            (op.csrf_field())
            button type="submit" { (label) }
        }
    }
}

fn documents(op: &Operator, v: &RequestView, code: u64) -> Markup {
    let open = v.state == Some(RequestState::DaElaborare) && !v.confirmed;
    html! {
        h2 { "Documenti del contratto" }
        @if v.contracts.is_empty() { p { "Nessun documento caricato." } }
        @else {
            ul {
                @for c in &v.contracts {
                    li {
                        a href=(format!("/console/requests/{code}/contracts/{}", url_escaped(&c.name))) { (c.name) }
                        " (" (c.size) " byte, " (when(c.uploaded_at)) ", " (c.uploaded_by) ") "
                        @if open { (button(op, &format!("/console/requests/{code}/contracts/{}/delete", url_escaped(&c.name)), &format!("Cancella {}", c.name))) }
                    }
                }
            }
        }
        @if open {
            form class="noprint" method="post" action=(format!("/console/requests/{code}/contracts")) enctype="multipart/form-data" {
                (op.csrf_field())
                label for="document" { "Documento del contratto (PDF, immagine)" }
                input id="document" name="document" type="file" required;
                button type="submit" { "Carica" }
            }
            div class="noprint" {
                (button(op, &format!("/console/requests/{code}/confirm"), "Conferma il contratto"))
            }
        }
    }
}

async fn detail(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let title = format!("Richiesta {code}");
    let v = match s.archive.show_request(&op.actor, &code).await {
        Ok(v) => v,
        Err(e) => return refused(&title, e),
    };
    let Some(number) = v.code else {
        return refused(
            &title,
            ArchiveError::not_found("codice attivazione: non definito"),
        );
    };
    let pending = v.state == Some(RequestState::DaElaborare);
    let content = html! {
        @if let Some(done) = q.done.as_deref() {
            div class="ok" role="status" { p { (done_text(done)) } }
        }
        p class="noprint" { button type="button" data-print="" { "Stampa il riepilogo" } }
        (summary(&v))
        (documents(&op, &v, number))
        (mailboxes(&v))
        div class="noprint" {
            h2 { "Operazioni" }
            @if pending && !v.confirmed {
                p { a href=(format!("/console/requests/{number}/edit")) { "Modifica la richiesta" } }
            }
            (button(&op, &format!("/console/requests/{number}/duplicate"), "Duplica"))
            @if pending { (button(&op, &format!("/console/requests/{number}/cancel"), "Annulla la richiesta")) }
        }
        script src="/console/console.js" {}
    };
    ok(&title, content)
}

/// Runs one request operation of a form posted to `/console/requests/{code}/...`, then
/// shows the detail with `done`, or the refusal.
async fn act<F, Fut, T>(op: Operator, code: &str, csrf: &str, done: &str, run: F) -> Response
where
    F: FnOnce(Operator, u64) -> Fut,
    Fut: std::future::Future<Output = Result<T, ArchiveError>>,
{
    let title = format!("Richiesta {code}");
    if !op.csrf_ok(csrf) {
        return stale_form(&title);
    }
    let number = match parse_code(code) {
        Ok(n) => n,
        Err(e) => return refused(&title, e),
    };
    match run(op, number).await {
        Ok(_) => see_other(&format!("/console/requests/{number}?done={done}")),
        Err(e) => refused_back(
            &title,
            &format!("/console/requests/{number}"),
            "Torna alla richiesta",
            e,
        ),
    }
}

async fn confirm(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let st = s.clone();
    act(op, &code, &f.csrf, "confirmed", move |op, n| async move {
        st.archive.confirm_contracts(&op.actor, n).await
    })
    .await
}

async fn cancel(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let st = s.clone();
    act(op, &code, &f.csrf, "cancelled", move |op, n| async move {
        st.archive.cancel_request(&op.actor, n).await
    })
    .await
}

async fn delete(
    State(s): S,
    op: Operator,
    Path((code, name)): Path<(String, String)>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let st = s.clone();
    act(op, &code, &f.csrf, "deleted", move |op, n| async move {
        st.archive.delete_contract(&op.actor, n, &name).await
    })
    .await
}

async fn duplicate(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    axum::Form(f): axum::Form<CsrfOnly>,
) -> Response {
    let title = format!("Richiesta {code}");
    if !op.csrf_ok(&f.csrf) {
        return stale_form(&title);
    }
    let copied = match parse_code(&code) {
        Ok(n) => s.archive.duplicate_request(&op.actor, n).await,
        Err(e) => Err(e),
    };
    match copied {
        Ok(RequestView {
            code: Some(new), ..
        }) => see_other(&format!("/console/requests/{new}?done=duplicated")),
        Ok(_) => see_other("/console/requests"),
        Err(e) => refused(&title, e),
    }
}

/// The document and the CSRF token of an upload form.
async fn read_upload(mut m: Multipart) -> Result<(String, String, Vec<u8>), String> {
    let (mut csrf, mut doc) = (String::new(), None);
    while let Some(field) = m.next_field().await.map_err(|e| e.body_text())? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|e| e.body_text())?,
            Some("document") => {
                let name = field.file_name().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(|e| e.body_text())?;
                doc = Some((name, bytes.to_vec()));
            }
            _ => {}
        }
    }
    let (name, bytes) = doc.ok_or("nessun documento nel modulo")?;
    Ok((csrf, name, bytes))
}

async fn upload(State(s): S, op: Operator, Path(code): Path<String>, m: Multipart) -> Response {
    let (csrf, name, bytes) = match read_upload(m).await {
        Ok(x) => x,
        Err(e) => {
            let markup = crate::pages::errors("Caricamento non riuscito", &[e]);
            return answer(
                StatusCode::BAD_REQUEST,
                page(&format!("Richiesta {code}"), markup),
            );
        }
    };
    // A browser may send the path the user picked: only its last component is the name.
    let name = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_string();
    let st = s.clone();
    act(op, &code, &csrf, "uploaded", move |op, n| async move {
        st.archive.add_contract(&op.actor, n, &name, bytes).await
    })
    .await
}

/// A file name for `filename=`: printable ASCII, quotes and backslashes replaced (the exact
/// name travels in `filename*`).
fn ascii_name(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            '"' | '\\' => '_',
            c if c.is_ascii_graphic() || c == ' ' => c,
            _ => '_',
        })
        .collect()
}

async fn download(
    State(s): S,
    op: Operator,
    Path((code, name)): Path<(String, String)>,
) -> Response {
    let title = format!("Richiesta {code}");
    let bytes = match parse_code(&code) {
        Ok(n) => s.archive.contract_bytes(&op.actor, n, &name).await,
        Err(e) => Err(e),
    };
    match bytes {
        Ok(b) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!(
                        "attachment; filename=\"{}\"; filename*=UTF-8''{}",
                        ascii_name(&name),
                        url_escaped(&name)
                    ),
                ),
                (header::CACHE_CONTROL, "no-store".to_string()),
            ],
            b,
        )
            .into_response(),
        Err(e) => refused(&title, e),
    }
}
