//! `pecctl mailbox search | revoke | reactivate | change | massive | to-standard | services`:
//! the provisioning archive's view of mailboxes (PROVISIONING.md §4). Batches print an
//! outcome per mailbox and exit 1 when any was negative.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use pecd_archive::mailboxes::ops::Form;
use pecd_archive::mailboxes::search::SearchResult;
use pecd_archive::mailboxes::Outcome;
use pecd_archive::model::{Casella, RevokeReason};
use pecd_control::archive::mailboxes::{Command as Call, CsvReport};
use pecd_control::client::{Client, ClientError};
use pecd_control::protocol::{ControlError, ErrorCode, MAX_REQUEST_LINE};

use crate::output::{print, Done, REFUSED};

/// `on` or `off`.
pub fn on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("{s:?}: expected on or off")),
    }
}

pub fn reason(s: &str) -> Result<RevokeReason, String> {
    s.parse()
}

/// Prints the outcome of a batch; exit 1 when any mailbox was refused.
fn outcomes(json: bool, list: &[Outcome]) -> Done {
    print(json, &list, |list| {
        list.iter()
            .map(|o| match &o.reason {
                Some(r) => format!("{}\t{}: {r}\n", o.address, o.outcome),
                None => format!("{}\t{}\n", o.address, o.outcome),
            })
            .collect()
    });
    if list.iter().all(Outcome::is_positive) {
        Done::Ok
    } else {
        Done::Reported(REFUSED)
    }
}

fn casella_line(c: &Casella) -> String {
    format!(
        "{}\t{}\t{}\tuserid {}\tscadenza {}\tmassiva {}\n",
        c.address,
        c.shown_state(),
        c.kind.map_or("non definito", |k| k.name()),
        c.userid.as_deref().unwrap_or("-"),
        c.expiry.map_or("-".to_string(), |d| d.to_string()),
        if c.massive { "sì" } else { "no" }
    )
}

/// The revocation form as it travels: its file name and content in base64, within one
/// request line of the control socket.
fn read_form(path: &Path) -> Result<Form, ClientError> {
    let bad = |m: String| ClientError::Refused(ControlError::new(ErrorCode::BadRequest, m));
    let bytes = std::fs::read(path).map_err(|e| bad(format!("{}: {e}", path.display())))?;
    let content = base64::engine::general_purpose::STANDARD.encode(&bytes);
    if content.len() + 4096 > MAX_REQUEST_LINE {
        return Err(bad(format!(
            "{}: a revocation form sent over the control socket may be at most {} bytes",
            path.display(),
            (MAX_REQUEST_LINE - 4096) / 4 * 3
        )));
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(Form { name, content })
}

pub async fn search(
    client: &mut Client,
    json: bool,
    call: Call,
    as_csv: bool,
) -> Result<Done, ClientError> {
    if as_csv {
        let r: CsvReport = client.call(&call).await?;
        if json {
            print(true, &r, |_| String::new());
        } else {
            print!("{}", r.csv);
        }
        if r.truncated {
            eprintln!(
                "pecctl: only the first {} mailboxes are in the report",
                r.rows
            );
        }
        return Ok(Done::Ok);
    }
    let r: SearchResult = client.call(&call).await?;
    print(json, &r.rows, |rows| {
        rows.iter()
            .map(|r| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\n",
                    r.address,
                    r.userid.as_deref().unwrap_or("-"),
                    r.state,
                    r.kind.as_deref().unwrap_or("non definito"),
                    r.activated.as_deref().unwrap_or("-")
                )
            })
            .collect()
    });
    if r.truncated {
        eprintln!(
            "pecctl: more mailboxes match: only the first {} are shown",
            r.rows.len()
        );
    }
    Ok(Done::Ok)
}

pub async fn revoke(
    client: &mut Client,
    json: bool,
    addresses: &[String],
    reason: RevokeReason,
    form: Option<&PathBuf>,
) -> Result<Done, ClientError> {
    let form = form.map(|p| read_form(p)).transpose()?;
    let list: Vec<Outcome> = client
        .call(&Call::Revoke {
            addresses: addresses.to_vec(),
            reason,
            form,
        })
        .await?;
    Ok(outcomes(json, &list))
}

/// A batch command answered with outcomes (reactivate, services).
pub async fn batch(client: &mut Client, json: bool, call: Call) -> Result<Done, ClientError> {
    let list: Vec<Outcome> = client.call(&call).await?;
    Ok(outcomes(json, &list))
}

/// A command answered with the changed casella (change, massive, to-standard).
pub async fn one(client: &mut Client, json: bool, call: Call) -> Result<Done, ClientError> {
    let c: Casella = client.call(&call).await?;
    print(json, &c, casella_line);
    Ok(Done::Ok)
}
