//! Contract documents (PROVISIONING.md §3, M§3.3): uploaded files of the accepted types,
//! listed, deleted before confirming, and confirmed (acquired): the confirmation is what sends
//! the request to the job runner. The bytes are kept durably with the request, in
//! [`CONTRACT_DATA`] (code ‖ 0 ‖ name -> the file as uploaded).

use serde::{Deserialize, Serialize};

use super::model::{request_key, Contract, Request, CONTRACT_DATA};
use crate::error::{ArchiveError, Result};
use crate::records::{self, pair_key};
use crate::scope::Actor;
use crate::{audit, Archive};

/// The accepted file types (PROVISIONING.md §3: pdf, tif, jpg, txt, rtf, doc, xml and
/// signed files such as .p7m).
pub const EXTENSIONS: [&str; 11] = [
    "pdf", "tif", "tiff", "jpg", "jpeg", "txt", "rtf", "doc", "docx", "xml", "p7m",
];

/// Longest document name.
const MAX_NAME: usize = 100;

/// What a contract command answers: the manual's message and the documents as they are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContractOutcome {
    pub code: u64,
    pub message: String,
    pub confirmed: bool,
    pub contracts: Vec<Contract>,
}

/// Checks a document's name (the file name, no directories) and type.
pub fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.chars().count() > MAX_NAME
        || name.starts_with('.')
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\');
    if bad {
        return Err(ArchiveError::invalid(format!(
            "documento {name:?}: nome non valido (al massimo {MAX_NAME} caratteri, senza '/')"
        )));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if !EXTENSIONS.contains(&ext.as_str()) {
        return Err(ArchiveError::invalid(format!(
            "documento {name:?}: tipo di file non ammesso (ammessi: {})",
            EXTENSIONS.join(", ")
        )));
    }
    Ok(())
}

fn data_key(code: u64, name: &str) -> Vec<u8> {
    pair_key(&code.to_string(), name.as_bytes())
}

fn outcome(r: &Request, message: String) -> ContractOutcome {
    ContractOutcome {
        code: r.code,
        message,
        confirmed: r.confirmed_at.is_some(),
        contracts: r.contracts.clone(),
    }
}

/// A request whose documents may still change: `da elaborare`, not confirmed.
fn check_open(r: &Request) -> Result<()> {
    if r.confirmed_at.is_some() {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: i documenti della richiesta {} sono già stati acquisiti dal sistema",
            r.code
        )));
    }
    if r.state != super::model::RequestState::DaElaborare {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: la richiesta {} è {}",
            r.code,
            r.state.name()
        )));
    }
    Ok(())
}

/// Reads a request in a transaction and checks that `actor` may change it.
fn changeable(tx: &dyn pecd_store::RecordTx, actor: &Actor, code: u64) -> Result<Request> {
    let r = records::get::<Request>(tx, &request_key(code))?
        .ok_or_else(|| ArchiveError::not_found(format!("richiesta inesistente: {code}")))?;
    actor.check_change(Some(&r.customer), Some(&r.account))?;
    Ok(r)
}

