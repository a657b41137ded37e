//! Checking a request file before anything is stored (PROVISIONING.md §3): the customer and
//! account (in the operator's scope, with a user-id rule), the richiedente and titolare, the
//! order number, the expiry, and every mailbox line (address, domain, uniqueness,
//! description, type). Every error is collected, each line's prefixed `riga N:`, and reported
//! at once; the request is stored only when there is none.

use std::collections::HashSet;

use chrono::NaiveDate;
use pecd_common::address::Address;

use super::file::{LineFile, RequestFile};
use super::model::{Person, RequestLine, Titolare};
use crate::error::{ArchiveError, Result};
use crate::model::{Account, Casella, CasellaState, DomainFamily, MailboxType, Profile};
use crate::scope::Actor;
use crate::{check_code, check_text, customers, records, Archive};

/// What operators without the entitlement are told of a base mailbox (PROVISIONING.md §4).
pub const CLOSED_MAILBOX: &str = "Casella chiusa (può ricevere solo messaggi di posta certificata)";

/// Latest expiry a request may ask for, in years from today.
const MAX_EXPIRY_YEARS: u32 = 10;

/// A request file that passed every check.
#[derive(Clone, Debug)]
pub struct Checked {
    pub customer: String,
    pub account: String,
    pub order: Option<String>,
    pub expiry: NaiveDate,
    pub richiedente: Person,
    pub titolare: Titolare,
    /// Each line with the family of its domain.
    pub lines: Vec<(RequestLine, DomainFamily)>,
}

fn text_error(what: &str, value: &str, max: usize) -> Option<String> {
    check_text(what, value, max).err().map(|e| e.message)
}

/// A codice fiscale (16 letters and digits) or a partita IVA (11 digits); the check
/// character is not verified.
fn tax_code_error(what: &str, code: &str) -> Option<String> {
    let c = code.trim();
    let fiscal = c.len() == 16 && c.bytes().all(|b| b.is_ascii_alphanumeric());
    let vat = c.len() == 11 && c.bytes().all(|b| b.is_ascii_digit());
    (!(fiscal || vat)).then(|| {
        format!("{what} {c:?}: codice fiscale (16 lettere e cifre) o partita IVA (11 cifre)")
    })
}

fn email_error(what: &str, email: &str) -> Option<String> {
    Address::parse(email)
        .err()
        .map(|e| format!("{what} {email:?}: indirizzo non valido ({e})"))
}

fn phone_error(phone: &str) -> Option<String> {
    let digits = phone.bytes().filter(u8::is_ascii_digit).count();
    let ok = (6..=15).contains(&digits)
        && phone
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b' ' | b'-' | b'(' | b')' | b'.'));
    (!ok).then(|| format!("richiedente.phone {phone:?}: numero di telefono non valido"))
}

/// Every problem of the richiedente and the titolare.
pub fn people_errors(r: &Person, t: &Titolare) -> Vec<String> {
    [
        text_error("richiedente.surname", &r.surname, 100),
        text_error("richiedente.first_name", &r.first_name, 100),
        tax_code_error("richiedente.tax_code", &r.tax_code),
        email_error("richiedente.email", &r.email),
        phone_error(&r.phone),
        text_error("titolare.name", &t.name, 200),
        tax_code_error("titolare.tax_code", &t.tax_code),
        text_error("titolare.address", &t.address, 300),
        email_error("titolare.email", &t.email),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The expiry of a request: `YYYY-MM-DD`, after today and at most ten years away; one year
/// from today when absent.
pub fn expiry(text: Option<&str>, today: NaiveDate) -> std::result::Result<NaiveDate, String> {
    let latest = today
        .checked_add_months(chrono::Months::new(12 * MAX_EXPIRY_YEARS))
        .unwrap_or(NaiveDate::MAX);
    let Some(text) = text else {
        return Ok(today
            .checked_add_months(chrono::Months::new(12))
            .unwrap_or(latest));
    };
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
        format!("expiry {text:?}: data non valida (formato AAAA-MM-GG, per esempio 2027-11-29)")
    })?;
    if date <= today {
        return Err(format!("expiry {date}: deve essere una data futura"));
    }
    if date > latest {
        return Err(format!(
            "expiry {date}: al massimo {MAX_EXPIRY_YEARS} anni da oggi"
        ));
    }
    Ok(date)
}

