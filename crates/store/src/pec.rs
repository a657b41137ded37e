//! The PEC side of the store: certification steps written in one atomic, durable commit (the
//! messages of a step, its legal log lines, the transaction's trace and its idempotency
//! key), the legal transaction log (PEC.md §10.5) and the per-recipient trace.

pub use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::types::{Appended, MailboxId};

/// One message put into a mailbox folder as part of a certification step.
#[derive(Clone, Debug)]
pub struct Delivery {
    pub mailbox: MailboxId,
    pub folder: String,
    /// Shared, not copied, between the deliveries, queued messages and archive copies of a
    /// step that carry the same message (a reference count per clone).
    pub bytes: Bytes,
}

/// A copy of a message for its holder's security archive (PROVISIONING.md §8), written in
/// the same certification step as the message it copies, into the mailbox's
/// [`crate::SECURITY_ARCHIVE_FOLDER`] (created when missing). The copy is kept only when the
/// archive's usage plus its size stays within `limit_bytes`; otherwise the step still
/// commits, without it, and [`ArchiveOutcome::stored`] says so.
#[derive(Clone, Debug)]
pub struct ArchiveCopy {
    pub mailbox: MailboxId,
    pub bytes: Bytes,
    /// The archive's size: bytes it may hold in all.
    pub limit_bytes: u64,
}

/// What became of one [`ArchiveCopy`] of a stored step, in the order of the step's copies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchiveOutcome {
    pub mailbox: MailboxId,
    /// The copy as stored; `None` when it did not fit.
    pub stored: Option<Appended>,
    /// The copy's size.
    pub size: u64,
    /// The archive's usage after the step (every copy of the step counted).
    pub used_bytes: u64,
    pub limit_bytes: u64,
}

/// One line of the legal transaction log (PEC.md §10.5): msgid, date and time, sender,
/// recipients, subject, event, ids of the generated messages, provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    /// Unix seconds: the step's temporal reference (PEC.md §10.6).
    pub time: i64,
    /// What happened, e.g. `accettazione`, `consegna`, `mancata-consegna`, `anomalia`.
    pub event: LogEvent,
    /// The PEC msgid (identificativo), or the received Message-ID for mail outside PEC.
    pub pec_id: String,
    /// The client's Message-ID.
    pub msgid: Option<String>,
    pub sender: String,
    pub recipients: Vec<String>,
    pub subject: String,
    /// Message-IDs of what the step emitted.
    pub generated: Vec<String>,
    /// The provider the event concerns (gestore).
    pub provider: String,
    /// Free text: an error, a finding.
    pub detail: String,
}

/// The event of a legal log line (PEC.md §10.5). Stored and shown as the same strings the
/// log has always held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LogEvent {
    /// Ricevuta di accettazione emitted (§6.1).
    Accettazione,
    /// Avviso di non accettazione emitted (§6.1 step 6).
    NonAccettazione,
    /// Avviso di non accettazione per virus emitted (§6.1 step 7).
    NonAccettazioneVirus,
    /// Presa in carico emitted by our Incoming Point (§6.3).
    PresaInCarico,
    /// Avviso di rilevazione virus emitted by our Incoming Point (§6.3).
    RilevazioneVirus,
    /// Ricevuta di avvenuta consegna emitted by our Delivery Point (§6.4).
    Consegna,
    /// Avviso di mancata consegna emitted (§6.4, or after a relay refusal).
    MancataConsegna,
    /// Avviso di mancata consegna per virus emitted for our sender (§6.5).
    MancataConsegnaVirus,
    /// The 12 h preavviso emitted (§6.6).
    PreavvisoMancataConsegna,
    /// The final 24 h notice emitted (§6.6).
    MancataConsegnaTempo,
    /// A busta di anomalia delivered (§6.3).
    Anomalia,
    /// The relay handed a message to the other provider (§6.2).
    Inoltro,
    /// The other provider refused recipients for good.
    InoltroRifiutato,
    /// The message left the queue unsent after its maximum time (§6.2).
    InoltroScaduto,
    /// An operator deleted the queued message.
    InoltroAnnullato,
    /// A receipt or notice of another provider arrived, by its `X-Ricevuta` value (§6.5):
    /// `ricevuta-<value>`.
    Ricevuta(Ricevuta),
}

