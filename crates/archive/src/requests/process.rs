//! The job step that processes requests (PROVISIONING.md §3, pecd decision): a request `da
//! elaborare` whose contract is confirmed gets, for each of its mailboxes `da elaborare`, a
//! master user id by its account's rule and a store mailbox with a random first password
//! that is already expired (it must be changed at the first login); then the mailboxes and
//! the request are `evasa`, in one transaction with their audit entries.
//!
//! Idempotent: the store mailboxes are made first, the records after. A run that stops in
//! between is finished by the next, which finds the mailbox already made and gives it a new
//! first password (the lost one was never shown), so nothing is made twice.
//!
//! The first passwords are shown once: in the report of the run (`pecctl jobs run`), and
//! kept in the request's record for the first `request show` by an operator in scope when
//! the run was the scheduler's; see [`Archive::forget_reported_passwords`].

use pecd_common::password;

use super::model::{request_key, InitialPassword, Request, RequestState};
use crate::error::{ArchiveError, ErrorKind, Result};
use crate::model::{Casella, CasellaState, HistoryEntry};
use crate::report::JobReport;
use crate::scope::Actor;
use crate::{audit, caselle, customers, records, Archive};

/// Job name in reports.
pub const JOB: &str = "request.process";

/// Characters of generated passwords: no look-alikes (0/O, 1/l/I).
const LOWER: &[u8] = b"abcdefghijkmnpqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const DIGITS: &[u8] = b"23456789";
const SPECIAL: &[u8] = b"!#+-=?@";

/// A random first password of 14 characters that meets the policy of §7.
pub fn initial_password() -> String {
    let classes = [LOWER, UPPER, DIGITS, SPECIAL];
    loop {
        let mut random = [0u8; 28];
        openssl::rand::rand_bytes(&mut random).expect("the system's random source");
        let candidate: String = random
            .chunks(2)
            .enumerate()
            .map(|(i, pair)| {
                // The first four characters cover every class; the rest draw from all.
                let set = if i < 4 {
                    classes[i]
                } else {
                    classes[pair[0] as usize % classes.len()]
                };
                set[pair[1] as usize % set.len()] as char
            })
            .collect();
        if password::check_policy(&candidate).is_ok() {
            return candidate;
        }
    }
}

/// One mailbox made in the store for a request, waiting for its record.
struct Made {
    address: String,
    password: String,
}

impl Archive {
    /// Processes every confirmed request `da elaborare`; each request's failure is
    /// reported and the others go on.
    pub async fn process_requests(&self, report: &mut JobReport) -> Result<()> {
        // Two runs at once (the scheduler's and `pecctl jobs run`) would each give the same
        // mailbox a first password, and one of the two reported would be wrong.
        static RUNNING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
        let _one_at_a_time = RUNNING.lock().await;
        let all: Vec<Request> = records::load_all(self.store(), b"", usize::MAX).await?;
        let due = all
            .into_iter()
            .filter(|r| r.state == RequestState::DaElaborare && r.confirmed_at.is_some());
        for r in due {
            let code = r.code.to_string();
            match self.process_request(r).await {
                Ok(passwords) => {
                    for p in &passwords {
                        report.did(
                            "mailbox.activate",
                            &p.address,
                            format!("userid {} password iniziale {}", p.userid, p.password),
                        );
                    }
                    report.did(JOB, &code, format!("{} caselle attivate", passwords.len()));
                }
                Err(e) if e.kind == ErrorKind::Unavailable => return Err(e),
                Err(e) => report.failed(JOB, &code, e.message),
            }
        }
        Ok(())
    }

    async fn process_request(&self, r: Request) -> Result<Vec<InitialPassword>> {
        let mut made = Vec::new();
        for line in &r.lines {
            let c = records::load::<Casella>(self.store(), line.address.as_bytes()).await?;
            let Some(c) = c.filter(|c| c.request == Some(r.code)) else {
                continue;
            };
            if c.state != CasellaState::DaElaborare {
                continue;
            }
            made.push(self.make_store_mailbox(&c).await?);
        }
        let code = r.code;
        let made_addresses: Vec<String> = made.iter().map(|m| m.address.clone()).collect();
        let (contact, now) = (self.config().archive.provider_contact.clone(), self.now());
        let outcome = self
            .transaction(move |tx| {
                let Some(mut r) = records::get::<Request>(tx, &request_key(code))? else {
                    return Err(ArchiveError::not_found(format!(
                        "richiesta inesistente: {code}"
                    )));
                };
                if r.state != RequestState::DaElaborare {
                    return Ok(None);
                }
                let mut passwords = Vec::new();
                for m in &made {
                    let Some(mut c) =
                        records::get::<Casella>(tx, m.address.as_bytes())?.filter(|c| {
                            c.request == Some(code) && c.state == CasellaState::DaElaborare
                        })
                    else {
                        continue;
                    };
                    let userid = match c.userid.clone() {
                        Some(u) => u,
                        None => customers::assign_userid(tx, &r.account, &contact)?,
                    };
                    c.userid = Some(userid.clone());
                    c.state = CasellaState::Evasa;
                    c.activated_at = Some(now);
                    c.history.push(HistoryEntry {
                        at: now,
                        by: Actor::Jobs.userid().to_string(),
                        what: format!("attivata, userid {userid}"),
                    });
                    caselle::save(tx, &c, None)?;
                    audit::record(
                        tx,
                        &Actor::Jobs,
                        now,
                        "mailbox.activate",
                        &c.address,
                        &userid,
                    )?;
                    passwords.push(InitialPassword {
                        address: c.address.clone(),
                        userid,
                        password: m.password.clone(),
                    });
                }
                r.state = RequestState::Evasa;
                r.processed_at = Some(now);
                r.initial_passwords.extend(passwords.iter().cloned());
                records::put(tx, &r)?;
                let detail = format!("{} caselle attivate", passwords.len());
                audit::record(tx, &Actor::Jobs, now, JOB, &code.to_string(), detail)?;
                Ok(Some(passwords))
            })
            .await?;
        match outcome {
            Some(passwords) => Ok(passwords),
            // Cancelled meanwhile: the mailboxes just made belong to nobody.
            None => {
                for address in made_addresses {
                    let c = records::load::<Casella>(self.store(), address.as_bytes()).await?;
                    let cancelled = c.is_some_and(|c| {
                        c.request == Some(code) && c.state == CasellaState::Annullata
                    });
                    if let (true, Some(m)) = (cancelled, self.store().find_mailbox(&address).await?)
                    {
                        self.store().delete_mailbox(m.id).await?;
                    }
                }
                Ok(Vec::new())
            }
        }
    }

