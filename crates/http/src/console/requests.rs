//! The console's requests (PROVISIONING.md §3): the new-request form (richiedente, titolare,
//! mailbox lines, types where the operator is entitled, expiry, order number) whose errors
//! are shown in place, each `riga N` beside its line, with everything typed kept; the
//! modification of a pending request (the manual's warning shown after it); the recent
//! requests and the search. The detail page and its documents are in
//! [`super::contracts`].

use std::collections::BTreeMap;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::requests::file::{LineFile, RequestFile, MAX_LINES};
use pecd_archive::requests::model::{Person, RequestView, Titolare};
use pecd_archive::requests::ops::RequestQuery;
use pecd_archive::requests::parse_code;
use pecd_archive::ArchiveError;
use serde::Deserialize;

use super::{given, ok, page, refusal, refused, stale_form, Operator, S};
use crate::pages::{answer, errors, see_other};

pub fn routes() -> axum::Router<std::sync::Arc<crate::HttpState>> {
    Router::new()
        .route("/console/requests", get(list))
        .route("/console/requests/new", get(new_form).post(create))
        .route("/console/requests/{code}/edit", get(edit_form).post(modify))
}

/// Mailbox lines the form shows by default, and at most.
const DEFAULT_LINES: usize = 3;
const MAX_FORM_LINES: usize = 50;

/// The form as typed: every field by name.
type Fields = BTreeMap<String, String>;

fn field<'a>(f: &'a Fields, name: &str) -> &'a str {
    f.get(name).map(String::as_str).unwrap_or("")
}

/// The request file a form describes. Empty mailbox lines are left out, and the line numbers
/// of the archive's errors are then those of the non-empty lines: `numbers[i]` is the form
/// row of the file's line `i`.
fn request_file(f: &Fields, rows: usize) -> (RequestFile, Vec<usize>) {
    let opt = |name: &str| given(&f.get(name).cloned());
    let (customer, account) = match field(f, "scope").split_once('/') {
        Some((c, a)) => (Some(c.to_string()), Some(a.to_string())),
        None => (None, None),
    };
    let mut lines = Vec::new();
    let mut numbers = Vec::new();
    for i in 1..=rows {
        let address = field(f, &format!("address_{i}")).trim().to_string();
        let description = field(f, &format!("description_{i}")).trim().to_string();
        if address.is_empty() && description.is_empty() {
            continue;
        }
        numbers.push(i);
        lines.push(LineFile {
            address,
            description,
            kind: opt(&format!("type_{i}")),
        });
    }
    let file = RequestFile {
        customer,
        account,
        order: opt("order"),
        expiry: opt("expiry"),
        richiedente: Person {
            surname: field(f, "r_surname").trim().into(),
            first_name: field(f, "r_first_name").trim().into(),
            tax_code: field(f, "r_tax_code").trim().into(),
            email: field(f, "r_email").trim().into(),
            phone: field(f, "r_phone").trim().into(),
        },
        titolare: Titolare {
            name: field(f, "t_name").trim().into(),
            tax_code: field(f, "t_tax_code").trim().into(),
            address: field(f, "t_address").trim().into(),
            email: field(f, "t_email").trim().into(),
        },
        mailboxes: lines,
        collocazione: None,
    };
    (file, numbers)
}

/// The fields of an existing request, to modify or duplicate it in the form.
fn fields_of(v: &RequestView) -> Fields {
    let mut f = Fields::new();
    let mut set = |k: &str, v: &str| {
        f.insert(k.to_string(), v.to_string());
    };
    if let (Some(c), Some(a)) = (&v.customer, &v.account) {
        set("scope", &format!("{c}/{a}"));
    }
    set("order", v.order.as_deref().unwrap_or(""));
    set(
        "expiry",
        &v.expiry.map(|d| d.to_string()).unwrap_or_default(),
    );
    if let Some(p) = &v.richiedente {
        set("r_surname", &p.surname);
        set("r_first_name", &p.first_name);
        set("r_tax_code", &p.tax_code);
        set("r_email", &p.email);
        set("r_phone", &p.phone);
    }
    if let Some(t) = &v.titolare {
        set("t_name", &t.name);
        set("t_tax_code", &t.tax_code);
        set("t_address", &t.address);
        set("t_email", &t.email);
    }
    for (i, m) in v.mailboxes.iter().enumerate() {
        set(&format!("address_{}", i + 1), &m.address);
        set(&format!("description_{}", i + 1), &m.description);
        if let Some(k) = m.kind {
            set(&format!("type_{}", i + 1), k.name());
        }
    }
    f
}