/// The seven `X-Ricevuta` values (PEC.md §2.1), as daticert `tipo`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Ricevuta {
    Accettazione,
    NonAccettazione,
    PresaInCarico,
    AvvenutaConsegna,
    ErroreConsegna,
    PreavvisoErroreConsegna,
    RilevazioneVirus,
}

impl Ricevuta {
    pub const ALL: [Ricevuta; 7] = [
        Ricevuta::Accettazione,
        Ricevuta::NonAccettazione,
        Ricevuta::PresaInCarico,
        Ricevuta::AvvenutaConsegna,
        Ricevuta::ErroreConsegna,
        Ricevuta::PreavvisoErroreConsegna,
        Ricevuta::RilevazioneVirus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ricevuta::Accettazione => "accettazione",
            Ricevuta::NonAccettazione => "non-accettazione",
            Ricevuta::PresaInCarico => "presa-in-carico",
            Ricevuta::AvvenutaConsegna => "avvenuta-consegna",
            Ricevuta::ErroreConsegna => "errore-consegna",
            Ricevuta::PreavvisoErroreConsegna => "preavviso-errore-consegna",
            Ricevuta::RilevazioneVirus => "rilevazione-virus",
        }
    }

    /// By daticert `tipo` (exact, as the signer's checks compare it).
    pub fn parse(tipo: &str) -> Option<Ricevuta> {
        Ricevuta::ALL.into_iter().find(|r| r.as_str() == tipo)
    }
}

impl LogEvent {
    /// Every event but [`LogEvent::Ricevuta`].
    pub const OWN: [LogEvent; 15] = [
        LogEvent::Accettazione,
        LogEvent::NonAccettazione,
        LogEvent::NonAccettazioneVirus,
        LogEvent::PresaInCarico,
        LogEvent::RilevazioneVirus,
        LogEvent::Consegna,
        LogEvent::MancataConsegna,
        LogEvent::MancataConsegnaVirus,
        LogEvent::PreavvisoMancataConsegna,
        LogEvent::MancataConsegnaTempo,
        LogEvent::Anomalia,
        LogEvent::Inoltro,
        LogEvent::InoltroRifiutato,
        LogEvent::InoltroScaduto,
        LogEvent::InoltroAnnullato,
    ];

    /// The stored and displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            LogEvent::Accettazione => "accettazione",
            LogEvent::NonAccettazione => "non-accettazione",
            LogEvent::NonAccettazioneVirus => "non-accettazione-virus",
            LogEvent::PresaInCarico => "presa-in-carico",
            LogEvent::RilevazioneVirus => "rilevazione-virus",
            LogEvent::Consegna => "consegna",
            LogEvent::MancataConsegna => "mancata-consegna",
            LogEvent::MancataConsegnaVirus => "mancata-consegna-virus",
            LogEvent::PreavvisoMancataConsegna => "preavviso-mancata-consegna",
            LogEvent::MancataConsegnaTempo => "mancata-consegna-tempo",
            LogEvent::Anomalia => "anomalia",
            LogEvent::Inoltro => "inoltro",
            LogEvent::InoltroRifiutato => "inoltro-rifiutato",
            LogEvent::InoltroScaduto => "inoltro-scaduto",
            LogEvent::InoltroAnnullato => "inoltro-annullato",
            LogEvent::Ricevuta(r) => match r {
                Ricevuta::Accettazione => "ricevuta-accettazione",
                Ricevuta::NonAccettazione => "ricevuta-non-accettazione",
                Ricevuta::PresaInCarico => "ricevuta-presa-in-carico",
                Ricevuta::AvvenutaConsegna => "ricevuta-avvenuta-consegna",
                Ricevuta::ErroreConsegna => "ricevuta-errore-consegna",
                Ricevuta::PreavvisoErroreConsegna => "ricevuta-preavviso-errore-consegna",
                Ricevuta::RilevazioneVirus => "ricevuta-rilevazione-virus",
            },
        }
    }

    pub fn parse(s: &str) -> Option<LogEvent> {
        if let Some(r) = s.strip_prefix("ricevuta-").and_then(Ricevuta::parse) {
            return Some(LogEvent::Ricevuta(r));
        }
        LogEvent::OWN.into_iter().find(|e| e.as_str() == s)
    }
}

