//! The console's mailboxes (PROVISIONING.md §4): the search (part of the address, user id,
//! activation date range) with select-all and the batch revoke / reactivate / services with
//! each mailbox's outcome, the CSV report; the mailbox detail (services and quantities, slave
//! counts, history) with its changes: data, massive flag, base → standard, revoke with reason
//! (and the form for an early revocation), reactivate, services. The multi-user panel of the
//! detail is [`super::slaves`].

use axum::extract::{Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use base64::Engine as _;
use maud::{html, Markup};
use pecd_archive::mailboxes::ops::{Change, Form as RevokeForm};
use pecd_archive::mailboxes::search::SearchQuery;
use pecd_archive::mailboxes::services::{ServicesAsk, ARCHIVE_SIZES};
use pecd_archive::mailboxes::show::CasellaDetail;
use pecd_archive::mailboxes::Outcome;
use pecd_archive::model::RevokeReason;
use pecd_archive::ArchiveError;
use serde::Deserialize;

use super::{given, ok, page, refusal, refused, refused_back, stale_form, Operator, S};
use crate::pages::{answer, errors, see_other};

pub fn routes(uploads: usize) -> Router<std::sync::Arc<crate::HttpState>> {
    let revoke = post(revoke).layer(axum::extract::DefaultBodyLimit::max(
        uploads.saturating_add(super::contracts::MULTIPART_OVERHEAD),
    ));
    Router::new()
        .route("/console/mailboxes", get(search).post(batch))
        .route("/console/mailboxes/{address}", get(detail).post(change))
        .route("/console/mailboxes/{address}/revoke", revoke)
        .route("/console/mailboxes/{address}/state", post(one_change))
}

#[derive(Deserialize, Default)]
struct SearchForm {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    userid: Option<String>,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

impl SearchForm {
    fn query(&self) -> SearchQuery {
        SearchQuery {
            address: given(&self.address),
            userid: given(&self.userid),
            activated_from: given(&self.from),
            activated_to: given(&self.to),
            limit: None,
        }
    }

    /// The same search as a query string (for the CSV report's link).
    fn query_string(&self) -> String {
        let q = self.query();
        let pairs = [
            ("address", q.address),
            ("userid", q.userid),
            ("activated_from", q.activated_from),
            ("activated_to", q.activated_to),
        ];
        let given: Vec<(&str, String)> = pairs
            .into_iter()
            .filter_map(|(k, v)| Some((k, v?)))
            .collect();
        serde_urlencoded::to_string(given).unwrap_or_default()
    }
}

fn search_form(q: &SearchForm) -> Markup {
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    html! {
        form method="get" action="/console/mailboxes" role="search" {
            label for="address" { "Parte dell'indirizzo" }
            input id="address" name="address" type="text" value=(value(&q.address));
            label for="userid" { "Nome utente" }
            input id="userid" name="userid" type="text" value=(value(&q.userid));
            label for="from" { "Attivate dal" }
            input id="from" name="from" type="date" value=(value(&q.from));
            label for="to" { "Attivate fino al" }
            input id="to" name="to" type="date" value=(value(&q.to));
            button type="submit" { "Cerca" }
        }
    }
}

/// The batch operations on the selected rows.
fn batch_controls() -> Markup {
    html! {
        fieldset {
            legend { "Operazione sulle caselle selezionate" }
            label for="action" { "Operazione" }
            select id="action" name="action" required {
                option value="" { "Scegliere l'operazione" }
                option value="reactivate" { "Riattiva" }
                option value="revoke-non-payment" { "Revoca per mancato pagamento" }
                option value="revoke-expiry" { "Revoca per scadenza" }
                option value="archive" { "Archivio di sicurezza: imposta la dimensione" }
                option value="sms-on" { "Notifica SMS: attiva" }
                option value="sms-off" { "Notifica SMS: disattiva" }
            }
            label for="archive_gb" { "Dimensione dell'archivio di sicurezza (GB)" }
            select id="archive_gb" name="archive_gb" {
                option value="0" { "0 (disattivo)" }
                @for gb in ARCHIVE_SIZES { option value=(gb) { (gb) } }
            }
            button type="submit" { "Esegui" }
        }
    }
}

async fn search(State(s): S, op: Operator, Query(q): Query<SearchForm>) -> Response {
    let searched = [&q.address, &q.userid, &q.from, &q.to]
        .iter()
        .any(|v| given(v).is_some());
    let (status, result) = if !searched {
        (StatusCode::OK, html! {})
    } else {
        match s.archive.search(&op.actor, &q.query()).await {
            Ok(r) if r.rows.is_empty() => {
                (StatusCode::OK, html! { p { "Nessuna casella trovata." } })
            }
            Ok(r) => (
                StatusCode::OK,
                html! {
                    p {
                        (r.rows.len()) @if r.rows.len() == 1 { " casella" } @else { " caselle" } @if r.truncated { " (le prime: restringere la ricerca)" } ". "
                        a href=(format!("/api/v1/mailboxes.csv?{}", q.query_string())) { "Scarica il report CSV" }
                    }
                    form method="post" action="/console/mailboxes" {
                        (op.csrf_field())
                        div class="table-wrap" {
                            table {
                                thead { tr {
                                    th scope="col" {
                                        label for="select_all" { "Tutte" }
                                        input id="select_all" type="checkbox" data-select-all="";
                                    }
                                    th scope="col" { "Indirizzo" } th scope="col" { "Utente" } th scope="col" { "Stato" }
                                    th scope="col" { "Tipo" } th scope="col" { "Attivata" } th scope="col" { "Cliente / account" } th scope="col" { "Scadenza" }
                                } }
                                tbody {
                                    @for (i, row) in r.rows.iter().enumerate() {
                                        tr {
                                            td {
                                                input id=(format!("sel_{i}")) type="checkbox" name="address" value=(row.address)
                                                    aria-label=(format!("Seleziona {}", row.address));
                                            }
                                            td { a href=(format!("/console/mailboxes/{}", row.address)) { (row.address) } }
                                            td { (row.userid.clone().unwrap_or_default()) }
                                            td { (row.state) }
                                            td { (row.kind.clone().unwrap_or_default()) }
                                            td { (row.activated.clone().unwrap_or_default()) }
                                            td { (row.customer.clone().unwrap_or_default()) " / " (row.account.clone().unwrap_or_default()) }
                                            td { (row.expiry.clone().unwrap_or_default()) }
                                        }
                                    }
                                }
                            }
                        }
                        (batch_controls())
                    }
                    script src="/console/console.js" {}
                },
            ),
            Err(e) => refusal(e),
        }
    };
    let content = html! { (search_form(&q)) (result) };
    answer(status, page("Ricerca caselle", content))
}

/// Each mailbox's outcome of a batch operation.
fn outcomes(list: &[Outcome]) -> Markup {
    html! {
        table {
            caption { "Esito per casella" }
            thead { tr { th scope="col" { "Casella" } th scope="col" { "Esito" } th scope="col" { "Motivo" } } }
            tbody {
                @for o in list {
                    tr { td { (o.address) } td { (o.outcome) } td { (o.reason.clone().unwrap_or_default()) } }
                }
            }
        }
    }
}

/// Runs the batch `action` (a value of [`batch_controls`]) on `addresses`.
async fn run_batch(
    s: &crate::HttpState,
    op: &Operator,
    action: &str,
    archive_gb: Option<u32>,
    addresses: &[String],
) -> Result<Vec<Outcome>, ArchiveError> {
    let a = &op.actor;
    let services =
        |ask: ServicesAsk| async move { s.archive.set_services(a, addresses, ask).await };
    match action {
        "reactivate" => s.archive.reactivate(a, addresses).await,
        "revoke-non-payment" => {
            s.archive
                .revoke(a, addresses, RevokeReason::NonPayment, None)
                .await
        }
        "revoke-expiry" => {
            s.archive
                .revoke(a, addresses, RevokeReason::Expiry, None)
                .await
        }
        "archive" => {
            services(ServicesAsk {
                archive_gb: Some(archive_gb.unwrap_or(0)),
                ..ServicesAsk::default()
            })
            .await
        }
        "sms-on" | "sms-off" => {
            services(ServicesAsk {
                sms: Some(action == "sms-on"),
                ..ServicesAsk::default()
            })
            .await
        }
        other => Err(ArchiveError::invalid(format!(
            "operazione sconosciuta: {other}"
        ))),
    }
}

/// The confirmation of a batch revocation: the addresses and the reason, and the same
/// form again with `confirmed`.
fn confirm_page(op: &Operator, action: &str, addresses: &[String]) -> Response {
    let reason = match action {
        "revoke-expiry" => "scadenza del contratto",
        _ => "mancato pagamento",
    };
    let content = html! {
        div class="error" role="alert" {
            p { "Revocare " (addresses.len()) " caselle per " (reason) "? Le caselle revocate non ricevono né inviano messaggi." }
        }
        ul { @for a in addresses { li { (a) } } }
        form method="post" action="/console/mailboxes" {
            (op.csrf_field())
            input type="hidden" name="action" value=(action);
            input type="hidden" name="confirmed" value="1";
            @for a in addresses { input type="hidden" name="address" value=(a); }
            button type="submit" { "Conferma la revoca" }
        }
        p { a href="/console/mailboxes" { "Annulla e torna alla ricerca" } }
    };
    ok("Conferma della revoca", content)
}

async fn batch(State(s): S, op: Operator, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let title = "Operazione sulle caselle";
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if !op.csrf_ok(get("csrf").unwrap_or("")) {
        return stale_form(title);
    }
    let addresses: Vec<String> = pairs
        .iter()
        .filter(|(n, _)| n == "address")
        .map(|(_, v)| v.clone())
        .collect();
    if addresses.is_empty() {
        let e = errors("Nessuna casella selezionata.", &[]);
        return answer(StatusCode::UNPROCESSABLE_ENTITY, page(title, e));
    }
    let gb = get("archive_gb").and_then(|v| v.parse().ok());
    let action = get("action").unwrap_or("");
    // A revocation is confirmed on a page listing what it will revoke, and why.
    if action.starts_with("revoke-") && get("confirmed") != Some("1") {
        return confirm_page(&op, action, &addresses);
    }
    match run_batch(&s, &op, action, gb, &addresses).await {
        Ok(list) => ok(
            title,
            html! { (outcomes(&list)) p { a href="/console/mailboxes" { "Nuova ricerca" } } },
        ),
        Err(e) => refused(title, e),
    }
}

fn detail_list(d: &CasellaDetail) -> Markup {
    html! {
        dl {
            dt { "Utente" } dd { (d.userid.clone().unwrap_or_default()) }
            dt { "Descrizione" } dd { (d.description) }
            dt { "Tipo" } dd { (d.kind.clone().unwrap_or_default()) @if let Some(n) = &d.type_note { " - " (n) } }
            dt { "Stato" } dd { (d.state) @if let Some(r) = &d.revoke_reason { " (" (r) ")" } }
            dt { "Codice attivazione" } dd { (d.request) }
            dt { "Cliente / account" } dd { (d.customer.clone().unwrap_or_default()) " / " (d.account.clone().unwrap_or_default()) }
            dt { "Attivata" } dd { (d.activated.clone().unwrap_or_default()) }
            dt { "Scadenza" } dd { (d.expiry.clone().unwrap_or_default()) }
            dt { "Casella massiva" } dd { @if d.massive { "sì" } @else { "no" } }
            dt { "Utenze aggiuntive" } dd { (d.slaves.active) " attive o in attivazione su " (d.slaves.total) }
        }
        table {
            caption { "Servizi" }
            thead { tr { th scope="col" { "Servizio" } th scope="col" { "Attivo" } th scope="col" { "Quantità" } } }
            tbody { @for sl in &d.services { tr { td { (sl.name) } td { @if sl.enabled { "sì" } @else { "no" } } td { (sl.quantity) } } } }
        }
    }
}

fn detail_forms(op: &Operator, d: &CasellaDetail) -> Markup {
    let base = format!("/console/mailboxes/{}", d.address);
    let state_button = |what: &str, label: &str| {
        html! {
            form class="inline" method="post" action=(format!("{base}/state")) {
                (op.csrf_field())
                input type="hidden" name="what" value=(what);
                button type="submit" { (label) }
            }
        }
    };
    html! {
        h2 { "Modifica dei dati" }
        form method="post" action=(base) {
            (op.csrf_field())
            label for="description" { "Descrizione" }
            input id="description" name="description" type="text" value=(d.description);
            label for="expiry" { "Scadenza" }
            input id="expiry" name="expiry" type="date" value=(d.expiry.clone().unwrap_or_default());
            button type="submit" { "Salva i dati" }
        }
        h2 { "Stato e tipo" }
        p {
            (state_button("reactivate", "Riattiva"))
            @if op.actor.may_manage_massive() {
                @if d.massive { (state_button("massive-off", "Togli il flag massiva")) }
                @else { (state_button("massive-on", "Imposta il flag massiva")) }
            }
            @if d.kind.as_deref() == Some("base") { (state_button("to-standard", "Trasforma da base a standard")) }
        }
        form method="post" action=(format!("{base}/revoke")) enctype="multipart/form-data" {
            (op.csrf_field())
            fieldset {
                legend { "Revoca" }
                label for="reason" { "Motivo" }
                select id="reason" name="reason" {
                    option value="non-payment" { "mancato pagamento" }
                    option value="expiry" { "scadenza del contratto" }
                    option value="customer-request" { "revoca anticipata su richiesta del cliente" }
                }
                label for="form" { "Modulo di revoca (solo per la revoca anticipata)" }
                input id="form" name="form" type="file";
                button type="submit" { "Revoca la casella" }
            }
        }
    }
}

#[derive(Deserialize)]
struct Done {
    #[serde(default)]
    done: Option<String>,
}

async fn detail(
    State(s): S,
    op: Operator,
    Path(address): Path<String>,
    Query(q): Query<Done>,
) -> Response {
    let title = format!("Casella {address}");
    let d = match s.archive.casella_detail(&op.actor, &address).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return refused(
                &title,
                ArchiveError::not_found(format!("casella inesistente: {address}")),
            )
        }
        Err(e) => return refused(&title, e),
    };
    let slaves = super::slaves::panel(&s, &op, &d.address).await;
    let content = html! {
        @if let Some(done) = q.done.as_deref() {
            div class="ok" role="status" { p { (match done { "slave" => "Utenza aggiunta.", _ => "Operazione registrata." }) } }
        }
        (detail_list(&d))
        (detail_forms(&op, &d))
        (slaves)
        details {
            summary { "Storico" }
            ul { @for h in &d.history { li { (super::when(h.at)) " - " (h.by) ": " (h.what) } } }
        }
    };
    ok(&title, content)
}