/// Errors split into the general ones and those of each form row (`riga N: ...` of the
/// archive, N counted over the non-empty lines).
fn place_errors(
    details: &[String],
    numbers: &[usize],
) -> (Vec<String>, BTreeMap<usize, Vec<String>>) {
    let mut general = Vec::new();
    let mut rows: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for d in details {
        let row = d
            .strip_prefix("riga ")
            .and_then(|rest| rest.split_once(": "))
            .and_then(|(n, text)| Some((n.parse::<usize>().ok()?, text)))
            .and_then(|(n, text)| Some((*numbers.get(n.checked_sub(1)?)?, text)));
        match row {
            Some((row, text)) => rows.entry(row).or_default().push(text.to_string()),
            None => general.push(d.clone()),
        }
    }
    (general, rows)
}

/// What the form page needs beside the fields.
struct FormView<'a> {
    action: String,
    submit: &'a str,
    rows: usize,
    scopes: Vec<(String, String)>,
    may_choose_type: bool,
    error: Option<Markup>,
    row_errors: BTreeMap<usize, Vec<String>>,
}

fn text_input(f: &Fields, name: &str, label: &str, kind: &str, required: bool) -> Markup {
    html! {
        label for=(name) { (label) }
        input id=(name) name=(name) type=(kind) required[required] value=(field(f, name));
    }
}

fn line_row(f: &Fields, v: &FormView, i: usize) -> Markup {
    let problems = v.row_errors.get(&i);
    let err_id = format!("line_error_{i}");
    let described = problems.map(|_| err_id.clone());
    html! {
        tr id=(format!("riga-{i}")) {
            td { (i) }
            td {
                label class="sr" for=(format!("address_{i}")) { "Indirizzo riga " (i) }
                input id=(format!("address_{i}")) name=(format!("address_{i}")) type="text"
                    value=(field(f, &format!("address_{i}"))) aria-invalid=[problems.map(|_| "true")]
                    aria-describedby=[described.as_deref()];
                @if let Some(p) = problems {
                    p id=(err_id) class="line-error" { @for t in p { (t) br; } }
                }
            }
            td {
                label class="sr" for=(format!("description_{i}")) { "Descrizione riga " (i) }
                input id=(format!("description_{i}")) name=(format!("description_{i}")) type="text"
                    value=(field(f, &format!("description_{i}")));
            }
            @if v.may_choose_type {
                td {
                    label class="sr" for=(format!("type_{i}")) { "Tipo riga " (i) }
                    @let chosen = field(f, &format!("type_{i}"));
                    select id=(format!("type_{i}")) name=(format!("type_{i}")) {
                        @for t in ["standard", "base", "aperta"] {
                            option value=(t) selected[chosen == t] { (t) }
                        }
                    }
                }
            }
        }
    }
}

