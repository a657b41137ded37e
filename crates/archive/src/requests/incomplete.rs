//! Incomplete mailboxes (PROVISIONING.md §3 "Incomplete requests", M§4.5): a mailbox made
//! without a request (`pecctl mailbox create`) has no contract data and shows `codice
//! attivazione: non definito`. Every operator in scope may view it; only administrators
//! change it, and `request complete` associates it with the request of its contract (while
//! that request has no `collocazione`).

use std::collections::HashSet;

use pecd_common::address::Address;

use super::file::RequestFile;
use super::model::{request_key, Request, RequestLine, RequestState, RequestView};
use super::ops::view_of;
use super::validate::line_type;
use crate::customers::assign_userid;
use crate::error::{ArchiveError, Result};
use crate::model::{Casella, DomainFamily, HistoryEntry};
use crate::records;
use crate::scope::Actor;
use crate::{audit, caselle, check_text, Archive};

/// The §3 refusal of a change to mailboxes whose contract data are incomplete, made by an
/// operator who is not an administrator; the addresses are the details.
pub fn incomplete_refusal(addresses: &[String]) -> ArchiveError {
    ArchiveError::forbidden(
        "Servizi NON attivati, per le seguenti caselle, perchè le informazioni del contratto \
         sono incomplete",
    )
    .with_details(addresses.to_vec())
}

