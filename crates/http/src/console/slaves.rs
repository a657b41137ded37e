//! The multi-user panel of the console's mailbox detail (PROVISIONING.md §4 multi-user): the
//! slave user ids with their states (a deactivated one greyed), the form that adds one, and
//! activate / deactivate. Transitions are completed by the job runner, as on the CLI.

use axum::extract::{Form, Path, State};
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use maud::{html, Markup};
use pecd_archive::login::principal::SlaveState;
use pecd_archive::slaves::NewSlave;
use pecd_archive::ArchiveError;
use serde::Deserialize;

use crate::pages::CsrfOnly;

use super::{given, refusal, refused_back, stale_form, Operator, S};
use crate::pages::see_other;
use crate::HttpState;

pub fn routes() -> Router<std::sync::Arc<HttpState>> {
    Router::new()
        .route("/console/mailboxes/{address}/slaves", post(add))
        .route("/console/slaves/{userid}/{what}", post(transition))
}

/// The panel of `address`'s slaves for the mailbox detail.
pub(crate) async fn panel(s: &HttpState, op: &Operator, address: &str) -> Markup {
    let list = s.archive.list_slaves(&op.actor, address).await;
    let button = |userid: &str, what: &str, label: &str| {
        html! {
            form class="inline" method="post" action=(format!("/console/slaves/{userid}/{what}")) {
                (op.csrf_field())
                button type="submit" { (label) " " (userid) }
            }
        }
    };
    html! {
        section aria-labelledby="multiutenza" {
            h2 id="multiutenza" { "Multiutenza" }
            @match &list {
                Err(e) => { (refusal(e.clone()).1) }
                Ok(list) if list.is_empty() => { p { "Nessuna utenza aggiuntiva." } }
                Ok(list) => {
                    table {
                        thead { tr { th scope="col" { "Utente" } th scope="col" { "Nome" } th scope="col" { "Descrizione" } th scope="col" { "Stato" } th scope="col" { "Operazioni" } } }
                        tbody {
                            @for v in list {
                                tr class=[(v.state == SlaveState::Disattivata).then_some("muted")] {
                                    td { (v.userid) }
                                    td { (v.first_name) " " (v.last_name) }
                                    td { (v.description) }
                                    td { (v.state.name()) }
                                    td {
                                        @match v.state {
                                            SlaveState::Attiva => { (button(&v.userid, "deactivate", "Disattiva")) }
                                            SlaveState::Disattivata => { (button(&v.userid, "activate", "Attiva")) }
                                            _ => { "in corso" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            form method="post" action=(format!("/console/mailboxes/{address}/slaves")) {
                (op.csrf_field())
                fieldset {
                    legend { "Nuova utenza" }
                    label for="first_name" { "Nome" }
                    input id="first_name" name="first_name" type="text" required;
                    label for="last_name" { "Cognome" }
                    input id="last_name" name="last_name" type="text" required;
                    label for="slave_description" { "Descrizione (vuota: quella della casella)" }
                    input id="slave_description" name="description" type="text";
                    label for="slave_password" { "Password iniziale (da cambiare al primo accesso)" }
                    input id="slave_password" name="password" type="password" autocomplete="new-password" required;
                    button type="submit" { "Aggiungi l'utenza" }
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct AddForm {
    csrf: String,
    first_name: String,
    last_name: String,
    #[serde(default)]
    description: Option<String>,
    password: String,
}

async fn add(
    State(s): S,
    op: Operator,
    Path(address): Path<String>,
    Form(f): Form<AddForm>,
) -> Response {
    let title = format!("Casella {address}");
    if !op.csrf_ok(&f.csrf) {
        return stale_form(&title);
    }
    let n = NewSlave {
        address: address.clone(),
        first_name: f.first_name.trim().to_string(),
        last_name: f.last_name.trim().to_string(),
        description: given(&f.description),
        password: f.password,
        must_change: true,
        recovery_email: None,
        recovery_mobile: None,
    };
    match s.archive.add_slave(&op.actor, n).await {
        Ok(_) => see_other(&format!("/console/mailboxes/{address}?done=slave")),
        Err(e) => refused_back(
            &title,
            &format!("/console/mailboxes/{address}"),
            "Torna alla casella",
            e,
        ),
    }
}

async fn transition(
    State(s): S,
    op: Operator,
    Path((userid, what)): Path<(String, String)>,
    Form(f): Form<CsrfOnly>,
) -> Response {
    let title = format!("Utenza {userid}");
    if !op.csrf_ok(&f.csrf) {
        return stale_form(&title);
    }
    let done = match what.as_str() {
        "activate" => s.archive.activate_slave(&op.actor, &userid).await,
        "deactivate" => s.archive.deactivate_slave(&op.actor, &userid).await,
        other => Err(ArchiveError::invalid(format!(
            "operazione sconosciuta: {other}"
        ))),
    };
    match done {
        Ok(v) => see_other(&format!("/console/mailboxes/{}?done=1", v.mailbox)),
        Err(e) => refused_back(&title, "/console/mailboxes", "Torna alla casella", e),
    }
}
