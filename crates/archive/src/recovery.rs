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

/// Codes one login may be sent a day (a day on the engine's clock, from the first).
pub const CODES_PER_DAY: u32 = 5;

/// A code waiting to be used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCode {
    pub identity: String,
    /// SHA-256 of identity ‖ 0 ‖ code, hex.
    pub hash: String,
    pub created_at: i64,
    pub tries: u32,
    /// When the current day of codes began, and how many were made in it.
    #[serde(default)]
    pub day_started: i64,
    #[serde(default)]
    pub sent_in_day: u32,
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
    /// A random id for the messages that carry it (never derived from the code).
    pub id: String,
    pub email: Option<String>,
    pub mobile: Option<String>,
}

/// The refusal of a code, whatever was wrong with it.
fn bad_code() -> ArchiveError {
    ArchiveError::invalid("Codice non valido o scaduto")
}

impl Archive {
    /// A new code for `login`, when it names a user id with security information, no live
    /// code exists (a code is not replaced while valid, so asking again neither floods the
    /// holder nor voids the code it is typing) and fewer than [`CODES_PER_DAY`] were made in
    /// the last day; `None` otherwise (the caller answers the same either way).
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
        let identity = principal.identity.clone();
        let hash = code_hash(&identity, &code);
        let made = self
            .transaction(move |tx| {
                let old = records::get::<RecoveryCode>(tx, identity.as_bytes())?;
                let (mut day_started, mut sent) = (now, 0);
                if let Some(old) = old {
                    let live = now - old.created_at <= CODE_SECONDS && old.tries < MAX_TRIES;
                    if live {
                        return Ok(false);
                    }
                    if now - old.day_started < 86_400 {
                        (day_started, sent) = (old.day_started, old.sent_in_day);
                    }
                }
                if sent >= CODES_PER_DAY {
                    return Ok(false);
                }
                records::put(
                    tx,
                    &RecoveryCode {
                        identity,
                        hash,
                        created_at: now,
                        tries: 0,
                        day_started,
                        sent_in_day: sent + 1,
                    },
                )?;
                Ok(true)
            })
            .await?;
        if !made {
            return Ok(None);
        }
        let mut id = [0u8; 12];
        openssl::rand::rand_bytes(&mut id)
            .map_err(|e| ArchiveError::new(crate::ErrorKind::Internal, format!("random: {e}")))?;
        Ok(Some(CodeToSend {
            principal,
            code,
            id: id.iter().map(|b| format!("{b:02x}")).collect(),
            email: info.recovery_email,
            mobile: info.recovery_mobile,
        }))
    }

    /// Sets a new password for `login` with a valid code. The policy is checked first (the
    /// same answer whoever the login names), then the code is used up or counted as a wrong
    /// try, and only a valid code leads to hashing the new password: an unknown login and a
    /// wrong code get the same answer, and nobody makes the server hash without a code.
    pub async fn finish_recovery(
        &self,
        login: &str,
        code: &str,
        new_password: String,
    ) -> Result<()> {
        crate::operators::check_policy(&new_password)?;
        let Ok(Some(principal)) = login::principal_of(self.store(), login).await else {
            return Err(bad_code());
        };
        let (identity, now) = (principal.identity.clone(), self.now());
        let given = code_hash(&identity, code.trim());
        let valid = self
            .transaction(move |tx| {
                let Some(mut c) = records::get::<RecoveryCode>(tx, identity.as_bytes())? else {
                    return Ok(false);
                };
                if now - c.created_at > CODE_SECONDS || c.tries >= MAX_TRIES {
                    return Ok(false);
                }
                let right = openssl::memcmp::eq(c.hash.as_bytes(), given.as_bytes());
                if right {
                    // Used up: it can never match again; the day's count stays.
                    c.tries = MAX_TRIES;
                } else {
                    c.tries += 1;
                }
                records::put(tx, &c)?;
                Ok(right)
            })
            .await?;
        if !valid {
            return Err(bad_code());
        }
        let hash = checked_hash(new_password).await?;
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