impl std::fmt::Display for LogEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: `pecctl log search` aligns the column with a width.
        f.pad(self.as_str())
    }
}

impl Serialize for LogEvent {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for LogEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        LogEvent::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown log event {s:?}")))
    }
}

/// The state of one recipient of a certified message (PEC.md §6.7).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientTrace {
    pub address: String,
    /// `certificato` or `esterno`.
    pub certified: bool,
    /// Served by another provider: the envelope is relayed and receipts come back from
    /// there, so the timeouts of PEC.md §6.6 apply (certified) or nothing comes back
    /// (esterno, §6.8).
    pub remote: bool,
    pub state: RecipientState,
    /// The 12 h warning was sent (PEC.md §6.6): the WARNED state of §6.7 is
    /// [`RecipientState::Accepted`] with this set. It stays set after later moves, so the
    /// trace still says a warning went out (and stores written before keep their layout).
    pub warned: bool,
    /// Unix seconds of the last change.
    pub updated: i64,
    pub detail: String,
}

/// Where one recipient of a certified message stands (PEC.md §6.7). Stored and shown as the
/// same strings the store has always held (`accepted`, `taken`, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecipientState {
    /// Waiting for the other provider.
    Accepted,
    /// The other provider sent its presa in carico.
    Taken,
    /// Final: the envelope is in the recipient's mailbox (avvenuta consegna).
    Delivered,
    /// Final: a mancata consegna (ours or the other provider's), or per virus.
    Error,
    /// Final: the 24 h notice went out.
    TimedOut,
    /// Final: an esterno recipient; the envelope leaves as ordinary mail (§6.8).
    External,
}

/// What moves a recipient's state (PEC.md §6.5, §6.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StateEvent {
    /// The other provider's ricevuta di presa in carico.
    PresaInCarico,
    /// A ricevuta di avvenuta consegna.
    AvvenutaConsegna,
    /// An avviso di mancata consegna: the other provider's, per virus, or the relay's
    /// permanent refusal.
    ErroreConsegna,
    /// The 12 h preavviso went out.
    Warning12h,
    /// The final 24 h notice went out.
    Timeout24h,
}

/// A move the state machine of PEC.md §6.7 does not allow, e.g. any receipt after a final
/// state (such a receipt is still delivered, but changes nothing: §6.7, §12).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{event:?} does not apply to a recipient in state {from}")]
pub struct IllegalMove {
    pub from: RecipientState,
    pub event: StateEvent,
}

impl RecipientState {
    pub const ALL: [RecipientState; 6] = [
        RecipientState::Accepted,
        RecipientState::Taken,
        RecipientState::Delivered,
        RecipientState::Error,
        RecipientState::TimedOut,
        RecipientState::External,
    ];

    /// The transition function of PEC.md §6.7, the only place a state changes. The 12 h
    /// warning leaves an accepted recipient accepted (the warning itself is
    /// [`RecipientTrace::warned`]); a presa in carico after a presa in carico, and anything
    /// after a final state, is illegal.
    pub fn on(self, event: StateEvent) -> Result<RecipientState, IllegalMove> {
        use RecipientState::*;
        use StateEvent::*;
        match (self, event) {
            (Accepted, PresaInCarico) => Ok(Taken),
            (Accepted | Taken, AvvenutaConsegna) => Ok(Delivered),
            (Accepted | Taken, ErroreConsegna) => Ok(Error),
            (Accepted, Warning12h) => Ok(Accepted),
            (Accepted | Taken, Timeout24h) => Ok(TimedOut),
            (from, event) => Err(IllegalMove { from, event }),
        }
    }

    /// Still waiting for a receipt (no final state).
    pub fn waiting(self) -> bool {
        matches!(self, RecipientState::Accepted | RecipientState::Taken)
    }

