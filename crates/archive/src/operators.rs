//! Operators (PROVISIONING.md §2): created, listed, shown and deleted by an amministratore;
//! other operators see only themselves. Passwords follow the policy of §7.

use pecd_common::password;
use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::model::{Account, Customer, Operator, Profile};
use crate::records::{self, Record};
use crate::scope::{Actor, BUILTIN_ADMIN, JOB_RUNNER};
use crate::{audit, check_code, check_text, Archive};

/// What `operator create` gives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewOperator {
    pub userid: String,
    pub profile: Profile,
    pub surname: String,
    pub first_name: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub cli_pattern: Option<String>,
    #[serde(default)]
    pub acc_pattern: Option<String>,
    #[serde(default)]
    pub may_choose_type: bool,
    #[serde(default)]
    pub may_manage_massive: bool,
    pub password: String,
}

/// The stored key of a user id: lower case; 1 to 64 letters, digits, `.`, `_`, `-`.
pub fn userid_key(userid: &str) -> Result<String> {
    let ok = !userid.is_empty()
        && userid.len() <= 64
        && userid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return Err(ArchiveError::invalid(format!(
            "userid {userid:?}: da 1 a 64 caratteri tra lettere, cifre, '.', '_' e '-'"
        )));
    }
    Ok(userid.to_ascii_lowercase())
}

/// Hashes a new password after checking the policy; every unmet rule is a detail.
/// The policy of §7 for a new password: `Password non valida` with every unmet rule.
pub(crate) fn check_policy(password: &str) -> Result<()> {
    password::check_policy(password).map_err(|violations| {
        ArchiveError::invalid("Password non valida")
            .with_details(violations.iter().map(|v| v.text().to_string()).collect())
    })
}

pub async fn checked_hash(password: String) -> Result<String> {
    check_policy(&password)?;
    // At most one argon2 run per core, with the logins' (19 MiB each, off the async threads).
    let failed = || ArchiveError::new(crate::ErrorKind::Internal, "password hashing failed");
    let permit = crate::login::verifications()
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| failed())?;
    crate::login::on_permit(permit, move || password::hash(&password))
        .await
        .ok_or_else(failed)
}

fn check_pattern(what: &str, p: &Option<String>) -> Result<()> {
    match p {
        Some(p) if p.is_empty() || p.len() > 64 || p.chars().any(char::is_control) => Err(
            ArchiveError::invalid(format!("{what} {p:?}: da 1 a 64 caratteri")),
        ),
        _ => Ok(()),
    }
}

/// The profile's own fields: a cliente names its customer, an intermediario its customer
/// and account, an LMXADM may have patterns; nothing else carries them.
fn check_profile_fields(n: &NewOperator) -> Result<()> {
    let (needs_customer, needs_account, patterns) = match n.profile {
        Profile::Amministratore => (false, false, false),
        Profile::Lmxadm => (false, false, true),
        Profile::Cliente => (true, false, false),
        Profile::Intermediario => (true, true, false),
    };
    let field = |name: &str, present: bool, wanted: bool| -> Result<()> {
        match (present, wanted) {
            (false, true) => Err(ArchiveError::invalid(format!(
                "profilo {}: {name} obbligatorio",
                n.profile.name()
            ))),
            (true, false) => Err(ArchiveError::invalid(format!(
                "profilo {}: {name} non previsto",
                n.profile.name()
            ))),
            _ => Ok(()),
        }
    };
    field("--customer", n.customer.is_some(), needs_customer)?;
    field("--account", n.account.is_some(), needs_account)?;
    if !patterns && (n.cli_pattern.is_some() || n.acc_pattern.is_some()) {
        return Err(ArchiveError::invalid(format!(
            "profilo {}: --cli-pattern e --acc-pattern valgono solo per lmxadm",
            n.profile.name()
        )));
    }
    check_pattern("--cli-pattern", &n.cli_pattern)?;
    check_pattern("--acc-pattern", &n.acc_pattern)
}

/// Operators as shown: no password hash.
fn shown(mut o: Operator) -> Operator {
    o.password_hash.clear();
    o
}

impl Archive {
    pub async fn create_operator(&self, actor: &Actor, n: NewOperator) -> Result<Operator> {
        actor.check_admin("operator create")?;
        let key = userid_key(&n.userid)?;
        if key == BUILTIN_ADMIN || key == JOB_RUNNER {
            return Err(ArchiveError::conflict(format!("userid riservato: {key}")));
        }
        check_text("surname", &n.surname, 100)?;
        check_text("first name", &n.first_name, 100)?;
        check_profile_fields(&n)?;
        for code in [&n.customer, &n.account].into_iter().flatten() {
            check_code("codice", code)?;
        }
        let hash = checked_hash(n.password.clone()).await?;
        let now = self.now();
        let actor = actor.clone();
        let op = Operator {
            userid: key.clone(),
            surname: n.surname.trim().to_string(),
            first_name: n.first_name.trim().to_string(),
            profile: n.profile,
            customer: n.customer.clone(),
            account: n.account.clone(),
            cli_pattern: n.cli_pattern.clone(),
            acc_pattern: n.acc_pattern.clone(),
            may_choose_type: n.may_choose_type,
            may_manage_massive: n.may_manage_massive,
            password_hash: hash,
            password_changed_at: now,
            created_at: now,
        };
        let stored = op.clone();
        self.transaction(move |tx| {
            if records::get::<Operator>(tx, key.as_bytes())?.is_some() {
                return Err(ArchiveError::conflict(format!(
                    "operatore già esistente: {key}"
                )));
            }
            if let Some(c) = &stored.customer {
                if records::get::<Customer>(tx, c.as_bytes())?.is_none() {
                    return Err(ArchiveError::not_found(format!("cliente inesistente: {c}")));
                }
            }
            if let Some(a) = &stored.account {
                match records::get::<Account>(tx, a.as_bytes())? {
                    Some(acc) if Some(&acc.customer) == stored.customer.as_ref() => {}
                    Some(acc) => {
                        return Err(ArchiveError::invalid(format!(
                            "l'account {a} appartiene al cliente {}",
                            acc.customer
                        )))
                    }
                    None => {
                        return Err(ArchiveError::not_found(format!("account inesistente: {a}")))
                    }
                }
            }
            records::put(tx, &stored)?;
            audit::record(
                tx,
                &actor,
                now,
                "operator.create",
                &key,
                stored.profile.name(),
            )
        })
        .await?;
        Ok(shown(op))
    }