/// The type of a line: standard when absent; another only for operators entitled to choose.
pub fn line_type(kind: Option<&str>, may_choose: bool) -> std::result::Result<MailboxType, String> {
    let kind = match kind.map(str::trim) {
        None | Some("") => return Ok(MailboxType::Standard),
        Some(k) => k.parse::<MailboxType>()?,
    };
    if kind != MailboxType::Standard && !may_choose {
        let what = match kind {
            MailboxType::Base => format!("tipo base ({CLOSED_MAILBOX})"),
            _ => format!("tipo {}", kind.name()),
        };
        return Err(format!(
            "{what} non consentito: questo operatore crea solo caselle standard"
        ));
    }
    Ok(kind)
}

impl Archive {
    /// The customer and account a request of `actor` is for: those the file names, else the
    /// operator's own; in its scope, and with a user-id rule.
    pub(crate) async fn request_owner(
        &self,
        actor: &Actor,
        customer: Option<&str>,
        account: Option<&str>,
    ) -> Result<Account> {
        let own = match actor {
            Actor::Operator(o) if o.profile == Profile::Intermediario => o.account.as_deref(),
            _ => None,
        };
        let Some(code) = account.or(own) else {
            return Err(ArchiveError::invalid(
                "file della richiesta: indicare customer e account",
            ));
        };
        check_code("codice account", code)?;
        let acc = records::load::<Account>(self.store(), code.as_bytes())
            .await?
            .ok_or_else(|| ArchiveError::not_found(format!("account inesistente: {code}")))?;
        if let Some(c) = customer {
            if c != acc.customer {
                return Err(ArchiveError::invalid(format!(
                    "l'account {code} appartiene al cliente {}, non a {c}",
                    acc.customer
                )));
            }
        }
        actor.check_change(Some(&acc.customer), Some(&acc.code))?;
        if acc.userid_prefix.is_none() {
            return Err(customers::account_misconfigured(
                &self.config().archive.provider_contact,
            ));
        }
        Ok(acc)
    }

    /// Checks a whole request file for `actor`. `own` is the code of the request being
    /// modified, whose own addresses are not duplicates.
    pub(crate) async fn check_request(
        &self,
        actor: &Actor,
        file: &RequestFile,
        own: Option<u64>,
    ) -> Result<Checked> {
        // A file read by `file::parse` was bounded there; a request body of the HTTPS API
        // arrives already decoded, so the bound is checked here for both.
        if file.mailboxes.len() > super::file::MAX_LINES {
            return Err(ArchiveError::invalid(format!(
                "richiesta: al massimo {} caselle",
                super::file::MAX_LINES
            )));
        }
        let acc = self
            .request_owner(actor, file.customer.as_deref(), file.account.as_deref())
            .await?;
        let mut errors = people_errors(&file.richiedente, &file.titolare);
        if let Some(o) = &file.order {
            if let Err(e) = check_code("order", o) {
                errors.push(e.message);
            }
        }
        let expiry = expiry(file.expiry.as_deref(), self.today()).unwrap_or_else(|e| {
            errors.push(e);
            self.today()
        });
        if file.mailboxes.is_empty() {
            errors.push("mailboxes: indicare almeno una casella".into());
        }
        let mut seen = HashSet::new();
        let mut lines = Vec::new();
        for (i, line) in file.mailboxes.iter().enumerate() {
            match self.check_line(actor, &acc, line, own, &mut seen).await {
                Ok(checked) => lines.push(checked),
                Err(line_errors) => errors.extend(
                    line_errors
                        .into_iter()
                        .map(|e| format!("riga {}: {e}", i + 1)),
                ),
            }
        }
        if !errors.is_empty() {
            return Err(ArchiveError::invalid(format!(
                "richiesta non valida: {} errori, nulla è stato registrato",
                errors.len()
            ))
            .with_details(errors));
        }
        Ok(Checked {
            customer: acc.customer,
            account: acc.code,
            order: file.order.clone(),
            expiry,
            richiedente: trimmed_person(&file.richiedente),
            titolare: trimmed_titolare(&file.titolare),
            lines,
        })
    }

