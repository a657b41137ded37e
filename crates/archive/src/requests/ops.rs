//! The operations on requests (PROVISIONING.md §3): create, show, the 15 most recent,
//! search, modify (only while `da elaborare`, with the manual's warning), duplicate and
//! cancel. Each checks the operator's scope, validates before anything is written, and
//! commits the change with its audit entry in one transaction.

use std::collections::HashSet;

use pecd_store::RecordTx;
use serde::{Deserialize, Serialize};

use super::file::RequestFile;
use super::model::{request_key, MailboxView, Request, RequestLine, RequestState, RequestView};
use super::validate::{self, Checked};
use crate::error::{ArchiveError, Result};
use crate::model::{Casella, CasellaState, DomainFamily, HistoryEntry, MailboxType, Services};
use crate::records;
use crate::scope::Actor;
use crate::{audit, caselle, Archive};

/// How many requests `request recent` lists.
pub const RECENT: usize = 15;

/// Most requests one search returns (the newest).
pub const MAX_SEARCH: usize = 200;

/// The manual's warning on a modification (PROVISIONING.md §3).
pub const MODIFY_WARNING: &str = "[!] Attenzione: la richiesta va modificata solo per allinearla \
     al contratto sottoscritto dal richiedente";

/// What `request search` looks for: case-insensitive parts of the richiedente's or the
/// titolare's fields, an order number, a codice attivazione; all given must match.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestQuery {
    #[serde(default)]
    pub richiedente: Option<String>,
    #[serde(default)]
    pub titolare: Option<String>,
    #[serde(default)]
    pub order: Option<String>,
    #[serde(default)]
    pub code: Option<u64>,
}

fn contains(fields: &[&str], part: &str) -> bool {
    let part = part.trim().to_lowercase();
    fields.iter().any(|f| f.to_lowercase().contains(&part))
}

impl RequestQuery {
    fn matches(&self, r: &Request) -> bool {
        let p = &r.richiedente;
        let t = &r.titolare;
        self.code.is_none_or(|c| c == r.code)
            && self.order.as_deref().is_none_or(|o| {
                r.order
                    .as_deref()
                    .is_some_and(|ro| ro.eq_ignore_ascii_case(o.trim()))
            })
            && self.richiedente.as_deref().is_none_or(|s| {
                contains(
                    &[&p.surname, &p.first_name, &p.tax_code, &p.email, &p.phone],
                    s,
                )
            })
            && self
                .titolare
                .as_deref()
                .is_none_or(|s| contains(&[&t.name, &t.tax_code, &t.address, &t.email], s))
    }
}

/// A request's view with its caselle as they are now (`None`: the address went to
/// another request after this one cancelled it).
pub(crate) fn view_of(r: &Request, caselle: &[Option<Casella>]) -> RequestView {
    let mailboxes = r
        .lines
        .iter()
        .zip(caselle)
        .map(|(line, c)| match c {
            Some(c) if c.request == Some(r.code) => MailboxView {
                address: c.address.clone(),
                userid: c.userid.clone(),
                state: c.shown_state().to_string(),
                kind: c.kind,
                description: c.description.clone(),
            },
            _ => MailboxView {
                address: line.address.clone(),
                userid: None,
                state: CasellaState::Annullata.name().to_string(),
                kind: Some(line.kind),
                description: line.description.clone(),
            },
        })
        .collect();
    RequestView {
        code: Some(r.code),
        state: Some(r.state),
        customer: Some(r.customer.clone()),
        account: Some(r.account.clone()),
        order: r.order.clone(),
        expiry: Some(r.expiry),
        richiedente: Some(r.richiedente.clone()),
        titolare: Some(r.titolare.clone()),
        collocazione: r.collocazione.clone(),
        confirmed: r.confirmed_at.is_some(),
        contracts: r.contracts.clone(),
        mailboxes,
        initial_passwords: Vec::new(),
        warning: None,
        created_at: Some(r.created_at),
        created_by: Some(r.created_by.clone()),
    }
}

/// The caselle of a request's lines, inside a transaction.
fn caselle_of(tx: &dyn RecordTx, r: &Request) -> Result<Vec<Option<Casella>>> {
    r.lines
        .iter()
        .map(|l| records::get::<Casella>(tx, l.address.as_bytes()))
        .collect()
}

/// Refuses `address` for request `code` inside the writing transaction, where another
/// request may have taken it since the checks.
fn claim(tx: &dyn RecordTx, address: &str, code: u64) -> Result<Option<Casella>> {
    match records::get::<Casella>(tx, address.as_bytes())? {
        Some(c) if c.request == Some(code) => Ok(Some(c)),
        Some(c) if c.state != CasellaState::Annullata => Err(ArchiveError::conflict(format!(
            "casella già esistente: {address}"
        ))),
        _ => Ok(None),
    }
}

