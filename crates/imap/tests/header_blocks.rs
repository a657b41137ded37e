//! FETCH items and SEARCH keys that need only the top-level header block read only the first
//! bytes of each message (`batch::HEAD_BYTES`, 16 KiB) and the whole body only when the
//! header block goes on past them. The answers must be the same, byte for byte, as from the
//! whole message: checked on headers that end well before, exactly at, across and well after
//! the 16 KiB mark, LF-only mail and mail without a body; and the same again from the header
//! blocks the header cache keeps.

use std::sync::Arc;

use pecd_common::config::Config;
use pecd_imap::Context;
use pecd_imap_message::header_block_len;
use pecd_store::{Flags, NewMessage, Store};

mod common;
use common::{serve, Client, MARIO, PASSWORD};

const HEAD_BYTES: usize = 16 << 10;

/// A message whose header block (blank line included) is `header_len` bytes long, padded with
/// Received fields, ending with `X-Last: <n>`; then `body`.
fn message(n: usize, header_len: usize, eol: &str, body: &str) -> Vec<u8> {
    let mut header = format!("From: Mittente <m{n}@pec.example.it>{eol}To: mario@pec.localhost{eol}Subject: messaggio {n}{eol}Message-ID: <{n}@test>{eol}");
    let last = format!("X-Last: fine {n}{eol}{eol}");
    let mut k = 0;
    loop {
        let pad = format!("Received: from relay{k}.example.it by mx.example.it{eol}");
        if header.len() + pad.len() + last.len() + 40 > header_len {
            break;
        }
        header.push_str(&pad);
        k += 1;
    }
    // One field fills the rest exactly.
    let room = header_len - header.len() - last.len() - "X-Pad: ".len() - eol.len();
    header.push_str(&format!("X-Pad: {}{eol}", "x".repeat(room)));
    header.push_str(&last);
    assert_eq!(header.len(), header_len, "header of message {n}");
    format!("{header}{body}").into_bytes()
}

fn fixtures() -> Vec<Vec<u8>> {
    let big_body = "riga di testo\r\n".repeat(8_000);
    let mut out = vec![
        message(1, 600, "\r\n", &big_body),
        message(2, 40_000, "\r\n", "corpo\r\n"),
        message(3, HEAD_BYTES, "\r\n", &big_body),
        message(4, HEAD_BYTES + 1, "\r\n", "corpo\r\n"),
        message(5, HEAD_BYTES - 1, "\r\n", "corpo\r\n"),
        message(6, 900, "\n", "lf only\n"),
    ];
    // Without a body: a short one, and one whose fields run past the first bytes.
    let mut short = message(7, 500, "\r\n", "");
    short.truncate(short.len() - 2);
    let mut long = message(8, 20_000, "\r\n", "");
    long.truncate(long.len() - 2);
    out.extend([short, long]);
    out
}

async fn session_output(cache_bytes: u64, commands: &[String]) -> Vec<Vec<String>> {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    let mbx = store
        .create_mailbox(MARIO, &pecd_common::password::hash(PASSWORD), 1 << 30)
        .await
        .unwrap();
    for bytes in fixtures() {
        let new = NewMessage {
            bytes,
            flags: Flags::default(),
            keywords: vec![],
            internal_date: Some(1_780_000_000),
        };
        store.append(mbx.id, "INBOX", new).await.unwrap();
    }
    let mut config = Config::default();
    config.imap.header_cache_bytes = cache_bytes;
    let ctx = Context::new(Arc::new(config), store.clone());
    serve(&ctx, |io| async {
        let mut c = Client::new(io);
        assert!(c.line().await.starts_with("* OK"));
        c.ok(&format!("LOGIN {MARIO} {PASSWORD}")).await;
        c.ok("SELECT INBOX").await;
        let mut out = Vec::new();
        for command in commands {
            let mut lines = c.ok(command).await;
            lines.pop();
            out.push(lines);
        }
        c.ok("LOGOUT").await;
        out
    })
    .await
}

