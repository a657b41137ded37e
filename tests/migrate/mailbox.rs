//! The old mailbox of the tests: folders with special uses under other names, nested
//! folders with UTF-8 names, messages with flags, keywords and internal dates; what pecd
//! must hold once it is imported; and reading that back from pecd's store.

use std::collections::BTreeMap;

use super::dovecot::{Dovecot, OldMessage};

/// Old folder, its messages in the generated mailbox, and our folder it must land in.
pub const FOLDERS: [(&str, usize, &str); 7] = [
    ("INBOX", 797, "INBOX"),
    ("Posta inviata", 400, "Sent"),
    ("Cestino", 100, "Trash"),
    ("Clienti", 200, "Clienti"),
    ("Clienti/Perché", 200, "Clienti/Perché"),
    ("Clienti/Rossi & Figli", 200, "Clienti/Rossi & Figli"),
    ("Archivio", 100, "Archivio"),
];

/// What a message must be in pecd: bytes, system flags, keywords, internal date.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub bytes: Vec<u8>,
    pub flags: pecd_store::Flags,
    pub keywords: Vec<String>,
    pub date: i64,
}

/// Message `i` of `folder`, `body` bytes of text; flags and keywords vary with `i`.
pub fn message(folder: &str, i: usize, body: usize) -> OldMessage {
    let mut flags = String::new();
    if i.is_multiple_of(7) {
        flags.push('F');
    }
    if i.is_multiple_of(5) {
        flags.push('R');
    }
    if !i.is_multiple_of(3) {
        flags.push('S');
    }
    let mut keywords = Vec::new();
    if i.is_multiple_of(11) {
        keywords.push("$Forwarded".to_string());
    }
    if i.is_multiple_of(13) {
        keywords.push("Urgente".to_string());
    }
    let tag: String = folder
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let line = "Testo della comunicazione con lettere accentate: è à ù.\r\n";
    let text = line.repeat(body / line.len() + 1);
    let bytes = format!(
        "From: Mittente {i} <mittente{i}@example.it>\r\nTo: scuola@pec.example.it\r\n\
Subject: Messaggio {i} in {folder}\r\nMessage-ID: <m{i}.{tag}@old.example.it>\r\n\
Date: Mon, 2 Nov 2026 10:00:00 +0100\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{text}"
    )
    .into_bytes();
    OldMessage {
        bytes,
        flags,
        keywords,
        date: 1_790_000_000 + (i as i64) * 61,
    }
}

pub fn expected(m: &OldMessage) -> Expected {
    let mut flags = pecd_store::Flags::default();
    for (letter, flag) in [
        ('S', pecd_store::Flags::SEEN),
        ('F', pecd_store::Flags::FLAGGED),
        ('R', pecd_store::Flags::ANSWERED),
        ('D', pecd_store::Flags::DRAFT),
        ('T', pecd_store::Flags::DELETED),
    ] {
        if m.flags.contains(letter) {
            flags = flags.union(flag);
        }
    }
    let mut keywords = m.keywords.clone();
    keywords.sort();
    Expected {
        bytes: m.bytes.clone(),
        flags,
        keywords,
        date: m.date,
    }
}

/// Our folder -> its expected messages, by Message-ID.
pub type Expectation = BTreeMap<String, BTreeMap<String, Expected>>;

/// Fills `login`'s old mailbox with the generated folders (`body` bytes per message) plus
/// `extra` messages in INBOX; returns what pecd must hold after the import.
pub fn fill(dovecot: &Dovecot, login: &str, body: usize, extra: &[OldMessage]) -> Expectation {
    let mut expectation = Expectation::new();
    for (folder, count, target) in FOLDERS {
        let mut messages: Vec<OldMessage> = (0..count).map(|i| message(folder, i, body)).collect();
        if folder == "INBOX" {
            messages.extend_from_slice(extra);
        }
        dovecot.fill(login, folder, &messages);
        let entry = expectation.entry(target.to_string()).or_default();
        for m in &messages {
            entry.insert(message_id(&m.bytes), expected(m));
        }
    }
    expectation
}

pub fn message_id(bytes: &[u8]) -> String {
    let parsed = mail_parser::MessageParser::default()
        .parse_headers(bytes)
        .expect("headers");
    parsed.message_id().expect("a Message-ID").to_string()
}

/// Every message of every folder of `address` in the store at `path` (pecd stopped): folder
/// -> (Message-ID -> message), and the number of messages (duplicates would show there).
pub async fn stored(path: &std::path::Path, address: &str) -> (Expectation, usize) {
    let store = pecd_store::Store::open(path).unwrap();
    let m = store.find_mailbox(address).await.unwrap().unwrap();
    let mut out = Expectation::new();
    let mut count = 0;
    for folder in store.folders(m.id).await.unwrap() {
        for meta in store.messages(folder.id).await.unwrap() {
            count += 1;
            let bytes = store.read_body(meta.clone()).await.unwrap();
            let mut keywords = meta.keywords.clone();
            keywords.sort();
            let e = Expected {
                bytes: bytes.clone(),
                flags: meta.flags,
                keywords,
                date: meta.internal_date,
            };
            out.entry(folder.name.clone())
                .or_default()
                .insert(message_id(&bytes), e);
        }
    }
    (out, count)
}

/// Asserts that `stored` holds exactly `wanted` (every folder, every message, byte for byte
/// with flags, keywords and dates) and that there is no duplicate (`count`).
pub fn assert_same(wanted: &Expectation, stored: &Expectation, count: usize) {
    let total: usize = wanted.values().map(BTreeMap::len).sum();
    let folders: Vec<(&String, usize)> = stored.iter().map(|(f, m)| (f, m.len())).collect();
    assert_eq!(count, total, "messages in pecd (duplicates?): {folders:?}");
    for (folder, messages) in wanted {
        let here = stored
            .get(folder)
            .unwrap_or_else(|| panic!("folder {folder:?} missing: {folders:?}"));
        assert_eq!(here.len(), messages.len(), "messages in {folder:?}");
        for (id, m) in messages {
            let got = here
                .get(id)
                .unwrap_or_else(|| panic!("{id} missing in {folder:?}"));
            assert!(got.bytes == m.bytes, "{id} in {folder:?} not byte for byte");
            assert_eq!(
                (got.flags, &got.keywords, got.date),
                (m.flags, &m.keywords, m.date),
                "{id} in {folder:?}"
            );
        }
    }
}