impl Archive {
    /// Disk quota, security archive and SMS of a new mailbox (PROVISIONING.md §4
    /// "Defaults"): the family's for standard; aperta has no security archive; base has the
    /// base quota and neither.
    pub fn default_services(&self, kind: MailboxType, family: DomainFamily) -> Services {
        let a = &self.config().archive;
        let d = match family {
            DomainFamily::Ordinary => &a.ordinary,
            DomainFamily::Pa => &a.pa,
        };
        match kind {
            MailboxType::Standard => Services {
                archive_gb: d.archive_gb,
                sms: d.sms,
                quota_bytes: d.quota_bytes,
            },
            MailboxType::Aperta => Services {
                archive_gb: 0,
                sms: d.sms,
                quota_bytes: d.quota_bytes,
            },
            MailboxType::Base => Services {
                archive_gb: 0,
                sms: false,
                quota_bytes: a.base_quota_bytes,
            },
        }
    }

    fn line_casella(
        &self,
        r: &Request,
        line: &RequestLine,
        family: DomainFamily,
        actor: &Actor,
        now: i64,
    ) -> Casella {
        Casella {
            address: line.address.clone(),
            userid: None,
            description: line.description.clone(),
            kind: Some(line.kind),
            state: CasellaState::DaElaborare,
            pending: None,
            request: Some(r.code),
            customer: Some(r.customer.clone()),
            account: Some(r.account.clone()),
            family,
            expiry: Some(r.expiry),
            inserted_at: now,
            activated_at: None,
            massive: false,
            services: self.default_services(line.kind, family),
            revoke_reason: None,
            revoked_at: None,
            purged_at: None,
            history: vec![HistoryEntry {
                at: now,
                by: actor.userid().to_string(),
                what: format!("richiesta {}", r.code),
            }],
        }
    }