    /// The store mailbox of a casella, with a new first password, expired from the start.
    async fn make_store_mailbox(&self, c: &Casella) -> Result<Made> {
        let password = initial_password();
        let secret = password.clone();
        let hash = tokio::task::spawn_blocking(move || password::hash(&secret))
            .await
            .map_err(|_| ArchiveError::new(ErrorKind::Internal, "password hashing failed"))?;
        let store = self.store();
        let id = match store.find_mailbox(&c.address).await? {
            Some(m) => m.id,
            None => {
                store
                    .create_mailbox(&c.address, &hash, c.services.quota_bytes)
                    .await?
                    .id
            }
        };
        store.set_expired_password(id, &hash).await?;
        Ok(Made {
            address: c.address.clone(),
            password,
        })
    }

    /// Wipes from the requests' records the first passwords a report has shown (`pecctl
    /// jobs run` prints them), so that they are shown once.
    pub async fn forget_reported_passwords(&self, report: &JobReport) -> Result<()> {
        let codes: Vec<u64> = report
            .done
            .iter()
            .filter(|i| i.job == JOB)
            .filter_map(|i| i.target.parse().ok())
            .collect();
        if codes.is_empty() {
            return Ok(());
        }
        self.transaction(move |tx| {
            for code in codes {
                if let Some(mut r) = records::get::<Request>(tx, &request_key(code))? {
                    if !r.initial_passwords.is_empty() {
                        r.initial_passwords.clear();
                        records::put(tx, &r)?;
                    }
                }
            }
            Ok(())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use pecd_common::config::Config;
    use pecd_common::domains::LocalDomains;

    use super::*;
    use crate::customers::NewAccount;
    use crate::requests::file::{self, RequestFile};

    const FILE: &str = r#"{"customer": "C1", "account": "A1",
        "richiedente": {"surname": "Rossi", "first_name": "Mario", "tax_code": "RSSMRA80A01H501U",
                        "email": "mario@example.it", "phone": "06 1234567"},
        "titolare": {"name": "Rossi", "tax_code": "01234567890", "address": "Via Roma 1",
                     "email": "amm@example.it"},
        "mailboxes": [{"address": "info@pec.localhost", "description": "Rossi"}]}"#;

    /// A run of the scheduler (not `pecctl jobs run`, which forgets them at once) keeps the
    /// first passwords for the first `request show`, and only for it.
    #[tokio::test]
    async fn the_first_show_after_a_scheduled_run_gives_the_passwords_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = pecd_store::Store::open(&dir.path().join("store")).unwrap();
        let config = Config::default();
        let domains = Arc::new(LocalDomains::new(&config.provider.domains));
        let archive = Archive::open(store, Arc::new(config), domains)
            .await
            .unwrap();
        let admin = Actor::Admin;
        archive.create_customer(&admin, "C1", "Uno").await.unwrap();
        let account = NewAccount {
            code: "A1".into(),
            customer: "C1".into(),
            description: "Uno".into(),
            userid_prefix: Some("rss".into()),
        };
        archive.create_account(&admin, account).await.unwrap();
        let f: RequestFile = file::parse(FILE).unwrap();
        let code = archive
            .create_request(&admin, f)
            .await
            .unwrap()
            .code
            .unwrap();
        archive
            .add_contract(&admin, code, "c.pdf", b"%PDF".to_vec())
            .await
            .unwrap();
        archive.confirm_contracts(&admin, code).await.unwrap();
        let report = archive.run_jobs().await.unwrap();
        let detail = &report
            .done
            .iter()
            .find(|i| i.job == "mailbox.activate")
            .unwrap()
            .detail;
        let shown = archive
            .show_request(&admin, &code.to_string())
            .await
            .unwrap();
        assert_eq!(shown.initial_passwords.len(), 1);
        assert!(
            detail.ends_with(&shown.initial_passwords[0].password),
            "{detail}"
        );
        assert_eq!(shown.initial_passwords[0].userid, "rss0000001");
        let again = archive
            .show_request(&admin, &code.to_string())
            .await
            .unwrap();
        assert!(again.initial_passwords.is_empty());
        assert!(archive.run_jobs().await.unwrap().done.is_empty());
    }

    #[test]
    fn initial_passwords_meet_the_policy_and_differ() {
        let a = initial_password();
        assert_eq!(a.len(), 14);
        assert!(password::check_policy(&a).is_ok(), "{a}");
        assert_ne!(a, initial_password());
    }
}
