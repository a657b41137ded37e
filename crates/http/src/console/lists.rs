//! The console's other archive pages: domains (list, request, enable for administrators,
//! PROVISIONING.md §5), expiry management settings (§6), the password campaign's lists with
//! the CSV download (§7), and the audit log (§2).

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use maud::{html, Markup};
use pecd_archive::audit::AuditQuery;
use pecd_archive::domains::DomainRequest;
use pecd_archive::expiry::ExpirySet;
use pecd_archive::model::{DomainFamily, DomainState};
use pecd_archive::ArchiveError;
use serde::Deserialize;

use crate::pages::CsrfOnly;

use super::{given, ok, page, refusal, refused, refused_back, stale_form, when, Operator, S};
use crate::pages::{answer, see_other};
use crate::HttpState;

pub fn routes() -> Router<std::sync::Arc<HttpState>> {
    Router::new()
        .route("/console/domains", get(domains).post(request_domain))
        .route("/console/domains/{name}/enable", post(enable_domain))
        .route("/console/expiry", get(expiry).post(set_expiry))
        .route("/console/campaign", get(campaign))
        .route("/console/audit", get(audit))
}

/// A page of `result` (its status), or of the refusal that replaced it.
fn shown(title: &str, result: Result<Markup, ArchiveError>) -> Response {
    match result {
        Ok(m) => ok(title, m),
        Err(e) => refused(title, e),
    }
}

/// After a form: back to `to`, or the refusal with a link back.
fn after(title: &str, to: &str, r: Result<(), ArchiveError>) -> Response {
    match r {
        Ok(()) => see_other(to),
        Err(e) => refused_back(title, to, "Torna indietro", e),
    }
}