fn request_form(op: &Operator, f: &Fields, v: &FormView) -> Markup {
    let chosen_scope = field(f, "scope");
    html! {
        @if let Some(e) = &v.error { (e) }
        form method="post" action=(v.action) {
            (op.csrf_field())
            input type="hidden" name="rows" value=(v.rows);
            fieldset {
                legend { "Contratto" }
                label for="scope" { "Cliente / account" }
                select id="scope" name="scope" {
                    @for (c, a) in &v.scopes {
                        @let value = format!("{c}/{a}");
                        option value=(value) selected[chosen_scope == value] { (c) " / " (a) }
                    }
                }
                (text_input(f, "order", "Numero d'ordine", "text", false))
                (text_input(f, "expiry", "Scadenza (vuota: un anno da oggi)", "date", false))
            }
            fieldset {
                legend { "Richiedente" }
                (text_input(f, "r_surname", "Cognome", "text", true))
                (text_input(f, "r_first_name", "Nome", "text", true))
                (text_input(f, "r_tax_code", "Codice fiscale", "text", true))
                (text_input(f, "r_email", "E-mail", "email", true))
                (text_input(f, "r_phone", "Telefono", "tel", true))
            }
            fieldset {
                legend { "Titolare" }
                (text_input(f, "t_name", "Nome o ragione sociale", "text", true))
                (text_input(f, "t_tax_code", "Codice fiscale o partita IVA", "text", true))
                (text_input(f, "t_address", "Indirizzo", "text", true))
                (text_input(f, "t_email", "E-mail di contatto", "email", true))
            }
            fieldset {
                legend { "Caselle" }
                div class="table-wrap" {
                    table {
                        caption { "Una casella per riga; le righe vuote sono ignorate." }
                        thead { tr {
                            th scope="col" { "Riga" } th scope="col" { "Indirizzo" }
                            th scope="col" { "Descrizione" }
                            @if v.may_choose_type { th scope="col" { "Tipo" } }
                        } }
                        tbody { @for i in 1..=v.rows { (line_row(f, v, i)) } }
                    }
                }
                p class="hint" {
                    a href=(format!("{}?righe={}", v.action, (v.rows + 5).min(MAX_FORM_LINES))) { "Più righe" }
                    " (i dati già scritti vanno reinseriti)"
                }
            }
            button type="submit" { (v.submit) }
        }
    }
}

/// The customer/account pairs the operator may write a request for, the chosen one first.
async fn scopes(
    s: &crate::HttpState,
    op: &Operator,
) -> Result<Vec<(String, String)>, ArchiveError> {
    let mut list: Vec<(String, String)> = s
        .archive
        .list_accounts(&op.actor, None)
        .await?
        .into_iter()
        .map(|a| (a.customer, a.code))
        .collect();
    if let Some(choice) = &op.choice {
        if let Some(i) = list.iter().position(|x| x == choice) {
            let c = list.remove(i);
            list.insert(0, c);
        }
    }
    Ok(list)
}

#[derive(Deserialize)]
struct Rows {
    #[serde(default)]
    righe: Option<usize>,
}

fn row_count(asked: Option<usize>, f: &Fields) -> usize {
    let filled = (1..=MAX_LINES)
        .take_while(|i| f.contains_key(&format!("address_{i}")))
        .count();
    asked
        .unwrap_or(DEFAULT_LINES)
        .max(filled)
        .clamp(1, MAX_FORM_LINES)
}

async fn new_form(State(s): S, op: Operator, Query(q): Query<Rows>) -> Response {
    let scopes = match scopes(&s, &op).await {
        Ok(list) => list,
        Err(e) => return refused("Nuova richiesta", e),
    };
    let f = Fields::new();
    let v = FormView {
        action: "/console/requests/new".into(),
        submit: "Inserisci la richiesta",
        rows: row_count(q.righe, &f),
        scopes,
        may_choose_type: op.actor.may_choose_type(),
        error: None,
        row_errors: BTreeMap::new(),
    };
    ok("Nuova richiesta", request_form(&op, &f, &v))
}

/// The form again with the archive's refusal: general errors on top, each line's beside it.
async fn form_again(
    s: &crate::HttpState,
    op: &Operator,
    title: &str,
    mut v: FormView<'_>,
    f: &Fields,
    numbers: &[usize],
    e: ArchiveError,
) -> Response {
    let (general, rows) = place_errors(&e.details, numbers);
    let (status, _) = refusal(e.clone());
    let lines: Vec<usize> = rows.keys().copied().collect();
    v.error = Some(html! {
        (errors(&e.message, &general))
        @if !lines.is_empty() {
            p role="alert" {
                "Righe con errori (il dettaglio è accanto a ciascuna): "
                @for (i, n) in lines.iter().enumerate() {
                    @if i > 0 { ", " }
                    a href=(format!("#riga-{n}")) { "riga " (n) }
                }
            }
        }
    });
    v.row_errors = rows;
    if v.scopes.is_empty() {
        v.scopes = scopes(s, op).await.unwrap_or_default();
    }
    answer(status, page(title, request_form(op, f, &v)))
}

