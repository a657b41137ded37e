//! The Incoming Point's classification (PEC.md §6.3, §9.3) of mail from outside: the four
//! checks (signature, origin, validity, formal correctness), then the dispatch to the rule
//! that applies: a valid envelope to [`crate::taking_charge`], a valid receipt or notice to
//! [`crate::sender_side`] (§6.5), everything else to [`crate::anomaly`] (§3.3). Whatever a
//! provider signed is stored byte for byte (only our `Received:` field goes in front).

use pecd_signer::inspect::{self, CheckOptions, Report};
use pecd_signer::{ChainTime, Kind, ProviderEntry};
use pecd_store::Ricevuta;

use crate::recipients::RecipientDecision;
use crate::{domain_of, off_thread, Engine, EngineError, Incoming};

impl Engine {
    /// Takes a message arriving without AUTH (PEC.md §6.3): `message` already has our
    /// `Received:` field in front; `recipients` are the RCPT TO addresses as
    /// [`Engine::decide_recipient`] decided them.
    pub async fn receive(
        &self,
        sender: &str,
        recipients: Vec<RecipientDecision>,
        message: Vec<u8>,
    ) -> Result<Incoming, EngineError> {
        let anchors = self.anchors();
        let crls = self.crls();
        let index = self.index();
        // Both scans read the whole message: off the async threads.
        let (report, message) = off_thread(move || {
            if pecd_signer::mime::nested_deeper_than(&message, pecd_signer::mime::MAX_MIME_DEPTH) {
                return (None, message);
            }
            let opts = CheckOptions {
                anchors: &anchors,
                crls: &crls,
                index: &index,
                time: ChainTime::Now,
                require_index: true,
            };
            (Some(inspect::check(&message, &opts)), message)
        })
        .await?;
        let Some(report) = report else {
            tracing::warn!(sender, "incoming message nested too deep: refused");
            return Ok(Incoming::TooDeep);
        };
        // §6.3 steps 1–3: no signature, an unknown signer or an invalid one: ordinary mail.
        let Some(entry) = report
            .entry
            .clone()
            .filter(|_| report.signature.is_ok() && report.chain.is_ok())
        else {
            let why = report.errors.first().cloned().unwrap_or_default();
            return self
                .receive_ordinary(sender, &recipients, message, true, why)
                .await;
        };
        let own = self.signed_by_us(&entry, &report);
        if own {
            let reason = "firmato da questo gestore: non proviene da un altro gestore".to_string();
            tracing::warn!(
                sender,
                "a message signed with our own key arrived from outside"
            );
            return self
                .receive_ordinary(sender, &recipients, message, false, reason)
                .await;
        }
        // Step 4: signed by a listed provider but not formally correct.
        let kind = report.kind.filter(|k| *k != Kind::Anomaly);
        let (Some(kind), true) = (kind, report.valid) else {
            let reason = if report.errors.is_empty() {
                "busta di anomalia di un altro gestore".to_string()
            } else {
                report.errors.join("; ")
            };
            tracing::warn!(provider = %entry.name, %reason, "message of a provider not formally correct");
            return self
                .receive_ordinary(sender, &recipients, message, false, reason)
                .await;
        };
        // A receipt or notice carries one of the X-Ricevuta values (PEC.md §2.1); the
        // envelope is the one valid kind that does not.
        if let Some(ricevuta) = Ricevuta::parse(kind.type_header().1) {
            self.receive_receipt(entry, kind, ricevuta, report, recipients, message)
                .await
        } else if let Some(reason) = envelope_fault(&entry, &report, &recipients) {
            tracing::warn!(provider = %entry.name, %reason, "envelope not formally correct");
            self.receive_ordinary(sender, &recipients, message, false, reason)
                .await
        } else {
            self.take_charge(entry, report, recipients, message).await
        }
    }

    /// What we sign never reaches us over SMTP (our own recipients are served inside the
    /// same step), so our signature arriving from outside is a replay of a document we gave
    /// someone: it must not count as a receipt or an envelope again. Ours: the current
    /// signing certificate, or any certificate of an entry of the index that is us by name
    /// or by one of our domains (a previous key after a rotation).
    fn signed_by_us(&self, entry: &ProviderEntry, report: &Report) -> bool {
        entry.name.eq_ignore_ascii_case(&self.provider.name)
            || entry.domains.iter().any(|d| self.domains.serves_domain(d))
            || report
                .signer_sha1
                .as_ref()
                .is_some_and(|h| self.own_hashes().contains(h))
    }
}

/// Why a valid envelope of `entry` is still not formally correct for us (PEC.md §9.3): its
/// sender is in no domain the provider manages, or one of our RCPT TO recipients is not a
/// certified recipient of its daticert.
fn envelope_fault(
    entry: &ProviderEntry,
    report: &Report,
    recipients: &[RecipientDecision],
) -> Option<String> {
    let listed = |a: &str| {
        report.daticert.as_ref().is_some_and(|d| {
            d.destinatari
                .iter()
                .any(|x| x.certificato && x.address.eq_ignore_ascii_case(a))
        })
    };
    let mittente = report
        .daticert
        .as_ref()
        .map(|d| d.mittente.clone())
        .unwrap_or_default();
    if !entry
        .domains
        .iter()
        .any(|x| x.eq_ignore_ascii_case(domain_of(&mittente)))
    {
        return Some(format!(
            "the sender {mittente} is not in a domain managed by {}",
            entry.name
        ));
    }
    recipients
        .iter()
        .find(|r| !listed(&r.address))
        .map(|r| r.address.as_str())
        .map(|stray| format!("{stray} is not a certified recipient of the envelope"))
}