    /// The stored and displayed spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            RecipientState::Accepted => "accepted",
            RecipientState::Taken => "taken",
            RecipientState::Delivered => "delivered",
            RecipientState::Error => "error",
            RecipientState::TimedOut => "timed-out",
            RecipientState::External => "external",
        }
    }

    pub fn parse(s: &str) -> Option<RecipientState> {
        RecipientState::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

impl std::fmt::Display for RecipientState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `pad`: `pecctl trace` aligns the column with a width.
        f.pad(self.as_str())
    }
}

impl Serialize for RecipientState {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RecipientState {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RecipientState::parse(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown recipient state {s:?}")))
    }
}

impl RecipientTrace {
    /// Still waiting for a receipt from another provider (the timers run).
    pub fn open(&self) -> bool {
        self.remote && self.certified && self.state.waiting()
    }

    /// Whether `event` would move this recipient (the 12 h warning goes out once).
    pub fn allows(&self, event: StateEvent) -> bool {
        !(event == StateEvent::Warning12h && self.warned) && self.state.on(event).is_ok()
    }

    /// Moves this recipient on `event` at `when` (unix seconds), with the trace's new
    /// `detail`; an illegal move changes nothing.
    pub fn apply(
        &mut self,
        event: StateEvent,
        when: i64,
        detail: String,
    ) -> Result<(), IllegalMove> {
        if !self.allows(event) {
            return Err(IllegalMove {
                from: self.state,
                event,
            });
        }
        self.state = self.state.on(event)?;
        if event == StateEvent::Warning12h {
            self.warned = true;
        }
        self.updated = when;
        self.detail = detail;
        Ok(())
    }
}

/// Everything known about one certified message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceRecord {
    pub pec_id: String,
    pub msgid: Option<String>,
    pub sender: String,
    pub subject: String,
    /// Unix seconds of acceptance.
    pub accepted: i64,
    /// Every To and Cc address with whether it is certified, as in the envelope's daticert.
    pub destinatari: Vec<(String, bool)>,
    /// daticert `risposte` of the transaction.
    pub risposte: String,
    /// The delivery-receipt type asked for (`completa`, `breve`, `sintetica`).
    pub receipt: String,
    /// The RCPT TO recipients.
    pub recipients: Vec<RecipientTrace>,
}

impl TraceRecord {
    /// Some recipient still waits for another provider's receipt (PEC.md §6.6).
    pub fn open(&self) -> bool {
        self.recipients.iter().any(RecipientTrace::open)
    }
}

/// A message to relay to another provider or to the Internet (PEC.md §6.2, §6.8), put in the
/// queue by the certification step that made it.
#[derive(Clone, Debug)]
pub struct Outbound {
    pub pec_id: String,
    /// MAIL FROM.
    pub sender: String,
    /// RCPT TO, all in `domain`.
    pub recipients: Vec<String>,
    /// The destination domain (route key).
    pub domain: String,
    /// For a PEC provider (STARTTLS required) rather than an esterno address.
    pub certified: bool,
    /// What it is, for operators: "busta di trasporto", "ricevuta di avvenuta consegna"...
    pub label: String,
    /// Unix seconds; the first attempt is due at once.
    pub created: i64,
    pub bytes: Bytes,
}

/// A queued message (`pecctl queue list|show`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub id: u64,
    pub pec_id: String,
    pub sender: String,
    /// Recipients not yet delivered.
    pub recipients: Vec<String>,
    pub domain: String,
    pub certified: bool,
    pub label: String,
    pub size: u64,
    pub blob: [u8; 16],
    pub created: i64,
    /// Unix seconds of the next attempt.
    pub next_attempt: i64,
    pub attempts: u32,
    pub last_error: String,
}