/// The answer of a mailbox operation: the detail again, or the refusal with a way back.
fn after(address: &str, r: Result<(), ArchiveError>) -> Response {
    match r {
        Ok(()) => see_other(&format!("/console/mailboxes/{address}?done=1")),
        Err(e) => refused_back(
            &format!("Casella {address}"),
            &format!("/console/mailboxes/{address}"),
            "Torna alla casella",
            e,
        ),
    }
}

/// A batch of one refused mailbox as an error.
fn single(list: Vec<Outcome>) -> Result<(), ArchiveError> {
    match list.into_iter().next() {
        Some(o) if o.reason.is_some() => Err(ArchiveError::conflict(o.reason.unwrap_or_default())),
        _ => Ok(()),
    }
}

#[derive(Deserialize)]
struct ChangeForm {
    csrf: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    expiry: Option<String>,
}

async fn change(
    State(s): S,
    op: Operator,
    Path(address): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form(&format!("Casella {address}"));
    }
    let ch = Change {
        new_address: None,
        description: given(&f.description),
        expiry: given(&f.expiry),
    };
    let r = s.archive.change(&op.actor, &address, ch).await.map(|_| ());
    after(&address, r)
}

#[derive(Deserialize)]
struct StateForm {
    csrf: String,
    what: String,
}

