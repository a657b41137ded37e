//! CAPABILITY lists (golden-tested: CLIENTS.md §5 bug 13). IMAP4rev2 and UIDONLY are never
//! advertised (CLIENTS.md §1, §5 bug 4); BINARY and COMPRESS=DEFLATE are not offered.

use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::response::Capability;

/// Before login: enough to log in (AUTH=PLAIN; the LOGIN command is accepted too).
pub const BEFORE_LOGIN: &[&str] = &[
    "IMAP4rev1",
    "SASL-IR",
    "LITERAL+",
    "ID",
    "ENABLE",
    "AUTH=PLAIN",
];

/// After login: everything pecd implements.
pub const AFTER_LOGIN: &[&str] = &[
    "IMAP4rev1",
    "SASL-IR",
    "LITERAL+",
    "ID",
    "ENABLE",
    "IDLE",
    "UIDPLUS",
    "MOVE",
    "SPECIAL-USE",
    "NAMESPACE",
    "UNSELECT",
    "CHILDREN",
    "LIST-EXTENDED",
    "LIST-STATUS",
    "CONDSTORE",
    "QRESYNC",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "UTF8=ACCEPT",
    "ESEARCH",
    "STATUS=SIZE",
];

fn list(names: &[&'static str]) -> Vec1<Capability<'static>> {
    let caps: Vec<Capability<'static>> = names
        .iter()
        .map(|n| Capability::try_from(*n).expect("valid capability atom"))
        .collect();
    Vec1::try_from(caps).expect("non-empty capability list")
}

pub fn before_login() -> Vec1<Capability<'static>> {
    list(BEFORE_LOGIN)
}

pub fn after_login() -> Vec1<Capability<'static>> {
    list(AFTER_LOGIN)
}