impl Archive {
    /// `request contract add`: one document, stored with the request.
    pub async fn add_contract(
        &self,
        actor: &Actor,
        code: u64,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<ContractOutcome> {
        check_name(name)?;
        let max = self.config().archive.contract_max_bytes;
        if bytes.is_empty() || bytes.len() as u64 > max {
            return Err(ArchiveError::invalid(format!(
                "documento {name:?}: {} byte; ammessi da 1 a {max}",
                bytes.len()
            )));
        }
        let per_request = self.config().archive.contracts_per_request;
        let (actor, now, name) = (actor.clone(), self.now(), name.to_string());
        self.transaction(move |tx| {
            let mut r = changeable(tx, &actor, code)?;
            check_open(&r)?;
            if r.contracts.iter().any(|c| c.name == name) {
                return Err(ArchiveError::conflict(format!(
                    "documento già caricato: {name} (cancellarlo prima di ricaricarlo)"
                )));
            }
            if r.contracts.len() >= per_request {
                return Err(ArchiveError::conflict(format!(
                    "al massimo {per_request} documenti per richiesta"
                )));
            }
            let size = bytes.len() as u64;
            tx.put(CONTRACT_DATA, &data_key(code, &name), bytes)?;
            r.contracts.push(super::model::Contract {
                name: name.clone(),
                size,
                uploaded_at: now,
                uploaded_by: actor.userid().to_string(),
            });
            records::put(tx, &r)?;
            let detail = format!("{name} ({size} byte)");
            audit::record(
                tx,
                &actor,
                now,
                "request.contract.add",
                &code.to_string(),
                detail,
            )?;
            Ok(outcome(&r, format!("Upload del file:{name} completato")))
        })
        .await
    }

    /// `request contract list`.
    pub async fn list_contracts(&self, actor: &Actor, code: u64) -> Result<ContractOutcome> {
        let r = self.load_request(code).await?;
        actor.check_scope(Some(&r.customer), Some(&r.account))?;
        let message = format!("{} documenti", r.contracts.len());
        Ok(outcome(&r, message))
    }

    /// The bytes of one document, as uploaded.
    pub async fn contract_bytes(&self, actor: &Actor, code: u64, name: &str) -> Result<Vec<u8>> {
        let r = self.load_request(code).await?;
        actor.check_scope(Some(&r.customer), Some(&r.account))?;
        self.store()
            .record(CONTRACT_DATA, &data_key(code, name))
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("documento inesistente: {name}")))
    }

    /// `request contract delete`: only before the confirmation.
    pub async fn delete_contract(
        &self,
        actor: &Actor,
        code: u64,
        name: &str,
    ) -> Result<ContractOutcome> {
        let (actor, now, name) = (actor.clone(), self.now(), name.to_string());
        self.transaction(move |tx| {
            let mut r = changeable(tx, &actor, code)?;
            check_open(&r)?;
            let before = r.contracts.len();
            r.contracts.retain(|c| c.name != name);
            if r.contracts.len() == before {
                return Err(ArchiveError::not_found(format!(
                    "documento inesistente: {name}"
                )));
            }
            tx.delete(CONTRACT_DATA, &data_key(code, &name))?;
            records::put(tx, &r)?;
            audit::record(
                tx,
                &actor,
                now,
                "request.contract.delete",
                &code.to_string(),
                &name,
            )?;
            Ok(outcome(
                &r,
                format!("Cancellazione del file:{name} completata"),
            ))
        })
        .await
    }

    /// `request contract confirm`: the acquisition becomes effective (at least one document,
    /// at least one mailbox line) and the job runner processes the request.
    pub async fn confirm_contracts(&self, actor: &Actor, code: u64) -> Result<ContractOutcome> {
        let (actor, now) = (actor.clone(), self.now());
        self.transaction(move |tx| {
            let mut r = changeable(tx, &actor, code)?;
            check_open(&r)?;
            if r.contracts.is_empty() {
                return Err(ArchiveError::conflict(format!(
                    "[!] Attenzione: caricare almeno un documento del contratto della richiesta \
                     {code} prima di confermare"
                )));
            }
            if r.lines.is_empty() {
                return Err(ArchiveError::conflict(format!(
                    "[!] Attenzione: la richiesta {code} non contiene caselle (request modify)"
                )));
            }
            r.confirmed_at = Some(now);
            records::put(tx, &r)?;
            let detail = format!("{} documenti", r.contracts.len());
            audit::record(
                tx,
                &actor,
                now,
                "request.contract.confirm",
                &code.to_string(),
                detail,
            )?;
            Ok(outcome(
                &r,
                "[!] Operazione avvenuta con successo: file acquisiti dal sistema".into(),
            ))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_manual_s_file_types_are_accepted() {
        for ok in [
            "contratto.pdf",
            "firma.P7M",
            "scan.tiff",
            "c.docx",
            "a.b.xml",
        ] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in ["virus.exe", "noext", "../x.pdf", ".pdf", "a\nb.pdf", ""] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&format!("{}.pdf", "x".repeat(100))).is_err());
    }
}