async fn one_change(
    State(s): S,
    op: Operator,
    Path(address): Path<String>,
    Form(f): Form<StateForm>,
) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form(&format!("Casella {address}"));
    }
    let a = &op.actor;
    let one = [address.clone()];
    let r = match f.what.as_str() {
        "reactivate" => s.archive.reactivate(a, &one).await.and_then(single),
        "massive-on" | "massive-off" => s
            .archive
            .set_massive(a, &address, f.what == "massive-on")
            .await
            .map(|_| ()),
        "to-standard" => s.archive.to_standard(a, &address).await.map(|_| ()),
        other => Err(ArchiveError::invalid(format!(
            "operazione sconosciuta: {other}"
        ))),
    };
    after(&address, r)
}

/// The fields of the revocation form: CSRF token, reason, and the uploaded file if any.
async fn read_revoke(mut m: Multipart) -> Result<(String, String, Option<RevokeForm>), String> {
    let (mut csrf, mut reason, mut form) = (String::new(), String::new(), None);
    while let Some(field) = m.next_field().await.map_err(|e| e.body_text())? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(|e| e.body_text())?,
            Some("reason") => reason = field.text().await.map_err(|e| e.body_text())?,
            Some("form") => {
                let name = field.file_name().unwrap_or_default();
                let name = name
                    .rsplit(['/', '\\'])
                    .next()
                    .unwrap_or_default()
                    .to_string();
                let bytes = field.bytes().await.map_err(|e| e.body_text())?;
                if !name.is_empty() && !bytes.is_empty() {
                    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
                    form = Some(RevokeForm { name, content });
                }
            }
            _ => {}
        }
    }
    Ok((csrf, reason, form))
}

async fn revoke(State(s): S, op: Operator, Path(address): Path<String>, m: Multipart) -> Response {
    let title = format!("Casella {address}");
    let (csrf, reason, form) = match read_revoke(m).await {
        Ok(x) => x,
        Err(e) => {
            return answer(
                StatusCode::BAD_REQUEST,
                page(&title, errors("Modulo non leggibile", &[e])),
            )
        }
    };
    if !op.csrf_ok(&csrf) {
        return stale_form(&title);
    }
    let r = match reason.parse::<RevokeReason>() {
        Ok(reason) => s
            .archive
            .revoke(&op.actor, std::slice::from_ref(&address), reason, form)
            .await
            .and_then(single),
        Err(e) => Err(ArchiveError::invalid(e)),
    };
    after(&address, r)
}
