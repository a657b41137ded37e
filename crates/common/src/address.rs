//! E-mail addresses as pecd handles them: mailbox addresses of our PEC domains.
//!
//! The local part keeps its case (RFC 5321 §2.4 says it may be significant), but pecd, like
//! every PEC provider, treats mailbox addresses case-insensitively, so [`Address`] stores the
//! lower-case form and compares on it.

use std::fmt;

/// A syntactically valid `local@domain` address, normalised to lower case.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AddressError {
    #[error("address is empty")]
    Empty,
    #[error("address must have the form local@domain")]
    NoAt,
    #[error("address local part is not valid")]
    BadLocal,
    #[error("address domain is not valid")]
    BadDomain,
    #[error("address is longer than 254 characters")]
    TooLong,
}

impl Address {
    /// Parses a dot-atom address (`first.last@pec.example.it`). Quoted local parts and
    /// address literals are refused: PEC mailboxes never use them.
    pub fn parse(s: &str) -> Result<Self, AddressError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(AddressError::Empty);
        }
        if s.len() > 254 {
            return Err(AddressError::TooLong);
        }
        let (local, domain) = s.rsplit_once('@').ok_or(AddressError::NoAt)?;
        if !valid_local(local) {
            return Err(AddressError::BadLocal);
        }
        if !valid_domain(domain) {
            return Err(AddressError::BadDomain);
        }
        Ok(Address(s.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn local(&self) -> &str {
        self.0.rsplit_once('@').map(|(l, _)| l).unwrap_or("")
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn valid_local(local: &str) -> bool {
    const SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || SPECIALS.contains(c))
}

/// A host name of letter-digit-hyphen labels (RFC 1035 §2.3.1, RFC 1123 §2.1).
pub fn valid_domain(domain: &str) -> bool {
    !domain.is_empty()
        && domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_splits() {
        let a = Address::parse(" Mario.Rossi@PEC.Example.IT ").unwrap();
        assert_eq!(a.as_str(), "mario.rossi@pec.example.it");
        assert_eq!(a.local(), "mario.rossi");
        assert_eq!(a.domain(), "pec.example.it");
    }

    #[test]
    fn refuses_malformed() {
        assert_eq!(Address::parse(""), Err(AddressError::Empty));
        assert_eq!(Address::parse("nobody"), Err(AddressError::NoAt));
        assert_eq!(Address::parse("@pec.it"), Err(AddressError::BadLocal));
        assert_eq!(Address::parse("a..b@pec.it"), Err(AddressError::BadLocal));
        assert_eq!(Address::parse("a b@pec.it"), Err(AddressError::BadLocal));
        assert_eq!(Address::parse("a@pec..it"), Err(AddressError::BadDomain));
        assert_eq!(Address::parse("a@-pec.it"), Err(AddressError::BadDomain));
        assert_eq!(
            Address::parse("a@[127.0.0.1]"),
            Err(AddressError::BadDomain)
        );
        let long = format!("{}@pec.it", "a".repeat(65));
        assert_eq!(Address::parse(&long), Err(AddressError::BadLocal));
    }
}
