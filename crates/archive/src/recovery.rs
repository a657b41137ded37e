//! Resetting a forgotten password with a one-time code (PROVISIONING.md §7): a holder names
//! its login; when that user id has security information, a code of eight digits goes to its
//! recovery e-mail and/or mobile number (sent by the caller: `pecd_lifecycle`), valid for
//! [`CODE_SECONDS`], for at most [`MAX_TRIES`] tries, once; with the right code the holder
//! sets a new password that meets the policy. Only a hash of the code is kept (family
//! `recovery_code`, keyed by the login identity), so it works across restarts and nodes.
//! The answer to a request never says whether the login exists or has a contact.

use serde::{Deserialize, Serialize};

use crate::error::{ArchiveError, Result};
use crate::login::principal::PrincipalInfo;
use crate::login::{self, Principal};
use crate::operators::checked_hash;
use crate::records::{self, Record};
use crate::Archive;

/// How long a code is valid.
pub const CODE_SECONDS: i64 = 15 * 60;

/// Wrong codes before the code is void.
pub const MAX_TRIES: u32 = 5;

/// How soon another code may be asked for the same login.
pub const RESEND_SECONDS: i64 = 60;

/// A code waiting to be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub identity: String,
    /// SHA-256 of identity ‖ 0 ‖ code, hex.
    pub hash: String,
    pub created_at: i64,
    pub tries: u32,
}

impl Record for RecoveryCode {
    const FAMILY: &'static str = "recovery_code";
    fn key(&self) -> Vec<u8> {
        self.identity.as_bytes().to_vec()
    }
}

fn code_hash(identity: &str, code: &str) -> String {
    let mut data = identity.as_bytes().to_vec();
    data.push(0);
    data.extend_from_slice(code.as_bytes());
    openssl::sha::sha256(&data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A fresh code of eight digits.
fn new_code() -> Result<String> {
    let mut b = [0u8; 8];
    openssl::rand::rand_bytes(&mut b)
        .map_err(|e| ArchiveError::new(crate::ErrorKind::Internal, format!("random: {e}")))?;
    let n = u64::from_be_bytes(b) % 100_000_000;
    Ok(format!("{n:08}"))
}

/// Where a code is to be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeToSend {
    pub principal: Principal,
    pub code: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// The refusal of a code, whatever was wrong with it.
fn bad_code() -> ArchiveError {
    ArchiveError::invalid("Codice non valido o scaduto")
}

impl Archive {
    /// A new code for `login`, when it names a user id with security information and no
    /// code was made for it in the last [`RESEND_SECONDS`]; `None` otherwise (the caller
    /// answers the same either way).
    pub async fn start_recovery(&self, login: &str) -> Result<Option<CodeToSend>> {
        let Ok(Some(principal)) = login::principal_of(self.store(), login).await else {
            return Ok(None);
        };
        let info =
            records::load::<PrincipalInfo>(self.store(), principal.identity.as_bytes()).await?;
        let Some(info) = info.filter(|i| !i.no_info()) else {
            return Ok(None);
        };
        let now = self.now();
        let code = new_code()?;
        let record = RecoveryCode {
            identity: principal.identity.clone(),
            hash: code_hash(&principal.identity, &code),
            created_at: now,
            tries: 0,
        };
        let made = self
            .transaction(move |tx| {
                if let Some(old) = records::get::<RecoveryCode>(tx, &record.key())? {
                    if now - old.created_at < RESEND_SECONDS {
                        return Ok(false);
                    }
                }
                records::put(tx, &record)?;
                Ok(true)
            })
            .await?;
        Ok(made.then_some(CodeToSend {
            principal,
            code,
            email: info.recovery_email,
            mobile: info.recovery_mobile,
        }))
    }

    /// Sets a new password for `login` with a valid code: the code is used up (or counted as
    /// a wrong try) before the password is set, so it works once.
    pub async fn finish_recovery(
        &self,
        login: &str,
        code: &str,
        new_password: String,
    ) -> Result<()> {
        let Ok(Some(principal)) = login::principal_of(self.store(), login).await else {
            return Err(bad_code());
        };
        // The policy first: a refused password does not use up the code.
        let hash = checked_hash(new_password).await?;
        let (identity, now) = (principal.identity.clone(), self.now());
        let given = code_hash(&identity, code.trim());
        let valid = self
            .transaction(move |tx| {
                let Some(mut c) = records::get::<RecoveryCode>(tx, identity.as_bytes())? else {
                    return Ok(false);
                };
                if now - c.created_at > CODE_SECONDS || c.tries >= MAX_TRIES {
                    tx.delete(RecoveryCode::FAMILY, identity.as_bytes())?;
                    return Ok(false);
                }
                if c.hash != given {
                    c.tries += 1;
                    records::put(tx, &c)?;
                    return Ok(false);
                }
                tx.delete(RecoveryCode::FAMILY, identity.as_bytes())?;
                Ok(true)
            })
            .await?;
        if !valid {
            return Err(bad_code());
        }
        self.store_own_password(&principal, hash, "holder.password-recovery")
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_eight_digits_and_hashed_per_identity() {
        let c = new_code().unwrap();
        assert_eq!(c.len(), 8);
        assert!(c.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(code_hash("a@x", &c), code_hash("b@x", &c));
        assert_eq!(code_hash("a@x", &c), code_hash("a@x", &c));
    }
}
