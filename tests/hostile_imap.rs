//! Hostile IMAP clients against the real pecd: each test replays one attack of the hardening
//! issue, checks the attacker gets a prompt answer (or is cut off), that an honest holder's
//! IMAP and SMTP sessions were never kept waiting, and that every port still answers.

mod support;

use std::time::{Duration, Instant};

use rustls_pki_types::ServerName;
use support::imap::Imap;
use support::probe::{self, Watch};
use support::{server, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

const ATTACKER: &str = "mario@pec.localhost";
const HOLDER: &str = "luigi@pec.localhost";
const USERS: &[&str] = &[ATTACKER, HOLDER];

/// How long the honest holder may wait for one NOOP round during an attack.
const HOLDER_BOUND: Duration = Duration::from_secs(1);

/// An answer "at once" to an attacker's command, with room for a loaded test machine (the
/// attacks took hours before the fixes).
const AT_ONCE: Duration = Duration::from_secs(3);

fn tagged(r: &[String]) -> &str {
    r.last().map(String::as_str).unwrap_or("")
}

fn status(r: &[String]) -> &str {
    tagged(r).split(' ').nth(1).unwrap_or("")
}

/// Sends `line` with a fresh tag and returns the reply and how long it took.
async fn timed(c: &mut Imap, line: &str) -> (Vec<String>, Duration) {
    let started = Instant::now();
    let r = c.cmd(line).await;
    (r, started.elapsed())
}

/// Appends `n` messages of about `size` bytes to the attacker's INBOX.
async fn fill(c: &mut Imap, n: usize, size: usize) {
    for i in 0..n {
        let r = c
            .append("INBOX", "", &support::message(&format!("m{i}"), size))
            .await;
        assert_eq!(status(&r), "OK", "{r:?}");
    }
}

/// Reads what the server still sends until it closes the connection (or `within` passes);
/// returns the bytes and whether the connection ended.
async fn read_to_end(c: &mut Imap, within: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, c.stream.read(&mut chunk)).await {
            Err(_) => return (got, false),
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&chunk[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn list_pattern_with_thousands_of_stars_answers_at_once() {
    let s = server().users(USERS).start();
    let mut a = Imap::login(&s, ATTACKER).await;
    for folder in [
        "Progetti",
        "Progetti/2026",
        "Progetti/2026/Gare",
        "Clienti/Rossi",
    ] {
        a.ok(&format!("CREATE \"{folder}\"")).await;
    }
    // Long names are the matcher's worst case (up to pattern × name per folder).
    for i in 0..30 {
        a.ok(&format!("CREATE \"{}{i:02}\"", "y".repeat(250))).await;
    }
    let watch = Watch::start(&s, HOLDER).await;

    // 45 stars took 1.8 s; 300 would take hours. Up to 1,024 bytes the pattern is matched.
    for k in [45, 300, 1000] {
        for wildcard in ["*", "%", "*%"] {
            let pattern = format!("{}x", wildcard.repeat(k / wildcard.len()));
            let (r, took) = timed(&mut a, &format!("LIST \"\" \"{pattern}\"")).await;
            assert_eq!(status(&r), "OK", "{k} {wildcard}: {r:?}");
            assert_eq!(r.len(), 1, "nothing ends with x: {r:?}");
            assert!(took < AT_ONCE, "{k} {wildcard}: {took:?}");
        }
    }
    let (r, _) = timed(&mut a, &format!("LIST \"\" \"{}6\"", "*".repeat(1000))).await;
    assert!(r.iter().any(|l| l.contains("Progetti/2026")), "{r:?}");
    let (r, _) = timed(&mut a, &format!("LSUB \"\" \"{}x\"", "%".repeat(1000))).await;
    assert_eq!(status(&r), "OK", "{r:?}");

    // Longer patterns are refused outright.
    let (r, took) = timed(&mut a, &format!("LIST \"\" \"{}x\"", "*".repeat(10_000))).await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    assert!(tagged(&r).contains("1024"), "{r:?}");
    assert!(took < AT_ONCE, "{took:?}");

    // Patterns of one command count together: four of 250 bytes pass, sixty of 1,000 do not.
    let four: Vec<String> = (0..4)
        .map(|_| format!("\"{}%x\"", "%y".repeat(124)))
        .collect();
    let (r, took) = timed(&mut a, &format!("LIST \"\" ({})", four.join(" "))).await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert!(took < AT_ONCE, "{took:?}");

    // Two at once, from two connections, one an extended LIST with many patterns.
    let mut b = Imap::login(&s, ATTACKER).await;
    let many: Vec<String> = (0..60)
        .map(|_| format!("\"{}x\"", "*%".repeat(500)))
        .collect();
    let (first, second) = (
        format!("LIST \"\" \"{}x\"", "*".repeat(10_000)),
        format!("LIST \"\" ({}) RETURN (CHILDREN)", many.join(" ")),
    );
    let started = Instant::now();
    let (ra, rb) = tokio::join!(a.cmd(&first), b.cmd(&second));
    let took = started.elapsed();
    assert_eq!(status(&ra), "BAD", "{ra:?}");
    assert_eq!(status(&rb), "BAD", "{rb:?}");
    assert!(took < AT_ONCE, "{took:?}");

    watch
        .assert_within(HOLDER_BOUND, "LIST with thousands of stars")
        .await;
    probe::all_ports_answer(&s).await;
}

/// A logged-in client with INBOX selected whose socket has a small receive buffer (no
/// autotuning), so that a few MiB of responses fill the buffers on both sides.
async fn small_window_client(s: &Server, user: &str) -> TlsStream<TcpStream> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(64 * 1024).unwrap();
    let tcp = socket.connect(s.listener("imaps")).await.unwrap();
    let tls = TlsConnector::from(support::smtp::tls_config(&s.ca()));
    let mut stream = tls
        .connect(ServerName::try_from("mail.pec.localhost").unwrap(), tcp)
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    for (tag, line) in [
        ("", String::new()),
        ("l1", format!("l1 LOGIN {user} {}\r\n", support::PASSWORD)),
        ("l2", "l2 SELECT INBOX\r\n".to_string()),
    ] {
        stream.write_all(line.as_bytes()).await.unwrap();
        let want = if tag.is_empty() {
            "* OK".to_string()
        } else {
            format!("{tag} OK")
        };
        while !String::from_utf8_lossy(&got).contains(&want) {
            let n = stream.read(&mut chunk).await.unwrap();
            assert!(n > 0, "{}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&chunk[..n]);
        }
    }
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fetch_of_large_mailbox_to_a_client_that_stops_reading() {
    let s = server()
        .extra("\n[imap]\nwrite_timeout_seconds = 2\n")
        .users(USERS)
        .start();
    let mut a = Imap::login(&s, ATTACKER).await;
    // 16 MiB of answer: far more than the socket buffers hold.
    let (count, size) = (32, 512 * 1024);
    fill(&mut a, count, size).await;
    let mut stalled = small_window_client(&s, ATTACKER).await;
    let watch = Watch::start(&s, HOLDER).await;

    stalled
        .write_all(b"f1 FETCH 1:* BODY.PEEK[]\r\n")
        .await
        .unwrap();
    // Never read: the server fills the buffers, waits write_timeout_seconds, then drops us.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stalled.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
        }
    })
    .await
    .is_ok();
    assert!(closed, "the stalled client was not disconnected");
    assert!(
        got.len() < count * size / 2,
        "{} bytes were sent to a client that read nothing",
        got.len()
    );
    assert!(
        !String::from_utf8_lossy(&got).contains("f1 OK"),
        "the FETCH completed for a client that read nothing"
    );

    watch
        .assert_within(HOLDER_BOUND, "FETCH to a client that stops reading")
        .await;

    // A client that reads gets everything, batch after batch.
    let mut c = Imap::login(&s, ATTACKER).await;
    c.ok("SELECT INBOX").await;
    let r = c.ok("FETCH 1:* (UID RFC822.SIZE BODY.PEEK[])").await;
    assert_eq!(r.len(), count + 1);
    for (i, line) in r[..count].iter().enumerate() {
        assert!(line.starts_with(&format!("* {} FETCH", i + 1)), "{i}");
        assert!(line.contains(&format!("Subject: m{i}\r\n")), "{i}");
    }
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sequence_set_repeated_many_times_is_bounded() {
    let s = server().users(USERS).start();
    let mut a = Imap::login(&s, ATTACKER).await;
    let count = 300;
    fill(&mut a, count, 500).await;
    a.ok("SELECT INBOX").await;
    let watch = Watch::start(&s, HOLDER).await;

    // Repeats are answered once each: 300 messages, whatever the repetitions.
    let repeated = vec!["1:*"; 4000].join(",");
    let (r, took) = timed(&mut a, &format!("FETCH {repeated} (UID)")).await;
    assert_eq!(status(&r), "OK", "{:?}", tagged(&r));
    assert_eq!(r.len(), count + 1);
    assert!(took < AT_ONCE, "{took:?}");
    let (r, _) = timed(&mut a, &format!("UID FETCH {repeated} (FLAGS)")).await;
    assert_eq!(r.len(), count + 1, "{:?}", tagged(&r));
    let (r, _) = timed(
        &mut a,
        &format!("STORE {repeated} +FLAGS.SILENT (\\Flagged)"),
    )
    .await;
    assert_eq!(status(&r), "OK", "{r:?}");
    let (r, _) = timed(&mut a, &format!("SEARCH {repeated} FLAGGED")).await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert_eq!(r[0].split(' ').count(), 2 + count, "{:?}", r[0].get(..80));

    // Beyond 4,096 ranges: a clear BAD, at once.
    let huge = vec!["1:*"; 12_000].join(",");
    for command in [
        format!("FETCH {huge} (UID BODY.PEEK[])"),
        format!("UID FETCH {huge} (FLAGS)"),
        format!("STORE {huge} +FLAGS (\\Seen)"),
        format!("COPY {huge} Trash"),
        format!("SEARCH {huge}"),
        format!("SEARCH UID {huge}"),
    ] {
        let (r, took) = timed(&mut a, &command).await;
        assert_eq!(status(&r), "BAD", "{}: {r:?}", &command[..20]);
        assert!(tagged(&r).contains("ranges"), "{r:?}");
        assert!(took < AT_ONCE, "{took:?}");
    }

    // Several batches, answered in order.
    let r = a
        .ok("FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert_eq!(r.len(), count + 1);
    for (i, line) in r[..count].iter().enumerate() {
        assert!(line.starts_with(&format!("* {} FETCH", i + 1)), "{line}");
        assert!(line.contains(&format!("Subject: m{i}\r\n")), "{line}");
    }

    watch
        .assert_within(HOLDER_BOUND, "repeated sequence sets")
        .await;
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn literal_length_overflow_is_refused() {
    let s = server().users(USERS).start();
    let watch = Watch::start(&s, HOLDER).await;
    let (mut c, _) = Imap::connect(&s).await;
    // Too many digits to be a literal: an ordinary line, and a BAD.
    for (tag, line) in [
        ("a1", "LOGIN {99999999999999999999999}"),
        ("a2", "LOGIN {18446744073709551615}"),
        ("a3", "LOGIN {18446744073709551616+}"),
        ("a4", "LIST (SUBSCRIBED) \"\" ~{18446744073709551615}"),
    ] {
        c.send(format!("{tag} {line}\r\n").as_bytes()).await;
        let r = c.until(tag).await;
        assert_eq!(status(&r), "BAD", "{line}: {r:?}");
    }
    // 19 digits is a literal, far over the limit before login: BAD, and no `+`.
    c.send(b"a5 LOGIN {9999999999999999999}\r\n").await;
    let r = c.until("a5").await;
    assert_eq!(r.len(), 1, "{r:?}");
    assert_eq!(status(&r), "BAD", "{r:?}");
    c.ok("NOOP").await;

    // The same after login, where the tokenizer of LIST-EXTENDED and SEARCH RETURN runs.
    let mut a = Imap::login(&s, ATTACKER).await;
    a.ok("SELECT INBOX").await;
    for (tag, line) in [
        ("b1", "LIST (SUBSCRIBED) \"\" {99999999999999999999999}"),
        ("b2", "LIST \"\" ({18446744073709551615}"),
        ("b3", "SEARCH RETURN (MIN) TEXT {18446744073709551615}"),
        ("b4", "SELECT {99999999999999999999999}"),
        ("b5", "LIST (SUBSCRIBED) \"\" ({18446744073709551615+}"),
    ] {
        a.send(format!("{tag} {line}\r\n").as_bytes()).await;
        let r = a.until(tag).await;
        assert_eq!(status(&r), "BAD", "{line}: {r:?}");
    }
    a.send(b"b6 APPEND INBOX {9999999999999999999}\r\n").await;
    let r = a.until("b6").await;
    assert!(tagged(&r).starts_with("b6 NO [TOOBIG]"), "{r:?}");
    a.ok("NOOP").await;
    a.ok("LIST \"\" *").await;

    watch
        .assert_within(HOLDER_BOUND, "literal length overflow")
        .await;
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prelogin_literal_over_limit_is_refused() {
    let s = server().users(USERS).start();
    let watch = Watch::start(&s, HOLDER).await;

    // Synchronizing: refused before the client sends anything; the connection stays.
    let (mut c, _) = Imap::connect(&s).await;
    let started = Instant::now();
    c.send(b"a1 LOGIN {1048576}\r\n").await;
    let r = c.until("a1").await;
    assert_eq!(r.len(), 1, "no continuation: {r:?}");
    assert!(tagged(&r).starts_with("a1 BAD"), "{r:?}");
    assert!(tagged(&r).contains("8192"), "{r:?}");
    c.ok("NOOP").await;

    // Non-synchronizing: the MiB is on its way; BAD, BYE and the connection is closed
    // without reading it.
    let mut big = b"a2 LOGIN {1048576+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'x', 1 << 20));
    big.extend_from_slice(b" x\r\n");
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = c.stream.write_all(&big).await;
        let _ = c.stream.flush().await;
    })
    .await;
    let (got, closed) = read_to_end(&mut c, Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed, "{text}");
    assert!(text.contains("a2 BAD"), "{text}");
    assert!(text.contains("* BYE"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));

    // Small literals still log in, and after login the message limit applies.
    let (mut c, _) = Imap::connect(&s).await;
    let login = ATTACKER.len();
    c.send(format!("a3 LOGIN {{{login}}}\r\n").as_bytes()).await;
    assert!(c.line().await.starts_with('+'));
    c.send(
        format!(
            "{ATTACKER} {{{}+}}\r\n{}\r\n",
            support::PASSWORD.len(),
            support::PASSWORD
        )
        .as_bytes(),
    )
    .await;
    let r = c.until("a3").await;
    assert_eq!(status(&r), "OK", "{r:?}");
    let message = support::message("big", 1 << 20);
    let r = c.append("INBOX", "", &message).await;
    assert_eq!(status(&r), "OK", "{r:?}");

    watch.assert_within(HOLDER_BOUND, "pre-login literal").await;
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prelogin_silence_is_cut_short() {
    let s = server()
        .extra("\n[imap]\nprelogin_timeout_seconds = 2\n")
        .users(USERS)
        .start();
    let (mut c, _) = Imap::connect(&s).await;
    let started = Instant::now();
    let (got, closed) = read_to_end(&mut c, Duration::from_secs(10)).await;
    let text = String::from_utf8_lossy(&got);
    assert!(closed && text.contains("* BYE"), "{text}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // After login the 30 minutes of RFC 3501 apply: 3 s of silence is nothing.
    let mut a = Imap::login(&s, ATTACKER).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    a.ok("NOOP").await;
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn search_with_huge_patterns_answers_at_once() {
    let s = server().users(USERS).start();
    let mut a = Imap::login(&s, ATTACKER).await;
    let count = 300;
    fill(&mut a, count, 4000).await;
    a.ok("SELECT INBOX").await;
    let watch = Watch::start(&s, HOLDER).await;

    // A 60 KB needle, as a literal and quoted, against every body.
    let needle = "ab".repeat(30_000);
    let tag = a.tag();
    a.send(format!("{tag} SEARCH TEXT {{{}+}}\r\n{needle}\r\n", needle.len()).as_bytes())
        .await;
    let started = Instant::now();
    let r = a.until(&tag).await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert_eq!(r[0], "* SEARCH\r\n");
    assert!(started.elapsed() < AT_ONCE, "{:?}", started.elapsed());
    let lorem = "Lorem ipsum ".repeat(4000);
    let (r, took) = timed(&mut a, &format!("SEARCH BODY \"{lorem}\"")).await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert!(took < AT_ONCE, "{took:?}");

    // Thousands of keys: a clear BAD, at once; within the bound, an answer.
    let keys = vec!["SUBJECT m1"; 5000].join(" ");
    let (r, took) = timed(&mut a, &format!("SEARCH {keys}")).await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    assert!(took < AT_ONCE, "{took:?}");
    let keys = vec!["SUBJECT m1"; 900].join(" ");
    let (r, took) = timed(&mut a, &format!("SEARCH {keys}")).await;
    assert_eq!(status(&r), "OK", "{r:?}");
    assert!(r[0].starts_with("* SEARCH 2 11 12"), "{}", &r[0]);
    assert!(took < Duration::from_secs(10), "{took:?}");
    // Nesting deeper than imap-codec's limit is a syntax error, not a stack overflow.
    let nested = format!("{}ALL", "NOT ".repeat(10_000));
    let (r, _) = timed(&mut a, &format!("SEARCH {nested}")).await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    let nested = format!("{}ALL{}", "(".repeat(10_000), ")".repeat(10_000));
    let (r, _) = timed(&mut a, &format!("SEARCH {nested}")).await;
    assert_eq!(status(&r), "BAD", "{r:?}");
    a.ok("NOOP").await;

    watch
        .assert_within(HOLDER_BOUND, "huge SEARCH patterns")
        .await;
    probe::all_ports_answer(&s).await;
}