const HEAD_ITEMS: &str =
    "ENVELOPE RFC822.HEADER BODY.PEEK[HEADER.FIELDS (Subject X-Last)] BODY.PEEK[HEADER.FIELDS.NOT (Received)]<5.200>";

#[tokio::test]
async fn header_items_from_the_first_bytes_equal_those_of_the_whole_message() {
    let n = fixtures().len();
    let mut commands = Vec::new();
    for i in 1..=n {
        // Only header items: the first bytes are read.
        commands.push(format!("FETCH {i} ({HEAD_ITEMS})"));
        // The same and one byte of the text: the whole message is read.
        commands.push(format!("FETCH {i} ({HEAD_ITEMS} BODY.PEEK[TEXT]<0.1>)"));
        // Without PEEK: \Seen is set, and FLAGS comes along.
        commands.push(format!("FETCH {i} (BODY[HEADER])"));
    }
    commands.push(format!("FETCH 1:{n} ({HEAD_ITEMS})"));
    // With the header cache on, the later FETCHes of a message answer from its cached block.
    let out = session_output(0, &commands).await;
    let cached = session_output(64 << 20, &commands).await;
    assert_eq!(cached, out, "the same from the header cache");
    let fixtures = fixtures();
    // Which messages take the short way: a header block found in the first 16 KiB, or a
    // message shorter than them; the others are read whole.
    let first_bytes: Vec<bool> = fixtures
        .iter()
        .map(|raw| {
            let prefix = &raw[..raw.len().min(HEAD_BYTES)];
            header_block_len(prefix).is_some() || prefix.len() < HEAD_BYTES
        })
        .collect();
    assert_eq!(
        first_bytes,
        [true, false, true, false, true, true, true, false]
    );
    let mut all = Vec::new();
    for (k, raw) in fixtures.iter().enumerate() {
        let heads = out[3 * k].concat();
        let whole = out[3 * k + 1].concat();
        let cut = whole.rfind(" BODY[TEXT]<0> ").expect("text item");
        assert_eq!(
            heads,
            format!("{})\r\n", &whole[..cut]),
            "message {}",
            k + 1
        );
        // RFC822.HEADER is the header block as stored, whatever its length.
        let text = String::from_utf8_lossy(raw);
        let end = text
            .find("\r\n\r\n")
            .map(|p| p + 4)
            .or_else(|| text.find("\n\n").map(|p| p + 2))
            .unwrap_or(text.len());
        let header = out[3 * k + 2].concat();
        assert!(
            header.contains(&format!("{{{end}}}\r\n{}", &text[..end])),
            "BODY[HEADER] of message {}",
            k + 1
        );
        assert!(
            heads.contains(&format!("fine {}", k + 1)),
            "X-Last of {}",
            k + 1
        );
        all.push(heads);
    }
    assert_eq!(
        out[3 * n].concat(),
        all.concat(),
        "one FETCH of every message"
    );
}

#[tokio::test]
async fn header_searches_read_past_the_first_bytes_when_the_header_goes_on() {
    let commands: Vec<String> = [
        "SEARCH HEADER X-Last fine",
        "SEARCH HEADER X-Last \"fine 2\"",
        "SEARCH HEADER X-Last \"fine 8\"",
        "SEARCH SUBJECT messaggio NOT HEADER X-Last \"fine 4\"",
        "SEARCH BODY riga",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let expected = [
        "* SEARCH 1 2 3 4 5 6 7 8\r\n",
        "* SEARCH 2\r\n",
        "* SEARCH 8\r\n",
        "* SEARCH 1 2 3 5 6 7 8\r\n",
        "* SEARCH 1 3\r\n",
    ];
    for cache in [0, 64 << 20] {
        let out = session_output(cache, &commands).await;
        for (lines, want) in out.iter().zip(expected) {
            assert_eq!(lines.concat(), want, "cache {cache}");
        }
    }
}