    /// Every operator for an amministratore; oneself for anyone else.
    pub async fn list_operators(&self, actor: &Actor) -> Result<Vec<Operator>> {
        let all: Vec<Operator> = records::load_all(self.store(), b"", usize::MAX).await?;
        Ok(all
            .into_iter()
            .filter(|o| actor.is_admin() || o.userid == actor.userid())
            .map(shown)
            .collect())
    }

    pub async fn show_operator(&self, actor: &Actor, userid: &str) -> Result<Operator> {
        let key = userid_key(userid)?;
        if !actor.is_admin() && key != actor.userid() {
            actor.check_admin("operator show")?;
        }
        records::load::<Operator>(self.store(), key.as_bytes())
            .await?
            .map(shown)
            .ok_or_else(|| ArchiveError::not_found(format!("operatore sconosciuto: {userid}")))
    }

    pub async fn delete_operator(&self, actor: &Actor, userid: &str) -> Result<Operator> {
        actor.check_admin("operator delete")?;
        let key = userid_key(userid)?;
        if key == actor.userid() {
            return Err(ArchiveError::conflict(
                "un operatore non può cancellare se stesso",
            ));
        }
        let (actor, now) = (actor.clone(), self.now());
        let removed = self
            .transaction(move |tx| {
                let Some(op) = records::get::<Operator>(tx, key.as_bytes())? else {
                    return Err(ArchiveError::not_found(format!(
                        "operatore sconosciuto: {key}"
                    )));
                };
                tx.delete(Operator::FAMILY, key.as_bytes())?;
                audit::record(tx, &actor, now, "operator.delete", &key, "")?;
                Ok(op)
            })
            .await?;
        Ok(shown(removed))
    }
}

/// An argon2id hash of a random password, verified when the user id does not exist so that
/// a failure takes as long either way: made once, so it is a hash argon2 really verifies.
fn dummy_operator_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| password::hash("not the password of any operator 7!Aa"))
}

impl Archive {
    /// Checks an operator's user id and password (the HTTPS interface's login). Unknown user
    /// id and wrong password get the same answer, after the same work.
    pub async fn operator_login(&self, userid: &str, password: String) -> Result<Operator> {
        let refused = || ArchiveError::new(crate::ErrorKind::Forbidden, "Credenziali non valide");
        let Ok(key) = userid_key(userid) else {
            return Err(refused());
        };
        let op = records::load::<Operator>(self.store(), key.as_bytes()).await?;
        // A pair argon2 accepted lately is answered from the login cache (`[auth]
        // cache_seconds`) while the operator's stored hash is still the one it was verified
        // against, as mail logins are; the cache's keys are an HMAC of login and password,
        // and operators' logins are kept apart from mailboxes' by their prefix.
        let identity = format!("operator:{key}");
        let cache = crate::login::cache();
        let pair = cache.key(&identity, &password);
        if let (Some(pair), Some(o)) = (&pair, &op) {
            if let Some(v) = cache.recall(pair) {
                if v.identity == identity && v.password_hash == o.password_hash {
                    return Ok(o.clone());
                }
                cache.forget(pair);
            }
        }
        let stored = op.as_ref().map(|o| o.password_hash.clone());
        // One argon2 per core at a time, shared with mail logins, so a burst of HTTPS logins
        // queues instead of taking ~19 MiB per blocking thread; the permit stays with the
        // work even if the request is abandoned (login::on_permit).
        let permit = crate::login::verifications()
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| ArchiveError::new(crate::ErrorKind::Unavailable, "try again later"))?;
        let checked = stored.clone();
        // The dummy hash is made (once) there too, never on an async thread.
        let ok = crate::login::on_permit(permit, move || match &checked {
            Some(h) => password::verify(&password, h),
            None => {
                let _ = password::verify(&password, dummy_operator_hash());
                false
            }
        })
        .await
        .unwrap_or(false);
        let hash = stored.unwrap_or_default();
        match op {
            Some(o) if ok => {
                if let Some(pair) = pair {
                    cache.remember(
                        pair,
                        crate::login::Verified {
                            mailbox: 0,
                            identity,
                            password_hash: hash,
                        },
                    );
                }
                Ok(o)
            }
            _ => Err(refused()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_dummy_operator_hash_is_one_argon2_really_verifies() {
        let parsed = argon2::PasswordHash::new(super::dummy_operator_hash());
        assert!(
            parsed.is_ok(),
            "a hash argon2 refuses to parse answers at once"
        );
        assert!(!pecd_common::password::verify(
            "guess",
            super::dummy_operator_hash()
        ));
    }
}
