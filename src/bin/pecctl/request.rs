//! `pecctl request`: activation requests and their contract documents (PROVISIONING.md §3).

use std::path::{Path, PathBuf};

use clap::Subcommand;
use pecd_archive::model::MailboxType;
use pecd_archive::requests::contracts::ContractOutcome;
use pecd_archive::requests::model::RequestView;
use pecd_archive::requests::validate::CLOSED_MAILBOX;
use pecd_control::archive::requests::Command as Call;
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{ControlError, ErrorCode};
use serde::Serialize;

use crate::output::{local, print, Done, REFUSED};

#[derive(Subcommand)]
pub enum RequestCommand {
    /// Create a request from a TOML or JSON file (richiedente, titolare, order, expiry,
    /// mailboxes); every invalid line is reported and nothing is stored.
    Create {
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// A request by codice attivazione (or by the address of one of its mailboxes).
    Show { code: String },
    /// The 15 most recent requests.
    Recent,
    /// Requests by richiedente or titolare (any part of a name, tax code, e-mail), order
    /// number or codice attivazione.
    Search {
        #[arg(long)]
        richiedente: Option<String>,
        #[arg(long)]
        titolare: Option<String>,
        #[arg(long, value_name = "N")]
        order: Option<String>,
        #[arg(long, value_name = "CODE")]
        code: Option<String>,
    },
    /// Replace a request's data and mailboxes with a file's (only while `da elaborare`,
    /// before its contract is confirmed, to align it with the contract).
    Modify {
        code: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// A new request with the same customer, account, richiedente and titolare, no mailboxes.
    Duplicate { code: String },
    /// Cancel a request and its mailboxes not yet active.
    Cancel { code: String },
    /// Associate incomplete mailboxes (the file's `mailboxes`) with a request, and set its
    /// `collocazione` (administrators).
    Complete {
        code: String,
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
    /// The contract documents of a request.
    #[command(subcommand)]
    Contract(ContractCommand),
}

#[derive(Subcommand)]
pub enum ContractCommand {
    /// Upload documents (pdf, tif, tiff, jpg, jpeg, txt, rtf, doc, docx, xml, p7m).
    Add {
        code: String,
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    List {
        code: String,
    },
    /// Delete a document (only before the confirmation).
    Delete {
        code: String,
        name: String,
    },
    /// Confirm the documents: the request is then processed by the job runner.
    Confirm {
        code: String,
    },
}

fn local_error(e: impl std::fmt::Display) -> ClientError {
    ClientError::Refused(ControlError::new(ErrorCode::BadRequest, e.to_string()))
}

fn read_file(path: &Path) -> Result<String, ClientError> {
    std::fs::read_to_string(path).map_err(|e| local_error(format!("{}: {e}", path.display())))
}

fn kind_text(kind: Option<MailboxType>) -> String {
    match kind {
        None => "-".into(),
        Some(MailboxType::Base) => format!("base ({CLOSED_MAILBOX})"),
        Some(k) => k.name().into(),
    }
}

fn view_text(v: &RequestView) -> String {
    let mut out = match v.code {
        Some(c) => format!("codice attivazione: {c}\n"),
        None => "codice attivazione: non definito\n".into(),
    };
    if let Some(s) = v.state {
        out.push_str(&format!("stato: {}\n", s.name()));
    }
    if let (Some(c), Some(a)) = (&v.customer, &v.account) {
        out.push_str(&format!(
            "cliente: {c}  account: {a}  ordine: {}\n",
            v.order.as_deref().unwrap_or("-")
        ));
    }
    if let Some(e) = v.expiry {
        out.push_str(&format!("scadenza: {e}\n"));
    }
    if let Some(r) = &v.richiedente {
        out.push_str(&format!(
            "richiedente: {} {} ({}, {}, {})\n",
            r.surname, r.first_name, r.tax_code, r.email, r.phone
        ));
    }
    if let Some(t) = &v.titolare {
        out.push_str(&format!(
            "titolare: {} ({}, {}, {})\n",
            t.name, t.tax_code, t.address, t.email
        ));
    }
    if let Some(c) = &v.collocazione {
        out.push_str(&format!("collocazione: {c}\n"));
    }
    if v.code.is_some() {
        out.push_str(&format!(
            "contratto: {} documenti, {}\n",
            v.contracts.len(),
            if v.confirmed {
                "acquisiti"
            } else {
                "non confermati"
            }
        ));
    }
    out.push_str("caselle:\n");
    for m in &v.mailboxes {
        out.push_str(&format!(
            "  {}  userid {}  {}  {}  {}\n",
            m.address,
            m.userid.as_deref().unwrap_or("-"),
            m.state,
            kind_text(m.kind),
            m.description
        ));
    }
    if !v.initial_passwords.is_empty() {
        out.push_str(
            "password iniziali (mostrate una sola volta; da cambiare al primo accesso):\n",
        );
        for p in &v.initial_passwords {
            out.push_str(&format!(
                "  {}  userid {}  {}\n",
                p.address, p.userid, p.password
            ));
        }
    }
    if let Some(w) = &v.warning {
        out.push_str(&format!("{w}\n"));
    }
    out
}

fn list_text(list: &[RequestView]) -> String {
    if list.is_empty() {
        return "nessuna richiesta\n".into();
    }
    list.iter()
        .map(|v| {
            format!(
                "{}\t{}\t{}/{}\t{}\t{}\t{} caselle\t{}\n",
                v.code.unwrap_or_default(),
                v.state.map_or("-", |s| s.name()),
                v.customer.as_deref().unwrap_or("-"),
                v.account.as_deref().unwrap_or("-"),
                v.richiedente
                    .as_ref()
                    .map_or(String::new(), |r| format!("{} {}", r.surname, r.first_name)),
                v.titolare.as_ref().map_or("", |t| t.name.as_str()),
                v.mailboxes.len(),
                v.created_at.map(local).unwrap_or_default()
            )
        })
        .collect()
}

fn contracts_text(o: &ContractOutcome) -> String {
    let mut out = format!("{}\n", o.message);
    for c in &o.contracts {
        out.push_str(&format!(
            "  {}  {} byte  {}  {}\n",
            c.name,
            c.size,
            local(c.uploaded_at),
            c.uploaded_by
        ));
    }
    out
}

pub async fn request(
    client: &mut Client,
    json: bool,
    cmd: &RequestCommand,
) -> Result<Done, ClientError> {
    match cmd {
        RequestCommand::Create { file } => {
            let call = Call::Create {
                file: read_file(file)?,
            };
            let v: RequestView = client.call(&call).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Show { code } => {
            let v: RequestView = client.call(&Call::Show { code: code.clone() }).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Recent => {
            let list: Vec<RequestView> = client.call(&Call::Recent).await?;
            print(json, &list, |l| list_text(l));
        }
        RequestCommand::Search {
            richiedente,
            titolare,
            order,
            code,
        } => {
            let list: Vec<RequestView> = client
                .call(&Call::Search {
                    richiedente: richiedente.clone(),
                    titolare: titolare.clone(),
                    order: order.clone(),
                    code: code.clone(),
                })
                .await?;
            // An exact codice attivazione goes straight to the detail.
            print(json, &list, |l| match (code, l.as_slice()) {
                (Some(_), [one]) => view_text(one),
                _ => list_text(l),
            });
        }
        RequestCommand::Modify { code, file } => {
            let call = Call::Modify {
                code: code.clone(),
                file: read_file(file)?,
            };
            let v: RequestView = client.call(&call).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Duplicate { code } => {
            let v: RequestView = client.call(&Call::Duplicate { code: code.clone() }).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Cancel { code } => {
            let v: RequestView = client.call(&Call::Cancel { code: code.clone() }).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Complete { code, file } => {
            let call = Call::Complete {
                code: code.clone(),
                file: read_file(file)?,
            };
            let v: RequestView = client.call(&call).await?;
            print(json, &v, view_text);
        }
        RequestCommand::Contract(c) => return contract(client, json, c).await,
    }
    Ok(Done::Ok)
}

#[derive(Serialize)]
struct Uploads {
    uploaded: Vec<ContractOutcome>,
    failed: Vec<FailedUpload>,
}

#[derive(Serialize)]
struct FailedUpload {
    file: String,
    error: ControlError,
}

async fn contract(
    client: &mut Client,
    json: bool,
    cmd: &ContractCommand,
) -> Result<Done, ClientError> {
    let outcome: ContractOutcome = match cmd {
        ContractCommand::Add { code, files } => return upload(client, json, code, files).await,
        ContractCommand::List { code } => {
            client
                .call(&Call::ContractList { code: code.clone() })
                .await?
        }
        ContractCommand::Delete { code, name } => {
            client
                .call(&Call::ContractDelete {
                    code: code.clone(),
                    name: name.clone(),
                })
                .await?
        }
        ContractCommand::Confirm { code } => {
            client
                .call(&Call::ContractConfirm { code: code.clone() })
                .await?
        }
    };
    print(json, &outcome, contracts_text);
    Ok(Done::Ok)
}

/// `contract add`: every file is tried; the refused ones are reported at the end and make
/// the exit code 1.
async fn upload(
    client: &mut Client,
    json: bool,
    code: &str,
    files: &[PathBuf],
) -> Result<Done, ClientError> {
    let mut report = Uploads {
        uploaded: Vec::new(),
        failed: Vec::new(),
    };
    for file in files {
        let shown = file.display().to_string();
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| shown.clone());
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                let error = ControlError::new(ErrorCode::BadRequest, format!("{shown}: {e}"));
                report.failed.push(FailedUpload { file: shown, error });
                continue;
            }
        };
        let call = Call::ContractAdd {
            code: code.to_string(),
            name,
            size: bytes.len() as u64,
        };
        match client.call_with_body(&call, &bytes).await {
            Ok(o) => report.uploaded.push(o),
            Err(ClientError::Refused(error)) => {
                report.failed.push(FailedUpload { file: shown, error })
            }
            Err(other) => return Err(other),
        }
    }
    print(json, &report, |r| {
        r.uploaded
            .iter()
            .map(|o| format!("{}\n", o.message))
            .collect()
    });
    if report.failed.is_empty() {
        return Ok(Done::Ok);
    }
    for f in &report.failed {
        eprintln!("pecctl: {}: {}", f.file, f.error);
        for d in &f.error.details {
            eprintln!("  - {d}");
        }
    }
    Ok(Done::Reported(REFUSED))
}
