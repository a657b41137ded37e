//! The holders' security archive (PROVISIONING.md §8): which messages a holder's archive
//! keeps, the copies added to the certification step that delivers them (so a copy is
//! durable together with the message), and the holder's notices when the archive passes
//! 70 % of its size or a copy could not be kept.
//!
//! Kinds ([`pecd_archive::settings::ARCHIVE_KINDS`]), by the delivered message's headers:
//! `X-Ricevuta: accettazione` is `acceptance`, `avvenuta-consegna` is `delivery`, any other
//! `X-Ricevuta` (non-accettazione, presa-in-carico, preavviso-errore-consegna,
//! errore-consegna, rilevazione-virus) is `notices`; `X-Trasporto: posta-certificata` is
//! `certified-in`; anything else delivered (ordinary mail, the busta di anomalia) is
//! `ordinary`. The transport envelope of the holder's own submission is `certified-out`,
//! copied into the sender's archive at acceptance. The provider's own notices
//! (`X-Pecd-Notice`) are service messages, not mail, and are never copied.
//!
//! The archive keeps copies while the holder has it on, the operator gave it a size
//! (`archive_gb` units of `archive.security_archive_unit_bytes`) and the copy fits; the
//! store decides the fit inside the step's transaction. Notices go after the step commits,
//! each once per key: one "NOT saved" notice per message not kept, and one warning per
//! archive size when a kept copy leaves the archive at 70 % of it or more (so an archive
//! the operator made smaller than its content is warned about too). Which archives were
//! warned is also kept in memory ([`Warned`]), so that the copies after the warning sign no
//! notice only for its key to refuse it; after a restart the key alone says so.

use std::collections::HashMap;

use pecd_archive::model::Casella;
use pecd_archive::settings::MailboxSettings;
use pecd_signer::mime;
use pecd_store::{ArchiveCopy, ArchiveOutcome, Certification, MailboxId};

use crate::notice::Notice;
use crate::Engine;

/// The share of its size past which an archive's holder is warned (§8: 70 %).
const WARN_PERCENT: u64 = 70;

/// The archive kind of a delivered message, or `None` for what is never copied (a notice
/// of ours: from `service`, marked `X-Pecd-Notice`).
pub(crate) fn kind_of(message: &[u8], service: &str) -> Option<&'static str> {
    let from = mime::header(message, "From").unwrap_or_default();
    if mime::header(message, "X-Pecd-Notice").is_some() && from.trim() == service {
        return None;
    }
    if let Some(r) = mime::header(message, "X-Ricevuta") {
        return Some(match r.trim().to_ascii_lowercase().as_str() {
            "accettazione" => "acceptance",
            "avvenuta-consegna" => "delivery",
            _ => "notices",
        });
    }
    let transport = mime::header(message, "X-Trasporto").unwrap_or_default();
    if transport.trim().eq_ignore_ascii_case("posta-certificata") {
        Some("certified-in")
    } else {
        Some("ordinary")
    }
}

/// The archives (mailbox, size in bytes) whose warning was sent since the engine started.
#[derive(Default)]
pub(crate) struct Warned(std::sync::Mutex<std::collections::HashSet<(MailboxId, u64)>>);

impl Warned {
    /// Whether the warning for `mailbox` at `limit` is still to be sent; marks it sent.
    fn first(&self, mailbox: MailboxId, limit: u64) -> bool {
        let mut set = self.0.lock().unwrap_or_else(|p| p.into_inner());
        set.insert((mailbox, limit))
    }
}

/// A holder whose archive is on: its settings and size in bytes.
struct Holder {
    settings: MailboxSettings,
    limit: u64,
}

impl Engine {
    /// Adds to `step` a copy of each INBOX delivery whose holder keeps that kind and, when
    /// `sender` submitted the step's transport envelope, a `certified-out` copy for it.
    /// A holder whose records cannot be read gets no copy (logged): the delivery itself
    /// must not fail for its archive.
    pub(crate) async fn add_archive_copies(
        &self,
        step: &mut Certification,
        sender: Option<MailboxId>,
    ) {
        let mut holders: HashMap<MailboxId, Option<Holder>> = HashMap::new();
        let mut copies = Vec::new();
        let service = self.provider.service_address.as_str();
        for d in step.deliveries.iter().filter(|d| d.folder == "INBOX") {
            let Some(kind) = kind_of(&d.bytes, service) else {
                continue;
            };
            if let Some(limit) = self.keeps(&mut holders, d.mailbox, kind).await {
                copies.push(ArchiveCopy {
                    mailbox: d.mailbox,
                    bytes: d.bytes.clone(),
                    limit_bytes: limit,
                });
            }
        }
        if let Some(sender) = sender {
            let envelope = step
                .deliveries
                .iter()
                .map(|d| &d.bytes)
                .chain(step.queue.iter().map(|o| &o.bytes))
                .find(|b| kind_of(b, service) == Some("certified-in"));
            if let Some(bytes) = envelope {
                if let Some(limit) = self.keeps(&mut holders, sender, "certified-out").await {
                    copies.push(ArchiveCopy {
                        mailbox: sender,
                        bytes: bytes.clone(),
                        limit_bytes: limit,
                    });
                }
            }
        }
        step.archive.extend(copies);
    }