    /// One mailbox line: every problem of it, or the line and its domain's family.
    async fn check_line(
        &self,
        actor: &Actor,
        acc: &Account,
        line: &LineFile,
        own: Option<u64>,
        seen: &mut HashSet<String>,
    ) -> std::result::Result<(RequestLine, DomainFamily), Vec<String>> {
        let mut errors = Vec::new();
        let mut family = DomainFamily::Ordinary;
        let address = match Address::parse(&line.address) {
            Ok(a) => Some(a),
            Err(e) => {
                errors.push(format!("address {:?}: {e}", line.address));
                None
            }
        };
        if let Some(a) = &address {
            match self
                .activation_domain(a.domain(), Some(&acc.customer), Some(&acc.code))
                .await
            {
                Ok(f) => family = f,
                Err(e) => errors.push(format!("address {a}: {}", e.message)),
            }
            if !seen.insert(a.as_str().to_string()) {
                errors.push(format!("address {a}: ripetuto nella richiesta"));
            } else if let Some(e) = self
                .address_taken(a.as_str(), own)
                .await
                .map_err(|e| vec![e.message])?
            {
                errors.push(e);
            }
        }
        if let Some(e) = text_error("description", &line.description, 200) {
            errors.push(e);
        }
        let kind = line_type(line.kind.as_deref(), actor.may_choose_type()).unwrap_or_else(|e| {
            errors.push(e);
            MailboxType::Standard
        });
        match address {
            Some(a) if errors.is_empty() => Ok((
                RequestLine {
                    address: a.as_str().to_string(),
                    description: line.description.trim().to_string(),
                    kind,
                },
                family,
            )),
            _ => Err(errors),
        }
    }

    /// Why `address` cannot be requested: a mailbox of the store, or a casella of another
    /// request that is not cancelled.
    pub(crate) async fn address_taken(
        &self,
        address: &str,
        own: Option<u64>,
    ) -> Result<Option<String>> {
        let casella = records::load::<Casella>(self.store(), address.as_bytes()).await?;
        if matches!(&casella, Some(c) if own.is_some() && c.request == own) {
            return Ok(None);
        }
        let live = casella.is_some_and(|c| c.state != CasellaState::Annullata);
        if live || self.store().find_mailbox(address).await?.is_some() {
            return Ok(Some(format!("address {address}: casella già esistente")));
        }
        Ok(None)
    }
}

fn trimmed_person(p: &Person) -> Person {
    Person {
        surname: p.surname.trim().into(),
        first_name: p.first_name.trim().into(),
        tax_code: p.tax_code.trim().to_ascii_uppercase(),
        email: p.email.trim().to_ascii_lowercase(),
        phone: p.phone.trim().into(),
    }
}

fn trimmed_titolare(t: &Titolare) -> Titolare {
    Titolare {
        name: t.name.trim().into(),
        tax_code: t.tax_code.trim().to_ascii_uppercase(),
        address: t.address.trim().into(),
        email: t.email.trim().to_ascii_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn expiry_defaults_to_one_year_and_must_be_a_future_date() {
        let today = day("2026-03-10");
        assert_eq!(expiry(None, today), Ok(day("2027-03-10")));
        assert_eq!(expiry(Some("2026-12-01"), today), Ok(day("2026-12-01")));
        assert!(expiry(Some("2026-02-30"), today)
            .unwrap_err()
            .contains("data non valida"));
        assert!(expiry(Some("domani"), today)
            .unwrap_err()
            .contains("data non valida"));
        assert!(expiry(Some("2026-03-10"), today)
            .unwrap_err()
            .contains("futura"));
        assert!(expiry(Some("2040-01-01"), today)
            .unwrap_err()
            .contains("10 anni"));
    }

    #[test]
    fn only_entitled_operators_choose_a_type_other_than_standard() {
        assert_eq!(line_type(None, false), Ok(MailboxType::Standard));
        assert_eq!(
            line_type(Some("standard"), false),
            Ok(MailboxType::Standard)
        );
        assert_eq!(line_type(Some("base"), true), Ok(MailboxType::Base));
        let e = line_type(Some("base"), false).unwrap_err();
        assert!(e.contains(CLOSED_MAILBOX), "{e}");
        assert!(line_type(Some("aperta"), false).is_err());
        assert!(line_type(Some("chiusa"), true).is_err());
    }

    #[test]
    fn every_problem_of_the_people_is_listed() {
        let r = Person {
            surname: "".into(),
            first_name: "Mario".into(),
            tax_code: "XYZ".into(),
            email: "non-un-indirizzo".into(),
            phone: "telefono".into(),
        };
        let t = Titolare {
            name: "Rossi S.r.l.".into(),
            tax_code: "01234567890".into(),
            address: "Via Roma 1".into(),
            email: "amm@example.it".into(),
        };
        let errors = people_errors(&r, &t);
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert!(errors[0].starts_with("richiedente.surname"));
        assert!(errors.iter().any(|e| e.starts_with("richiedente.phone")));
    }
}