/// One certification step, written atomically and durably by [`crate::Store::certify`].
#[derive(Clone, Debug, Default)]
pub struct Certification {
    /// When set, the step is refused as a duplicate if the key was recorded before, and the
    /// key is recorded with `pec_id` otherwise (a retried submission is not certified twice).
    pub dedup_key: Option<Vec<u8>>,
    /// How long the dedup key is kept, in seconds; `None`: the store's retention for
    /// submissions (7 days by default). Keys that stop the replay of a signed document are
    /// kept as long as the legal log.
    pub dedup_keep_seconds: Option<i64>,
    pub pec_id: String,
    pub deliveries: Vec<Delivery>,
    pub log: Vec<LogRecord>,
    /// The transaction's trace, written (replacing any previous one of the same pec_id);
    /// while it is [`TraceRecord::open`] its id is among [`crate::Store::pending`].
    pub trace: Option<TraceRecord>,
    /// Messages to relay, queued in the same commit.
    pub queue: Vec<Outbound>,
    /// What a relay attempt did to its queue entry, written in the same commit as the
    /// notices it caused, so that a crash cannot leave the entry gone and the sender untold.
    pub queue_settle: Option<QueueSettle>,
    /// Copies for the holders' security archives, durable with the rest of the step (see
    /// [`crate::Store::certify_archiving`] for what became of each).
    pub archive: Vec<ArchiveCopy>,
}

/// The end of one relay attempt for a queue entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueSettle {
    /// No recipient is left: the entry leaves the queue (its body goes after the commit).
    Remove(u64),
    /// Some recipients wait: the entry as rewritten, if it is still queued (an operator may
    /// have deleted it meanwhile).
    Update(QueueEntry),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Certified {
    /// Written: one [`Appended`] per delivery, in order.
    Stored(Vec<Appended>),
    /// The dedup key was already recorded, for this PEC msgid; nothing was written.
    Duplicate(String),
}

/// A search of the legal log (`pecctl log search`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LogQuery {
    /// PEC msgid or client Message-ID (with or without angle brackets).
    pub id: Option<String>,
    /// Sender or recipient, case-insensitive.
    pub address: Option<String>,
    /// Unix seconds, inclusive.
    pub since: Option<i64>,
    /// Unix seconds, exclusive.
    pub until: Option<i64>,
    /// At most this many records, oldest first (0: no limit).
    pub limit: usize,
}

impl LogQuery {
    pub fn matches(&self, r: &LogRecord) -> bool {
        if let Some(id) = &self.id {
            let bare = id.trim_matches(['<', '>']);
            let msgid_bare = r.msgid.as_deref().map(|m| m.trim_matches(['<', '>']));
            if r.pec_id != bare && msgid_bare != Some(bare) {
                return false;
            }
        }
        if let Some(a) = &self.address {
            let a = a.to_ascii_lowercase();
            if r.sender.to_ascii_lowercase() != a
                && !r.recipients.iter().any(|x| x.to_ascii_lowercase() == a)
            {
                return false;
            }
        }
        self.since.is_none_or(|s| r.time >= s) && self.until.is_none_or(|u| r.time < u)
    }
}

/// How long log records are kept: 30 months (PEC.md §10.5), counted as 30 × 31 days so that
/// no record leaves early.
pub const LOG_RETENTION_SECONDS: i64 = 30 * 31 * 86_400;

#[cfg(test)]
mod tests {
    use super::*;
    use RecipientState::*;
    use StateEvent::*;

    const EVENTS: [StateEvent; 5] = [
        PresaInCarico,
        AvvenutaConsegna,
        ErroreConsegna,
        Warning12h,
        Timeout24h,
    ];

    #[test]
    fn every_legal_move_of_pec_6_7() {
        let legal = [
            (Accepted, PresaInCarico, Taken),
            (Accepted, AvvenutaConsegna, Delivered),
            (Accepted, ErroreConsegna, Error),
            (Accepted, Warning12h, Accepted),
            (Accepted, Timeout24h, TimedOut),
            (Taken, AvvenutaConsegna, Delivered),
            (Taken, ErroreConsegna, Error),
            (Taken, Timeout24h, TimedOut),
        ];
        for (from, event, to) in legal {
            assert_eq!(from.on(event), Ok(to), "{from} on {event:?}");
        }
        for from in RecipientState::ALL {
            for event in EVENTS {
                if !legal.iter().any(|(f, e, _)| *f == from && *e == event) {
                    assert_eq!(
                        from.on(event),
                        Err(IllegalMove { from, event }),
                        "{from} on {event:?} must be refused"
                    );
                }
            }
        }
    }