async fn create(State(s): S, op: Operator, Form(pairs): Form<Vec<(String, String)>>) -> Response {
    let f: Fields = pairs.into_iter().collect();
    if !op.csrf_ok(field(&f, "csrf")) {
        return stale_form("Nuova richiesta");
    }
    let rows = row_count(field(&f, "rows").parse().ok(), &f);
    let (file, numbers) = request_file(&f, rows);
    match s.archive.create_request(&op.actor, file).await {
        Ok(v) => match v.code {
            Some(code) => see_other(&format!("/console/requests/{code}?done=created")),
            None => see_other("/console/requests"),
        },
        Err(e) => {
            let v = FormView {
                action: "/console/requests/new".into(),
                submit: "Inserisci la richiesta",
                rows,
                scopes: Vec::new(),
                may_choose_type: op.actor.may_choose_type(),
                error: None,
                row_errors: BTreeMap::new(),
            };
            form_again(&s, &op, "Nuova richiesta", v, &f, &numbers, e).await
        }
    }
}

async fn edit_form(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    Query(q): Query<Rows>,
) -> Response {
    let title = format!("Modifica della richiesta {code}");
    let view = match s.archive.show_request(&op.actor, &code).await {
        Ok(v) => v,
        Err(e) => return refused(&title, e),
    };
    // The modification replaces every line: a request longer than the form cannot be
    // shown whole, so it is not modified here.
    if view.mailboxes.len() > MAX_FORM_LINES {
        let e = ArchiveError::invalid(format!(
            "la richiesta ha {} caselle, più delle {MAX_FORM_LINES} righe del modulo: \
             la modifichi con pecctl request modify o con l'API",
            view.mailboxes.len()
        ));
        return refused(&title, e);
    }
    let f = fields_of(&view);
    let scope = f.get("scope").cloned().unwrap_or_default();
    // Two empty lines beyond the request's, for mailboxes to add.
    let rows = row_count(q.righe, &f).max(view.mailboxes.len() + 2);
    let v = FormView {
        action: format!("/console/requests/{code}/edit"),
        submit: "Modifica la richiesta",
        rows: rows.min(MAX_FORM_LINES),
        scopes: scope
            .split_once('/')
            .map(|(c, a)| vec![(c.into(), a.into())])
            .unwrap_or_default(),
        may_choose_type: op.actor.may_choose_type(),
        error: Some(html! {
            div class="error" role="note" {
                p { "La modifica sostituisce i dati e le caselle della richiesta; cliente e account non cambiano." }
            }
        }),
        row_errors: BTreeMap::new(),
    };
    ok(&title, request_form(&op, &f, &v))
}

async fn modify(
    State(s): S,
    op: Operator,
    Path(code): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let title = format!("Modifica della richiesta {code}");
    let f: Fields = pairs.into_iter().collect();
    if !op.csrf_ok(field(&f, "csrf")) {
        return stale_form(&title);
    }
    let number = match parse_code(&code) {
        Ok(n) => n,
        Err(e) => return refused(&title, e),
    };
    let rows = row_count(field(&f, "rows").parse().ok(), &f);
    let (file, numbers) = request_file(&f, rows);
    match s.archive.modify_request(&op.actor, number, file).await {
        Ok(_) => see_other(&format!("/console/requests/{number}?done=modified")),
        Err(e) => {
            let scope = field(&f, "scope");
            let v = FormView {
                action: format!("/console/requests/{number}/edit"),
                submit: "Modifica la richiesta",
                rows,
                scopes: scope
                    .split_once('/')
                    .map(|(c, a)| vec![(c.into(), a.into())])
                    .unwrap_or_default(),
                may_choose_type: op.actor.may_choose_type(),
                error: None,
                row_errors: BTreeMap::new(),
            };
            form_again(&s, &op, &title, v, &f, &numbers, e).await
        }
    }
}