async fn domains(State(s): S, op: Operator) -> Response {
    let admin = op.actor.is_admin();
    let result = s.archive.list_domains(&op.actor).await.map(|list| {
        html! {
            table {
                thead { tr { th scope="col" { "Dominio" } th scope="col" { "Tipo" } th scope="col" { "Stato" } th scope="col" { "Cliente / account" } th scope="col" { "Richiesto" } th scope="col" { "Operazioni" } } }
                tbody {
                    @for d in &list {
                        tr {
                            td { (d.name) }
                            td { (family_name(d.family)) }
                            td { (state_name(d.state)) }
                            td { (d.customer.clone().unwrap_or_else(|| "tutti".into())) " / " (d.account.clone().unwrap_or_default()) }
                            td { (when(d.requested_at)) " da " (d.requested_by) }
                            td {
                                @if admin && d.state == DomainState::Requested {
                                    form class="inline" method="post" action=(format!("/console/domains/{}/enable", d.name)) {
                                        (op.csrf_field())
                                        button type="submit" { "Abilita " (d.name) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action="/console/domains" {
                (op.csrf_field())
                fieldset {
                    legend { "Richiesta di un nuovo dominio" }
                    label for="name" { "Dominio" }
                    input id="name" name="name" type="text" required;
                    label for="family" { "Tipo" }
                    select id="family" name="family" {
                        option value="ordinary" { "ordinario" }
                        option value="pa" { "pubblica amministrazione" }
                    }
                    label for="order" { "Numero d'ordine" }
                    input id="order" name="order" type="text";
                    button type="submit" { "Richiedi il dominio" }
                }
            }
        }
    });
    shown("Domini", result)
}

pub(crate) fn state_name(state: DomainState) -> &'static str {
    match state {
        DomainState::Requested => "richiesto",
        DomainState::Enabled => "abilitato",
    }
}

fn family_name(family: DomainFamily) -> &'static str {
    match family {
        DomainFamily::Ordinary => "ordinario",
        DomainFamily::Pa => "pubblica amministrazione",
    }
}

#[derive(Deserialize)]
struct DomainForm {
    csrf: String,
    name: String,
    family: String,
    #[serde(default)]
    order: Option<String>,
}

async fn request_domain(State(s): S, op: Operator, Form(f): Form<DomainForm>) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form("Domini");
    }
    let family = if f.family == "pa" {
        DomainFamily::Pa
    } else {
        DomainFamily::Ordinary
    };
    // Administrators request for the chosen customer/account; others for their own.
    let (customer, account) = match (&op.choice, op.actor.is_admin_like()) {
        (Some((c, a)), true) => (Some(c.clone()), Some(a.clone())),
        _ => (None, None),
    };
    let r = DomainRequest {
        name: f.name.trim().to_string(),
        family,
        order: given(&f.order),
        customer,
        account,
    };
    let done = s.archive.request_domain(&op.actor, r).await.map(|_| ());
    after("Domini", "/console/domains", done)
}

async fn enable_domain(
    State(s): S,
    op: Operator,
    Path(name): Path<String>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form("Domini");
    }
    let done = s.archive.enable_domain(&op.actor, &name).await.map(|_| ());
    after("Domini", "/console/domains", done)
}

async fn expiry(State(s): S, op: Operator) -> Response {
    let configs = match s.archive.expiry_configs(&op.actor).await {
        Ok(c) => c,
        Err(e) => return shown("Gestione scadenze", Err(e)),
    };
    let accounts = s
        .archive
        .list_accounts(&op.actor, None)
        .await
        .unwrap_or_default();
    let content = html! {
        @for a in &accounts {
            @let c = configs.iter().find(|c| c.customer == a.customer && c.account == a.code);
            @let id = format!("{}-{}", a.customer, a.code);
            form method="post" action="/console/expiry" {
                (op.csrf_field())
                input type="hidden" name="scope" value=(format!("{}/{}", a.customer, a.code));
                fieldset {
                    legend { "Cliente " (a.customer) ", account " (a.code) " - " (a.description) }
                    label for=(format!("enabled-{id}")) {
                        input id=(format!("enabled-{id}")) name="enabled" type="checkbox" value="on" checked[c.is_some_and(|c| c.enabled)];
                        " Gestione scadenze attiva"
                    }
                    label for=(format!("auto-{id}")) {
                        input id=(format!("auto-{id}")) name="auto_revoke" type="checkbox" value="on" checked[c.is_some_and(|c| c.auto_revoke)];
                        " Revoca automatica alla scadenza (altrimenti rinnovo tacito di un anno)"
                    }
                    label for=(format!("report-{id}")) { "Indirizzi per i report (separati da ;)" }
                    input id=(format!("report-{id}")) name="report" type="text" value=(c.map(|c| c.report.join(";")).unwrap_or_default());
                    @if let Some(c) = c { p class="hint" { "Ultima modifica " (when(c.changed_at)) " da " (c.changed_by) } }
                    button type="submit" { "Salva " (a.customer) "/" (a.code) }
                }
            }
        }
    };
    ok("Gestione scadenze", content)
}

#[derive(Deserialize)]
struct ExpiryForm {
    csrf: String,
    scope: String,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    auto_revoke: Option<String>,
    #[serde(default)]
    report: Option<String>,
}

async fn set_expiry(State(s): S, op: Operator, Form(f): Form<ExpiryForm>) -> Response {
    if !op.csrf_ok(&f.csrf) {
        return stale_form("Gestione scadenze");
    }
    let (customer, account) = f.scope.split_once('/').unwrap_or((&f.scope, ""));
    let set = ExpirySet {
        customer: customer.to_string(),
        account: account.to_string(),
        enabled: f.enabled.is_some(),
        report: Some(f.report.unwrap_or_default()),
        auto_revoke: Some(f.auto_revoke.is_some()),
    };
    let done = s
        .archive
        .set_expiry_config(&op.actor, set)
        .await
        .map(|_| ());
    after("Gestione scadenze", "/console/expiry", done)
}

async fn campaign(State(s): S, op: Operator) -> Response {
    let result = s.archive.password_campaign(&op.actor, None).await.map(|r| {
        html! {
            p { "Liste calcolate il " (r.at) ". " a href="/api/v1/password/campaign?format=csv" { "Scarica il CSV" } }
            @if r.rows.is_empty() { p { "Nessuna password da rinnovare." } }
            @else {
                div class="table-wrap" {
                    table {
                        thead { tr { th scope="col" { "Lista" } th scope="col" { "Utente" } th scope="col" { "Casella" } th scope="col" { "Utenze aggiuntive" } th scope="col" { "Cliente / account" } } }
                        tbody {
                            @for row in &r.rows {
                                tr { td { (row.list) } td { (row.user) } td { (row.casella) } td { (row.slaves.join(", ")) } td { (row.customer) " / " (row.account) } }
                            }
                        }
                    }
                }
            }
        }
    });
    shown("Campagna password", result)
}

#[derive(Deserialize)]
struct AuditForm {
    #[serde(default)]
    since: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    target: Option<String>,
}

async fn audit(State(s): S, op: Operator, Query(q): Query<AuditForm>) -> Response {
    let since = match given(&q.since).map(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d")) {
        Some(Err(_)) => {
            let e = ArchiveError::invalid("data non valida (AAAA-MM-GG)");
            return shown("Registro delle operazioni", Err(e));
        }
        Some(Ok(d)) => Some(d),
        None => None,
    };
    let query = AuditQuery {
        since,
        operator: given(&q.operator),
        target: given(&q.target),
        limit: Some(500),
    };
    let value = |v: &Option<String>| v.clone().unwrap_or_default();
    let (status, rows) = match s.archive.audit(&op.actor, &query).await {
        Ok(list) => (
            StatusCode::OK,
            html! {
                table {
                    caption { "Le ultime 500 operazioni al massimo" }
                    thead { tr { th scope="col" { "Quando" } th scope="col" { "Operatore" } th scope="col" { "Operazione" } th scope="col" { "Oggetto" } th scope="col" { "Dettaglio" } } }
                    tbody { @for e in list.iter().rev() { tr { td { (when(e.at)) } td { (e.operator) } td { (e.action) } td { (e.target) } td { (e.detail) } } } }
                }
            },
        ),
        Err(e) => refusal(e),
    };
    let content = html! {
        form method="get" action="/console/audit" role="search" {
            label for="since" { "Dal giorno" }
            input id="since" name="since" type="date" value=(value(&q.since));
            label for="operator" { "Operatore" }
            input id="operator" name="operator" type="text" value=(value(&q.operator));
            label for="target" { "Oggetto (casella, richiesta, dominio...)" }
            input id="target" name="target" type="text" value=(value(&q.target));
            button type="submit" { "Filtra" }
        }
        (rows)
    };
    answer(status, page("Registro delle operazioni", content))
}
