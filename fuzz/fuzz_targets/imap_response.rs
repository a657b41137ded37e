//! The migration's IMAP client reading an old provider's responses (crates/migrate
//! `imap::frame` and `imap::reply`): the input is cut into responses by the framer, with
//! small limits so that every refusal path is reached, and each response is read through
//! imap-codec into what the import keeps; folder names go through the modified UTF-7
//! decoder. Nothing may panic, whatever the server sends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pecd_migrate::imap::frame::{Framer, Limits};
use pecd_migrate::imap::reply::{self, Reply};
use pecd_migrate::imap::utf7;

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        line: 4096,
        literal: 1 << 16,
        literals: 8,
    };
    let mut rest = data;
    let mut framer = Framer::default();
    while !rest.is_empty() {
        match framer.advance(rest, &limits) {
            Ok(Some(n)) => {
                if let Ok(Reply::List(entry)) = reply::parse(&rest[..n]) {
                    let _ = utf7::decode(&entry.name);
                }
                rest = &rest[n..];
            }
            Ok(None) | Err(_) => break,
        }
    }
    let _ = utf7::decode(data);
});