    #[test]
    fn final_states_take_no_event() {
        for from in [Delivered, Error, TimedOut, External] {
            assert!(!from.waiting());
            assert!(EVENTS.iter().all(|e| from.on(*e).is_err()));
        }
    }

    fn waiting() -> RecipientTrace {
        RecipientTrace {
            address: "zeno@pec.other".into(),
            certified: true,
            remote: true,
            state: Accepted,
            warned: false,
            updated: 1,
            detail: "in attesa della presa in carico".into(),
        }
    }

    #[test]
    fn the_warning_goes_out_once_and_stays_recorded() {
        let mut r = waiting();
        r.apply(Warning12h, 10, "12 h".into()).unwrap();
        assert_eq!((r.state, r.warned, r.updated), (Accepted, true, 10));
        assert!(r.apply(Warning12h, 11, "again".into()).is_err());
        assert_eq!((r.updated, r.detail.as_str()), (10, "12 h"));
        r.apply(PresaInCarico, 12, "presa".into()).unwrap();
        assert_eq!((r.state, r.warned), (Taken, true));
        r.apply(Timeout24h, 13, "24 h".into()).unwrap();
        assert_eq!(r.state, TimedOut);
        // A late receipt changes nothing (§6.7).
        let before = r.clone();
        assert!(r.apply(AvvenutaConsegna, 14, "late".into()).is_err());
        assert_eq!(r, before);
    }

    /// The layout of `RecipientTrace` when its state was a `String`.
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct RecipientTraceBefore {
        address: String,
        certified: bool,
        remote: bool,
        state: String,
        warned: bool,
        updated: i64,
        detail: String,
    }

    #[test]
    fn a_trace_stored_with_string_states_still_decodes_byte_for_byte() {
        for state in RecipientState::ALL {
            let before = RecipientTraceBefore {
                address: "zeno@pec.other".into(),
                certified: true,
                remote: true,
                state: state.as_str().into(),
                warned: true,
                updated: 7,
                detail: "d".into(),
            };
            let bytes = postcard::to_allocvec(&before).unwrap();
            let now: RecipientTrace = postcard::from_bytes(&bytes).unwrap();
            assert_eq!(now.state, state);
            assert_eq!(postcard::to_allocvec(&now).unwrap(), bytes);
        }
        let unknown = RecipientTraceBefore {
            address: "a".into(),
            certified: true,
            remote: true,
            state: "bogus".into(),
            warned: false,
            updated: 0,
            detail: String::new(),
        };
        let bytes = postcard::to_allocvec(&unknown).unwrap();
        assert!(postcard::from_bytes::<RecipientTrace>(&bytes).is_err());
    }

    #[test]
    fn log_events_keep_their_spellings() {
        let spellings = [
            "accettazione",
            "non-accettazione",
            "non-accettazione-virus",
            "presa-in-carico",
            "rilevazione-virus",
            "consegna",
            "mancata-consegna",
            "mancata-consegna-virus",
            "preavviso-mancata-consegna",
            "mancata-consegna-tempo",
            "anomalia",
            "inoltro",
            "inoltro-rifiutato",
            "inoltro-scaduto",
            "inoltro-annullato",
            "ricevuta-accettazione",
            "ricevuta-non-accettazione",
            "ricevuta-presa-in-carico",
            "ricevuta-avvenuta-consegna",
            "ricevuta-errore-consegna",
            "ricevuta-preavviso-errore-consegna",
            "ricevuta-rilevazione-virus",
        ];
        for s in spellings {
            let e = LogEvent::parse(s).unwrap_or_else(|| panic!("{s}"));
            assert_eq!(e.as_str(), s);
            assert_eq!(format!("{e:<30}|"), format!("{s:<30}|"));
            // Stored as the String it used to be.
            let old = postcard::to_allocvec(&s.to_string()).unwrap();
            assert_eq!(postcard::to_allocvec(&e).unwrap(), old);
            assert_eq!(postcard::from_bytes::<LogEvent>(&old).unwrap(), e);
        }
        assert_eq!(LogEvent::parse("ricevuta-posta-certificata"), None);
        assert_eq!(LogEvent::parse("something-else"), None);
    }
}