    /// The archive size of `mailbox` when its holder keeps `kind`.
    async fn keeps(
        &self,
        holders: &mut HashMap<MailboxId, Option<Holder>>,
        mailbox: MailboxId,
        kind: &str,
    ) -> Option<u64> {
        if mailbox == self.service {
            return None;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = holders.entry(mailbox) {
            let holder = match self.archive_holder(mailbox).await {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(mailbox, error = %e, "security archive settings unreadable: no copy");
                    None
                }
            };
            slot.insert(holder);
        }
        let h = holders.get(&mailbox)?.as_ref()?;
        h.settings.archives(kind).then_some(h.limit)
    }

    /// The holder of `mailbox` when its archive is on and sized, with its folder ready.
    async fn archive_holder(&self, mailbox: MailboxId) -> Result<Option<Holder>, String> {
        let store = &self.store;
        let Some(m) = store.mailbox(mailbox).await.map_err(|e| e.to_string())? else {
            return Ok(None);
        };
        let key = m.address.as_bytes();
        let settings = pecd_archive::records::load::<MailboxSettings>(store, key)
            .await
            .map_err(|e| e.to_string())?;
        let Some(settings) = settings.filter(|s| s.security_archive) else {
            return Ok(None);
        };
        let casella = pecd_archive::records::load::<Casella>(store, key)
            .await
            .map_err(|e| e.to_string())?;
        let units = casella.map_or(0, |c| u64::from(c.services.archive_gb));
        if units == 0 {
            // Switched off by the operator meanwhile: nothing kept, nothing to report.
            return Ok(None);
        }
        // Made now, outside the step: a folder of that name that is not the archive (made
        // before the name was reserved) means no copy rather than a failed delivery.
        store
            .security_archive(mailbox)
            .await
            .map_err(|e| e.to_string())?;
        let unit = self.config.archive.security_archive_unit_bytes;
        Ok(Some(Holder {
            settings,
            limit: units.saturating_mul(unit),
        }))
    }

    /// After a step committed: the holders' notices for the copies it kept or not, `heads`
    /// being the header blocks of the step's copies, in order.
    pub(crate) async fn report_archiving(&self, heads: &[Vec<u8>], outcomes: &[ArchiveOutcome]) {
        for (head, o) in heads.iter().zip(outcomes) {
            let notice = match &o.stored {
                None => self.not_saved(head, o).await,
                Some(_)
                    if past_warning(o) && self.archive_warned.first(o.mailbox, o.limit_bytes) =>
                {
                    self.warning(o).await
                }
                Some(_) => None,
            };
            let Some(notice) = notice else { continue };
            if let Err(e) = self.send_notice(notice).await {
                tracing::warn!(mailbox = o.mailbox, error = %e, "security archive notice not sent");
            }
        }
    }

    async fn address_of(&self, mailbox: MailboxId) -> Option<String> {
        self.store
            .mailbox(mailbox)
            .await
            .ok()
            .flatten()
            .map(|m| m.address)
    }

    /// The notice that the copy of the message whose header block is `head` was NOT saved
    /// (one per message: keyed by the header block, which holds its Message-ID).
    async fn not_saved(&self, head: &[u8], o: &ArchiveOutcome) -> Option<Notice> {
        let address = self.address_of(o.mailbox).await?;
        let header = |name| mime::header(head, name).unwrap_or_default();
        let subject = pecd_signer::build::decoded_subject(head);
        let digest = hex(&openssl::sha::sha256(head)[..12]);
        let text = format!(
            "Gentile titolare,\n\nl'archivio di sicurezza della casella PEC {address} è pieno \
             ({} occupati su {}): la copia del messaggio seguente NON è stata salvata \
             nell'archivio di sicurezza. Il messaggio è stato comunque consegnato nella \
             casella.\n\nOggetto: {subject}\nMittente: {}\nData: {}\nMessage-ID: {}\n\nPer \
             salvare di nuovo le copie dei messaggi chieda al gestore di ampliare l'archivio \
             di sicurezza.\n{}",
            size(o.used_bytes),
            size(o.limit_bytes),
            header("From").trim(),
            header("Date").trim(),
            header("Message-ID").trim(),
            self.closing()
        );
        Some(Notice {
            kind: "archive.not-saved".into(),
            to: vec![address.clone()],
            subject: "Messaggio NON salvato nell'archivio di sicurezza".into(),
            text,
            key: format!("archive.not-saved|{address}|{digest}"),
        })
    }