impl Archive {
    /// `request complete`: associates the incomplete mailboxes the file lists (its
    /// `mailboxes`, and optionally the `collocazione` that closes the request to further
    /// completion) with request `code`. Administrators only; others get the §3 refusal.
    pub async fn complete_request(
        &self,
        actor: &Actor,
        code: u64,
        file: RequestFile,
    ) -> Result<RequestView> {
        if file.mailboxes.len() > super::file::MAX_LINES {
            return Err(ArchiveError::invalid(format!(
                "richiesta: al massimo {} caselle",
                super::file::MAX_LINES
            )));
        }
        let addresses: Vec<String> = file.mailboxes.iter().map(|l| l.address.clone()).collect();
        if !actor.is_admin_like() {
            return Err(incomplete_refusal(&addresses));
        }
        let other_keys = file.customer.is_some()
            || file.account.is_some()
            || file.order.is_some()
            || file.expiry.is_some()
            || file.richiedente != Default::default()
            || file.titolare != Default::default();
        if other_keys {
            return Err(ArchiveError::invalid(
                "request complete: il file indica solo mailboxes e collocazione (i dati del \
                 contratto sono quelli della richiesta)",
            ));
        }
        let r = self.load_request(code).await?;
        actor.check_change(Some(&r.customer), Some(&r.account))?;
        check_completable(&r)?;
        if let Some(c) = &file.collocazione {
            check_text("collocazione", c, 100)?;
        }
        let lines = self.incomplete_lines(actor, &r, &file).await?;
        let (archive, actor, now) = (self.clone(), actor.clone(), self.now());
        let contact = self.config().archive.provider_contact.clone();
        let collocazione = file.collocazione.map(|c| c.trim().to_string());
        let addresses: Vec<String> = lines.iter().map(|(l, _)| l.address.clone()).collect();
        let view = self
            .transaction(move |tx| {
                let Some(mut r) = records::get::<Request>(tx, &request_key(code))? else {
                    return Err(ArchiveError::not_found(format!(
                        "richiesta inesistente: {code}"
                    )));
                };
                check_completable(&r)?;
                for (line, family) in &lines {
                    let Some(mut c) = records::get::<Casella>(tx, line.address.as_bytes())?
                        .filter(|c| c.request.is_none())
                    else {
                        return Err(ArchiveError::conflict(format!(
                            "{}: non è più una casella incompleta",
                            line.address
                        )));
                    };
                    // A mailbox an administrator already gave to a customer stays with it.
                    if c.customer.is_some() {
                        actor.check_change(c.customer.as_deref(), c.account.as_deref())?;
                        if c.customer.as_deref() != Some(r.customer.as_str()) {
                            return Err(ArchiveError::forbidden(format!(
                                "{}: casella di un altro cliente",
                                line.address
                            )));
                        }
                    }
                    if c.userid.is_none() {
                        c.userid = Some(assign_userid(tx, &r.account, &contact)?);
                    }
                    c.request = Some(code);
                    c.customer = Some(r.customer.clone());
                    c.account = Some(r.account.clone());
                    c.kind = Some(line.kind);
                    c.description = line.description.clone();
                    c.expiry = Some(r.expiry);
                    c.family = *family;
                    c.services = archive.default_services(line.kind, *family);
                    c.history.push(HistoryEntry {
                        at: now,
                        by: actor.userid().to_string(),
                        what: format!("associata alla richiesta {code}"),
                    });
                    caselle::save(tx, &c, None)?;
                    r.lines.push(line.clone());
                }
                if collocazione.is_some() {
                    r.collocazione = collocazione.clone();
                }
                records::put(tx, &r)?;
                let detail = lines
                    .iter()
                    .map(|(l, _)| l.address.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                audit::record(
                    tx,
                    &actor,
                    now,
                    "request.complete",
                    &code.to_string(),
                    detail,
                )?;
                let caselle = r
                    .lines
                    .iter()
                    .map(|l| records::get::<Casella>(tx, l.address.as_bytes()))
                    .collect::<Result<Vec<_>>>()?;
                Ok(view_of(&r, &caselle))
            })
            .await?;
        self.follow_quotas(addresses).await?;
        Ok(view)
    }

    /// Brings the store's quota of each of `addresses` to its casella's services (the
    /// mailboxes `request complete` just gave a type).
    async fn follow_quotas(&self, addresses: Vec<String>) -> Result<()> {
        for address in addresses {
            if let Some(c) = records::load::<Casella>(self.store(), address.as_bytes()).await? {
                self.apply_quota(&address, c.services.quota_bytes).await?;
            }
        }
        Ok(())
    }

    /// The lines of a `request complete` file, each an incomplete mailbox in a domain the
    /// request's account may use; every problem reported per line.
    async fn incomplete_lines(
        &self,
        actor: &Actor,
        r: &Request,
        file: &RequestFile,
    ) -> Result<Vec<(RequestLine, DomainFamily)>> {
        let mut errors = Vec::new();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if file.mailboxes.is_empty() && file.collocazione.is_none() {
            errors.push("mailboxes: indicare almeno una casella".to_string());
        }
        for (i, l) in file.mailboxes.iter().enumerate() {
            let mut line_errors = Vec::new();
            let address = Address::parse(&l.address)
                .map_err(|e| line_errors.push(format!("address {:?}: {e}", l.address)))
                .ok();
            let mut family = DomainFamily::Ordinary;
            if let Some(a) = &address {
                match records::load::<Casella>(self.store(), a.as_str().as_bytes()).await? {
                    Some(c)
                        if c.request.is_none()
                            && (c.customer.is_none()
                                || (c.customer.as_deref() == Some(r.customer.as_str())
                                    && actor
                                        .sees(c.customer.as_deref(), c.account.as_deref()))) => {}
                    _ => line_errors.push(format!("address {a}: non è una casella incompleta")),
                }
                if !seen.insert(a.as_str().to_string()) {
                    line_errors.push(format!("address {a}: ripetuto nella richiesta"));
                }
                match self
                    .activation_domain(a.domain(), Some(&r.customer), Some(&r.account))
                    .await
                {
                    Ok(f) => family = f,
                    Err(e) => line_errors.push(format!("address {a}: {}", e.message)),
                }
            }
            if let Err(e) = check_text("description", &l.description, 200) {
                line_errors.push(e.message);
            }
            let kind = line_type(l.kind.as_deref(), actor.may_choose_type())
                .map_err(|e| line_errors.push(e))
                .ok();
            match (address, kind) {
                (Some(a), Some(kind)) if line_errors.is_empty() => out.push((
                    RequestLine {
                        address: a.as_str().to_string(),
                        description: l.description.trim().to_string(),
                        kind,
                    },
                    family,
                )),
                _ => errors.extend(
                    line_errors
                        .into_iter()
                        .map(|e| format!("riga {}: {e}", i + 1)),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(ArchiveError::invalid(format!(
                "completamento non valido: {} errori, nulla è stato registrato",
                errors.len()
            ))
            .with_details(errors));
        }
        Ok(out)
    }
}

fn check_completable(r: &Request) -> Result<()> {
    if r.state == RequestState::Annullata {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: la richiesta {} è annullata",
            r.code
        )));
    }
    if let Some(c) = &r.collocazione {
        return Err(ArchiveError::conflict(format!(
            "[!] Attenzione: la richiesta {} è già archiviata (collocazione {c}): non si \
             possono associare altre caselle",
            r.code
        )));
    }
    Ok(())
}