#[derive(Deserialize)]
struct SearchForm {
    #[serde(default)]
    richiedente: Option<String>,
    #[serde(default)]
    titolare: Option<String>,
    #[serde(default)]
    order: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// A table of requests, each linked to its detail.
pub(crate) fn request_table(list: &[RequestView]) -> Markup {
    html! {
        div class="table-wrap" {
            table {
                thead { tr {
                    th scope="col" { "Codice" } th scope="col" { "Stato" } th scope="col" { "Cliente / account" }
                    th scope="col" { "Titolare" } th scope="col" { "Ordine" } th scope="col" { "Caselle" }
                } }
                tbody {
                    @for r in list {
                        tr {
                            td { @if let Some(c) = r.code { a href=(format!("/console/requests/{c}")) { (c) } } @else { "non definito" } }
                            td { (r.state.map(|s| s.name()).unwrap_or("-")) }
                            td { (r.customer.clone().unwrap_or_default()) " / " (r.account.clone().unwrap_or_default()) }
                            td { (r.titolare.as_ref().map(|t| t.name.clone()).unwrap_or_default()) }
                            td { (r.order.clone().unwrap_or_default()) }
                            td { (r.mailboxes.len()) }
                        }
                    }
                }
            }
        }
    }
}

async fn list(State(s): S, op: Operator, Query(q): Query<SearchForm>) -> Response {
    let searched = [&q.richiedente, &q.titolare, &q.order, &q.code]
        .iter()
        .any(|v| given(v).is_some());
    let found = if searched {
        let code = match given(&q.code).map(|c| parse_code(&c)).transpose() {
            Ok(c) => c,
            Err(e) => return refused("Richieste", e),
        };
        let query = RequestQuery {
            richiedente: given(&q.richiedente),
            titolare: given(&q.titolare),
            order: given(&q.order),
            code,
        };
        s.archive.search_requests(&op.actor, &query).await
    } else {
        s.archive.recent_requests(&op.actor).await
    };
    let (status, result) = match found {
        Ok(list) if list.is_empty() => {
            (StatusCode::OK, html! { p { "Nessuna richiesta trovata." } })
        }
        Ok(list) => (StatusCode::OK, request_table(&list)),
        Err(e) => refusal(e),
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let content = html! {
        form method="get" action="/console/requests" role="search" {
            label for="code" { "Codice attivazione" }
            input id="code" name="code" type="text" inputmode="numeric" value=(value(&q.code));
            label for="richiedente" { "Richiedente (cognome)" }
            input id="richiedente" name="richiedente" type="text" value=(value(&q.richiedente));
            label for="titolare" { "Titolare" }
            input id="titolare" name="titolare" type="text" value=(value(&q.titolare));
            label for="order" { "Numero d'ordine" }
            input id="order" name="order" type="text" value=(value(&q.order));
            button type="submit" { "Cerca" }
        }
        h2 { @if searched { "Risultato della ricerca" } @else { "Richieste recenti" } }
        (result)
    };
    answer(status, page("Richieste", content))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_errors_land_beside_their_form_row_counting_only_filled_rows() {
        // Rows 1 and 3 filled: the archive's `riga 2` is the form's row 3.
        let details = vec![
            "riga 2: address \"x\": not an address".to_string(),
            "richiedente: email mancante".to_string(),
            "riga 9: beyond the lines".to_string(),
        ];
        let (general, rows) = place_errors(&details, &[1, 3]);
        assert_eq!(
            rows.get(&3).unwrap(),
            &vec!["address \"x\": not an address".to_string()]
        );
        assert_eq!(general.len(), 2, "{general:?}");
    }

    #[test]
    fn empty_form_rows_are_left_out_of_the_request_file() {
        let mut f = Fields::new();
        f.insert("scope".into(), "C1/A1".into());
        f.insert("address_1".into(), "a@pec.localhost".into());
        f.insert("address_2".into(), " ".into());
        f.insert("address_3".into(), "b@pec.localhost".into());
        f.insert("description_3".into(), "B".into());
        let (file, numbers) = request_file(&f, 3);
        assert_eq!(numbers, vec![1, 3]);
        assert_eq!(file.mailboxes.len(), 2);
        assert_eq!(file.customer.as_deref(), Some("C1"));
        assert_eq!(file.account.as_deref(), Some("A1"));
    }
}