    /// The warning that the archive passed 70 % of its size (once per size).
    async fn warning(&self, o: &ArchiveOutcome) -> Option<Notice> {
        let address = self.address_of(o.mailbox).await?;
        let percent = o.used_bytes.saturating_mul(100) / o.limit_bytes.max(1);
        let text = format!(
            "Gentile titolare,\n\nl'archivio di sicurezza della casella PEC {address} ha \
             raggiunto il {percent}% dello spazio disponibile ({} occupati su {}).\n\nQuando \
             l'archivio è pieno le copie dei nuovi messaggi NON vengono salvate. Per \
             ampliarlo si rivolga al gestore.\n{}",
            size(o.used_bytes),
            size(o.limit_bytes),
            self.closing()
        );
        Some(Notice {
            kind: "archive.warning".into(),
            to: vec![address.clone()],
            subject: format!("Archivio di sicurezza della casella {address} al {WARN_PERCENT}%"),
            text,
            key: format!("archive.warning|{address}|{}", o.limit_bytes),
        })
    }

    fn closing(&self) -> String {
        format!(
            "\nPer informazioni: {}.\n\n{}\n\nQuesto messaggio è generato automaticamente: non \
             rispondere a questo indirizzo.\n",
            self.config.archive.provider_contact, self.config.provider.name
        )
    }
}

/// Whether the archive of `o` is at 70 % of its size or more.
fn past_warning(o: &ArchiveOutcome) -> bool {
    o.used_bytes.saturating_mul(100) >= o.limit_bytes.saturating_mul(WARN_PERCENT)
}

/// Bytes as the notices write them.
fn size(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{:.2} GB", bytes as f64 / f64::from(1u32 << 30))
    } else if bytes >= 1 << 20 {
        format!("{:.1} MB", bytes as f64 / 1_048_576.0)
    } else {
        format!("{bytes} byte")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = "posta@pec.x.it";

    #[test]
    fn kinds_follow_the_pec_headers() {
        let with = |h: &str| format!("{h}\r\nSubject: s\r\n\r\nbody\r\n").into_bytes();
        assert_eq!(
            kind_of(&with("X-Ricevuta: accettazione"), SERVICE),
            Some("acceptance")
        );
        assert_eq!(
            kind_of(&with("X-Ricevuta: avvenuta-consegna"), SERVICE),
            Some("delivery")
        );
        for other in [
            "non-accettazione",
            "presa-in-carico",
            "errore-consegna",
            "preavviso-errore-consegna",
            "rilevazione-virus",
        ] {
            assert_eq!(
                kind_of(&with(&format!("X-Ricevuta: {other}")), SERVICE),
                Some("notices")
            );
        }
        assert_eq!(
            kind_of(&with("X-Trasporto: posta-certificata"), SERVICE),
            Some("certified-in")
        );
        assert_eq!(
            kind_of(&with("X-Trasporto: errore"), SERVICE),
            Some("ordinary")
        );
        assert_eq!(kind_of(&with("From: a@b.it"), SERVICE), Some("ordinary"));
        let notice = "X-Pecd-Notice: archive.warning\r\nFrom: posta@pec.x.it";
        assert_eq!(kind_of(&with(notice), SERVICE), None);
        // Someone else's message that says it is a notice is mail like any other.
        let forged = "X-Pecd-Notice: archive.warning\r\nFrom: a@b.it";
        assert_eq!(kind_of(&with(forged), SERVICE), Some("ordinary"));
    }

    #[test]
    fn the_warning_is_due_from_seventy_percent_once_per_archive_size() {
        let o = |used, limit| ArchiveOutcome {
            mailbox: 1,
            stored: None,
            size: 10,
            used_bytes: used,
            limit_bytes: limit,
        };
        assert!(past_warning(&o(700, 1000)));
        assert!(past_warning(&o(1000, 1000)));
        assert!(!past_warning(&o(699, 1000)));
        let warned = Warned::default();
        assert!(warned.first(1, 1000));
        assert!(!warned.first(1, 1000), "once per size");
        assert!(warned.first(1, 2000), "a new size is warned again");
        assert!(warned.first(2, 1000));
    }
}