    /// A request, or a clear refusal for an unknown code.
    pub(crate) async fn load_request(&self, code: u64) -> Result<Request> {
        records::load::<Request>(self.store(), &request_key(code))
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("richiesta inesistente: {code}")))
    }

    pub(crate) async fn view(&self, r: &Request) -> Result<RequestView> {
        let mut caselle = Vec::with_capacity(r.lines.len());
        for l in &r.lines {
            caselle.push(records::load::<Casella>(self.store(), l.address.as_bytes()).await?);
        }
        Ok(view_of(r, &caselle))
    }

    /// `request create`: checks the whole file, then stores the request and one casella
    /// `da elaborare` per line.
    pub async fn create_request(&self, actor: &Actor, file: RequestFile) -> Result<RequestView> {
        let checked = self.check_request(actor, &file, None).await?;
        let (archive, actor, now) = (self.clone(), actor.clone(), self.now());
        self.transaction(move |tx| {
            let code = records::next_counter(tx, "request")?;
            let Checked {
                customer,
                account,
                order,
                expiry,
                richiedente,
                titolare,
                lines,
            } = checked;
            let r = Request {
                code,
                state: RequestState::DaElaborare,
                customer,
                account,
                order,
                expiry,
                richiedente,
                titolare,
                lines: lines.iter().map(|(l, _)| l.clone()).collect(),
                collocazione: None,
                contracts: Vec::new(),
                confirmed_at: None,
                processed_at: None,
                initial_passwords: Vec::new(),
                created_by: actor.userid().to_string(),
                created_at: now,
            };
            let mut caselle = Vec::new();
            for (line, family) in &lines {
                claim(tx, &line.address, code)?;
                let c = archive.line_casella(&r, line, *family, &actor, now);
                caselle::save(tx, &c, None)?;
                caselle.push(Some(c));
            }
            records::put(tx, &r)?;
            let detail = format!("{} caselle, account {}", r.lines.len(), r.account);
            audit::record(tx, &actor, now, "request.create", &code.to_string(), detail)?;
            Ok(view_of(&r, &caselle))
        })
        .await
    }

    /// `request show`: by codice attivazione, or by the address of one of its mailboxes (an
    /// incomplete mailbox shows `codice attivazione: non definito`). The first show of a
    /// processed request gives its mailboxes' first passwords, then forgets them.
    pub async fn show_request(&self, actor: &Actor, key: &str) -> Result<RequestView> {
        actor.check_has_customers()?;
        let code = if key.contains('@') {
            let address = key.trim().to_ascii_lowercase();
            let c = records::load::<Casella>(self.store(), address.as_bytes())
                .await?
                .ok_or_else(|| {
                    ArchiveError::not_found(format!("casella inesistente: {address}"))
                })?;
            actor.check_scope(c.customer.as_deref(), c.account.as_deref())?;
            match c.request {
                Some(code) => code,
                None => return Ok(RequestView::incomplete(&c)),
            }
        } else {
            super::parse_code(key)?
        };
        let r = self.load_request(code).await?;
        actor.check_scope(Some(&r.customer), Some(&r.account))?;
        let mut view = self.view(&r).await?;
        if !r.initial_passwords.is_empty() {
            view.initial_passwords = self.hand_over_passwords(actor, code).await?;
        }
        Ok(view)
    }

    /// Takes the first passwords out of a request's record, with an audit entry.
    async fn hand_over_passwords(
        &self,
        actor: &Actor,
        code: u64,
    ) -> Result<Vec<super::model::InitialPassword>> {
        let (actor, now) = (actor.clone(), self.now());
        self.transaction(move |tx| {
            let Some(mut r) = records::get::<Request>(tx, &request_key(code))? else {
                return Ok(Vec::new());
            };
            let passwords = std::mem::take(&mut r.initial_passwords);
            if !passwords.is_empty() {
                records::put(tx, &r)?;
                let detail = format!("{} password iniziali mostrate", passwords.len());
                audit::record(
                    tx,
                    &actor,
                    now,
                    "request.passwords",
                    &code.to_string(),
                    detail,
                )?;
            }
            Ok(passwords)
        })
        .await
    }

    /// The requests in scope matching `q`, newest first, at most `limit`.
    async fn requests_where(
        &self,
        actor: &Actor,
        q: &RequestQuery,
        limit: usize,
    ) -> Result<Vec<RequestView>> {
        actor.check_has_customers()?;
        let all: Vec<Request> = records::load_all(self.store(), b"", usize::MAX).await?;
        let mut out = Vec::new();
        for r in all.iter().rev() {
            if out.len() == limit {
                break;
            }
            if actor.sees(Some(&r.customer), Some(&r.account)) && q.matches(r) {
                out.push(self.view(r).await?);
            }
        }
        Ok(out)
    }

    /// `request recent`: the 15 most recent requests in scope, newest first.
    pub async fn recent_requests(&self, actor: &Actor) -> Result<Vec<RequestView>> {
        self.requests_where(actor, &RequestQuery::default(), RECENT)
            .await
    }

    /// `request search`: requests in scope matching every criterion given, newest first.
    /// Records out of scope are left out, never refused.
    pub async fn search_requests(
        &self,
        actor: &Actor,
        q: &RequestQuery,
    ) -> Result<Vec<RequestView>> {
        self.requests_where(actor, q, MAX_SEARCH).await
    }

    /// A request `actor` may change, in state `da elaborare`.
    async fn pending_request(&self, actor: &Actor, code: u64, what: &str) -> Result<Request> {
        let r = self.load_request(code).await?;
        actor.check_change(Some(&r.customer), Some(&r.account))?;
        if r.state != RequestState::DaElaborare {
            return Err(ArchiveError::conflict(format!(
                "[!] Attenzione: {what}: la richiesta {code} è {}",
                r.state.name()
            )));
        }
        Ok(r)
    }

    /// `request modify`: replaces the request's data and lines with the file's, only while
    /// it is `da elaborare` and its contract not yet confirmed; the result carries the
    /// manual's warning. Customer and account cannot change.
    pub async fn modify_request(
        &self,
        actor: &Actor,
        code: u64,
        mut file: RequestFile,
    ) -> Result<RequestView> {
        let r = self.pending_request(actor, code, "modifica").await?;
        if r.confirmed_at.is_some() {
            return Err(ArchiveError::conflict(format!(
                "[!] Attenzione: modifica: il contratto della richiesta {code} è già confermato"
            )));
        }
        for (given, own, key) in [
            (&file.customer, &r.customer, "customer"),
            (&file.account, &r.account, "account"),
        ] {
            if given.as_ref().is_some_and(|g| g != own) {
                return Err(ArchiveError::invalid(format!(
                    "modifica: {key} non modificabile (richiesta {code}: {own})"
                )));
            }
        }
        file.customer = Some(r.customer.clone());
        file.account = Some(r.account.clone());
        let checked = self.check_request(actor, &file, Some(code)).await?;
        let (archive, actor, now) = (self.clone(), actor.clone(), self.now());
        let mut view = self
            .transaction(move |tx| {
                let Some(mut r) = records::get::<Request>(tx, &request_key(code))? else {
                    return Err(ArchiveError::not_found(format!(
                        "richiesta inesistente: {code}"
                    )));
                };
                if r.state != RequestState::DaElaborare || r.confirmed_at.is_some() {
                    return Err(ArchiveError::conflict(format!(
                        "[!] Attenzione: modifica: la richiesta {code} è cambiata nel frattempo"
                    )));
                }
                let kept: HashSet<&str> = checked
                    .lines
                    .iter()
                    .map(|(l, _)| l.address.as_str())
                    .collect();
                for old in &r.lines {
                    if kept.contains(old.address.as_str()) {
                        continue;
                    }
                    if let Some(c) = records::get::<Casella>(tx, old.address.as_bytes())? {
                        if c.request == Some(code) && c.state == CasellaState::DaElaborare {
                            caselle::remove(tx, &old.address)?;
                        }
                    }
                }
                r.order = checked.order.clone();
                r.expiry = checked.expiry;
                r.richiedente = checked.richiedente.clone();
                r.titolare = checked.titolare.clone();
                r.lines = checked.lines.iter().map(|(l, _)| l.clone()).collect();
                for (line, family) in &checked.lines {
                    let fresh = archive.line_casella(&r, line, *family, &actor, now);
                    let c = match claim(tx, &line.address, code)? {
                        Some(old) if old.state != CasellaState::DaElaborare => old,
                        Some(old) => Casella {
                            inserted_at: old.inserted_at,
                            history: old.history,
                            ..fresh
                        },
                        None => fresh,
                    };
                    caselle::save(tx, &c, None)?;
                }
                records::put(tx, &r)?;
                let detail = format!("{} caselle", r.lines.len());
                audit::record(tx, &actor, now, "request.modify", &code.to_string(), detail)?;
                Ok(view_of(&r, &caselle_of(tx, &r)?))
            })
            .await?;
        view.warning = Some(MODIFY_WARNING.to_string());
        Ok(view)
    }

    /// `request duplicate`: a new request `da elaborare` with the same customer, account,
    /// richiedente and titolare, no order number, the default expiry and no mailbox lines
    /// (added with `request modify`).
    pub async fn duplicate_request(&self, actor: &Actor, code: u64) -> Result<RequestView> {
        let src = self.load_request(code).await?;
        actor.check_scope(Some(&src.customer), Some(&src.account))?;
        self.request_owner(actor, Some(&src.customer), Some(&src.account))
            .await?;
        let expiry = validate::expiry(None, self.today()).map_err(ArchiveError::invalid)?;
        let (actor, now) = (actor.clone(), self.now());
        self.transaction(move |tx| {
            let new = records::next_counter(tx, "request")?;
            let r = Request {
                code: new,
                state: RequestState::DaElaborare,
                customer: src.customer,
                account: src.account,
                order: None,
                expiry,
                richiedente: src.richiedente,
                titolare: src.titolare,
                lines: Vec::new(),
                collocazione: None,
                contracts: Vec::new(),
                confirmed_at: None,
                processed_at: None,
                initial_passwords: Vec::new(),
                created_by: actor.userid().to_string(),
                created_at: now,
            };
            records::put(tx, &r)?;
            let detail = format!("duplicata dalla richiesta {code}");
            audit::record(
                tx,
                &actor,
                now,
                "request.duplicate",
                &new.to_string(),
                detail,
            )?;
            Ok(view_of(&r, &[]))
        })
        .await
    }

    /// `request cancel`: a request `da elaborare` becomes `annullata`, and so do its
    /// mailboxes not yet active.
    pub async fn cancel_request(&self, actor: &Actor, code: u64) -> Result<RequestView> {
        self.pending_request(actor, code, "annullamento").await?;
        let (actor, now) = (actor.clone(), self.now());
        self.transaction(move |tx| {
            let Some(mut r) = records::get::<Request>(tx, &request_key(code))? else {
                return Err(ArchiveError::not_found(format!(
                    "richiesta inesistente: {code}"
                )));
            };
            if r.state != RequestState::DaElaborare {
                return Err(ArchiveError::conflict(format!(
                    "[!] Attenzione: annullamento: la richiesta {code} è {}",
                    r.state.name()
                )));
            }
            let mut cancelled = 0;
            for line in &r.lines {
                match records::get::<Casella>(tx, line.address.as_bytes())? {
                    Some(mut c)
                        if c.request == Some(code) && c.state == CasellaState::DaElaborare =>
                    {
                        c.state = CasellaState::Annullata;
                        c.history.push(HistoryEntry {
                            at: now,
                            by: actor.userid().to_string(),
                            what: format!("annullata con la richiesta {code}"),
                        });
                        caselle::save(tx, &c, None)?;
                        cancelled += 1;
                    }
                    _ => {}
                }
            }
            r.state = RequestState::Annullata;
            records::put(tx, &r)?;
            let detail = format!("{cancelled} caselle annullate");
            audit::record(tx, &actor, now, "request.cancel", &code.to_string(), detail)?;
            Ok(view_of(&r, &caselle_of(tx, &r)?))
        })
        .await
    }
}
