//! The domains this provider serves right now: `provider.domains` from the start, plus the
//! domains the provisioning archive enables while pecd runs (PROVISIONING.md §5). One shared
//! value, read on every address check by SMTP, IMAP, POP3, the engine and the control socket,
//! so that an enabled domain is served at once, without a restart.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

#[derive(Debug, Default)]
pub struct LocalDomains {
    set: RwLock<Arc<BTreeSet<String>>>,
}

impl LocalDomains {
    /// The set, starting with `initial` (lower-cased).
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(initial: I) -> LocalDomains {
        let set = initial
            .into_iter()
            .map(|d| d.as_ref().to_ascii_lowercase())
            .collect();
        LocalDomains {
            set: RwLock::new(Arc::new(set)),
        }
    }

    /// Whether `domain` is served, case-insensitively.
    pub fn serves_domain(&self, domain: &str) -> bool {
        let set = self.snapshot();
        set.contains(domain) || set.contains(&domain.to_ascii_lowercase())
    }

    /// Adds a domain; returns whether it was new.
    pub fn add(&self, domain: &str) -> bool {
        let mut guard = self.set.write().unwrap_or_else(|p| p.into_inner());
        if guard.contains(&domain.to_ascii_lowercase()) {
            return false;
        }
        let mut next = (**guard).clone();
        next.insert(domain.to_ascii_lowercase());
        *guard = Arc::new(next);
        true
    }

    /// The domains served now, sorted.
    pub fn snapshot(&self) -> Arc<BTreeSet<String>> {
        self.set.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn list(&self) -> Vec<String> {
        self.snapshot().iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_added_domain_is_served_at_once_case_insensitively() {
        let d = LocalDomains::new(["PEC.localhost"]);
        assert!(d.serves_domain("pec.LOCALHOST"));
        assert!(!d.serves_domain("new.pec.localhost"));
        assert!(d.add("New.pec.localhost"));
        assert!(!d.add("new.pec.localhost"));
        assert!(d.serves_domain("NEW.pec.localhost"));
        assert_eq!(d.list(), vec!["new.pec.localhost", "pec.localhost"]);
    }
}
