//! Hostile clients against the real pecd, each test named after the hole it pins: connection
//! floods before login, idle connections before login, password guessing in parallel over
//! IMAP, POP3 and SMTP, huge user names, and a POP3 client that stops reading in the middle
//! of a RETR. Attackers connect from 127.0.0.2 and up (all of 127.0.0.0/8 is loopback), the
//! honest holder from 127.0.0.1, so per-address limits can be seen to spare other addresses.

mod support;

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::pop3::Pop;
use support::probe::{self, Watch};
use support::raw::{count, flood, ip, Raw};
use support::smtp::plain;
use support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";

/// These tests measure latencies on a small machine: they run one at a time.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_before_login_is_capped_per_ip() {
    let _serial = SERIAL.lock().await;
    let s = server().extra(
        "\n[smtp]\nmax_connections_per_ip = 20\n[pop3]\nmax_connections_per_ip = 20\n[imap]\nmax_connections_per_ip = 20\n",
    ).start();
    s.create_mailbox(MARIO);
    let watch = Watch::start(&s, MARIO).await;
    let attacker = ip(2);
    let (imap, pop3, smtp, submissions) = tokio::join!(
        flood(&s, "imaps", attacker, 200),
        flood(&s, "pop3s", attacker, 200),
        flood(&s, "smtp", attacker, 150),
        flood(&s, "submissions", attacker, 50),
    );
    // While the attacker holds its 20 connections on each port, other addresses get in.
    probe::all_ports_answer(&s).await;
    watch
        .assert_within(Duration::from_secs(1), "connection flood")
        .await;

    assert_eq!(count(&imap, "* OK"), 20, "IMAP admitted");
    assert_eq!(
        count(
            &imap,
            "* BYE Too many connections from your address; try again later\r\n"
        ),
        180,
        "every extra IMAP connection is told why, then closed"
    );
    assert_eq!(count(&pop3, "+OK"), 20, "POP3 admitted");
    assert_eq!(
        count(
            &pop3,
            "-ERR [SYS/TEMP] Too many connections from your address; try again later\r\n"
        ),
        180
    );
    // Each SMTP listener counts its own connections.
    let smtp_refusal = "421 4.7.0 Too many connections from your address; try again later\r\n";
    assert_eq!(count(&smtp, "220 "), 20, "SMTP admitted");
    assert_eq!(count(&smtp, smtp_refusal), 130);
    assert_eq!(count(&submissions, "220 "), 20, "submissions admitted");
    assert_eq!(count(&submissions, smtp_refusal), 30);
    let smtp_all: Vec<_> = smtp.into_iter().chain(submissions).collect();
    // Refused connections are closed, never left hanging.
    for (c, first) in imap.into_iter().filter(|(_, l)| l.starts_with("* BYE")) {
        let mut c = c.expect("refused over TLS");
        assert_eq!(c.line().await, "", "closed after {first:?}");
    }

    // Once the attacker's connections close, its slots are free again.
    drop((pop3, smtp_all));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut again = Raw::open(&s, "pop3s", attacker).await.unwrap();
    assert!(again.line().await.starts_with("+OK"));
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_flood_from_many_addresses_is_capped_in_total() {
    let _serial = SERIAL.lock().await;
    let s = server().extra(
        "\n[smtp]\nmax_connections_per_ip = 10\nmax_connections = 30\n[pop3]\nmax_connections_per_ip = 10\nmax_connections = 30\n[imap]\nmax_connections_per_ip = 10\nmax_connections = 30\n",
    ).start();
    for (listener, greeting, refusal) in [
        (
            "imaps",
            "* OK",
            "* BYE Too many connections; try again later\r\n",
        ),
        (
            "pop3s",
            "+OK",
            "-ERR [SYS/TEMP] Too many connections; try again later\r\n",
        ),
        (
            "smtp",
            "220 ",
            "421 4.7.0 Too many connections; try again later\r\n",
        ),
    ] {
        let mut held = Vec::new();
        for source in 2..=5 {
            held.extend(flood(&s, listener, ip(source), 10).await);
        }
        assert_eq!(count(&held, greeting), 30, "{listener} admitted");
        assert_eq!(count(&held, refusal), 10, "{listener} refused");
        drop(held);
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut c = Raw::open(&s, listener, ip(6)).await.unwrap();
        assert!(c.line().await.starts_with(greeting), "{listener} after");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prelogin_idle_connections_are_dropped() {
    let _serial = SERIAL.lock().await;
    let s = server()
        .extra("\n[pop3]\nprelogin_timeout_seconds = 1\n[imap]\nprelogin_timeout_seconds = 1\n")
        .start();
    s.create_mailbox(MARIO);
    let (mut logged_in, _) = Pop::connect(&s).await;
    assert!(logged_in.login(MARIO, PASSWORD).await.starts_with("+OK"));
    let (mut idle, greeting) = Pop::connect(&s).await;
    assert!(greeting.starts_with("+OK"));
    let mut idle_imap = Raw::open(&s, "imaps", ip(1)).await.unwrap();
    assert!(idle_imap.line().await.starts_with("* OK"));
    let start = Instant::now();
    assert_eq!(
        idle.line().await,
        "-ERR Idle timeout, closing connection\r\n"
    );
    assert_eq!(idle.line().await, "", "then closed");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(idle_imap.line().await.starts_with("* BYE"));
    assert_eq!(idle_imap.line().await, "", "then closed");
    // After login the longer idle timeout applies.
    assert!(logged_in.cmd("STAT").await.starts_with("+OK"));
}

/// Attack traffic: one attacker connection per task, guessing `LUIGI`'s password over and
/// over until `stop`; returns the attempts made. Every reply must be the usual failure.
async fn guess(s: &Server, listener: &'static str, stop: Arc<AtomicBool>) -> usize {
    let mut c = Raw::open(s, listener, ip(2))
        .await
        .expect("attacker connects");
    c.line().await;
    if listener == "submissions" {
        c.smtp("EHLO attacker.test").await;
    }
    let mut attempts = 0;
    while !stop.load(Ordering::Relaxed) {
        let wrong = format!("Wrong-Pass{attempts}!");
        match listener {
            "imaps" => {
                let r = c.imap(&format!("LOGIN {LUIGI} {wrong}")).await;
                assert_eq!(r, "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
            }
            "pop3s" => {
                let r = c.pop3(&format!("USER {LUIGI}")).await;
                assert!(r.starts_with("+OK"), "{r}");
                let r = c.pop3(&format!("PASS {wrong}")).await;
                assert_eq!(r, "-ERR [AUTH] Authentication failed\r\n");
            }
            _ => {
                let r = c
                    .smtp(&format!("AUTH PLAIN {}", plain(LUIGI, &wrong)))
                    .await;
                assert_eq!(r, "535 5.7.8 Authentication credentials invalid\r\n");
            }
        }
        attempts += 1;
    }
    attempts
}

/// Logs `user` in from `source` over IMAP, POP3 and SMTP; returns the three final replies.
async fn log_in_everywhere(s: &Server, source: IpAddr, user: &str) -> [String; 3] {
    let mut imap = Raw::open(s, "imaps", source).await.unwrap();
    imap.line().await;
    let imap = imap.imap(&format!("LOGIN {user} {PASSWORD}")).await;
    let mut pop = Raw::open(s, "pop3s", source).await.unwrap();
    pop.line().await;
    pop.pop3(&format!("USER {user}")).await;
    let pop_reply = pop.pop3(&format!("PASS {PASSWORD}")).await;
    pop.pop3("QUIT").await;
    let pop = pop_reply;
    let mut smtp = Raw::open(s, "submissions", source).await.unwrap();
    smtp.line().await;
    smtp.smtp("EHLO holder.test").await;
    let smtp = smtp
        .smtp(&format!("AUTH PLAIN {}", plain(user, PASSWORD)))
        .await;
    [imap, pop, smtp]
}

fn logged_in(replies: &[String; 3]) -> bool {
    replies[0].starts_with("t OK")
        && replies[1].starts_with("+OK")
        && replies[2].starts_with("235 ")
}

fn refused_as_wrong_password(replies: &[String; 3]) -> bool {
    replies[0] == "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
        && replies[1] == "-ERR [AUTH] Authentication failed\r\n"
        && replies[2] == "535 5.7.8 Authentication credentials invalid\r\n"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_guessing_is_refused_fast_without_argon2() {
    let _serial = SERIAL.lock().await;
    let s = server().extra(
        "\n[auth]\nfailures_per_login = 5\nfailures_per_ip = 20\nblock_seconds = 2\nmax_block_seconds = 4\n",
    ).start();
    s.create_mailbox(MARIO);
    s.create_mailbox(LUIGI);
    let watch = Watch::start(&s, MARIO).await;

    let stop = Arc::new(AtomicBool::new(false));
    let attempts = Arc::new(AtomicUsize::new(0));
    let mut attackers = Vec::new();
    for listener in ["imaps", "pop3s", "submissions"] {
        for _ in 0..8 {
            let (stop, attempts) = (stop.clone(), attempts.clone());
            let s = &s;
            attackers.push(async move {
                attempts.fetch_add(guess(s, listener, stop).await, Ordering::Relaxed);
            });
        }
    }
    let attack = futures::future::join_all(attackers);
    let checks = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        // The attacked login is refused during its window, right password or not, from
        // anywhere, with the reply of a wrong password.
        let attacked = log_in_everywhere(&s, ip(3), LUIGI).await;
        // An honest holder from another address logs in at once on every protocol.
        let start = Instant::now();
        let honest = log_in_everywhere(&s, ip(1), MARIO).await;
        let honest_took = start.elapsed();
        tokio::time::sleep(Duration::from_secs(2)).await;
        stop.store(true, Ordering::Relaxed);
        (honest, honest_took, attacked)
    };
    let attack_start = Instant::now();
    let (_, (honest, honest_took, attacked)) = tokio::join!(attack, checks);
    let attack_took = attack_start.elapsed();
    watch
        .assert_within(Duration::from_secs(1), "password guessing")
        .await;
    assert!(logged_in(&honest), "{honest:?}");
    assert!(
        honest_took < Duration::from_secs(3),
        "three honest logins took {honest_took:?}"
    );
    assert!(refused_as_wrong_password(&attacked), "{attacked:?}");

    // Only the first guesses of each window reached argon2 (each of those is logged as a
    // failed login); the others were refused without it, far faster than argon2 runs.
    let attempts = attempts.load(Ordering::Relaxed);
    let log = s.log();
    let checked = log
        .lines()
        .filter(|l| l.contains(LUIGI))
        .filter(|l| {
            l.contains("IMAP login failed")
                || l.contains("POP3 authentication failed")
                || l.contains("SMTP authentication failed")
        })
        .count();
    eprintln!("{attempts} guesses in {attack_took:?}, {checked} of them checked");
    assert!(
        attempts >= 1000,
        "only {attempts} guesses in {attack_took:?}"
    );
    assert!(checked <= 150, "{checked} guesses checked with argon2");
    let warned = log.lines().find(|l| {
        l.contains("WARN") && l.contains("further attempts refused") && l.contains("127.0.0.2")
    });
    assert!(warned.is_some(), "the block is logged");
    assert!(
        log.lines().any(|l| l.contains("further attempts refused")
            && l.contains(LUIGI)
            && l.contains("\"login\"")),
        "the login's block is logged:\n{}",
        log.lines()
            .filter(|l| l.contains("further attempts refused"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // The windows expire: the attacked holder logs in, even from the attacker's address.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let after = log_in_everywhere(&s, ip(3), LUIGI).await;
    assert!(logged_in(&after), "{after:?}");
    let after = log_in_everywhere(&s, ip(2), LUIGI).await;
    assert!(logged_in(&after), "{after:?}");
    probe::all_ports_answer(&s).await;
}

fn rss_kib(s: &Server) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", s.pid())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_username_is_not_kept() {
    let _serial = SERIAL.lock().await;
    // No address is blocked here, so that every failure reaches the counters.
    let s = server()
        .extra("\n[auth]\nfailures_per_ip = 10000\n")
        .start();
    s.create_mailbox(MARIO);
    let huge = format!("{}@pec.localhost", "u".repeat(100 * 1024));

    // IMAP: as a literal (refused before login), and as a quoted string that fits a command
    // line (refused as a wrong password, without argon2).
    let mut c = Raw::open(&s, "imaps", ip(2)).await.unwrap();
    c.line().await;
    let r = c.imap(&format!("LOGIN {{{}}}", huge.len())).await;
    assert!(r.starts_with("t BAD") || r.starts_with("t NO"), "{r:?}");
    let mut c = Raw::open(&s, "imaps", ip(2)).await.unwrap();
    c.line().await;
    let r = c.imap(&format!("LOGIN \"{}\" x", &huge[..50 * 1024])).await;
    assert_eq!(r, "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
    // POP3: the line is too long before login; a name over 256 bytes is refused.
    let (mut p, _) = Pop::connect_from(&s, ip(2)).await;
    assert_eq!(
        p.cmd(&format!("USER {huge}")).await,
        "-ERR Line too long\r\n"
    );
    assert_eq!(
        p.cmd(&format!("USER {}", &huge[..300])).await,
        "-ERR Name too long\r\n"
    );
    assert!(p
        .cmd(&format!("AUTH PLAIN {}", plain(&huge, "x")))
        .await
        .starts_with("-ERR"));
    assert!(
        p.login(MARIO, PASSWORD).await.starts_with("+OK"),
        "still usable"
    );
    // SMTP: too long as an AUTH PLAIN line; as AUTH LOGIN within the line limit, a failure.
    let mut m = Raw::open(&s, "submissions", ip(2)).await.unwrap();
    m.line().await;
    m.smtp("EHLO attacker.test").await;
    let r = m.smtp(&format!("AUTH PLAIN {}", plain(&huge, "x"))).await;
    assert!(r.starts_with("500 5.5.2"), "{r}");
    let r = m.smtp("AUTH LOGIN").await;
    assert!(r.starts_with("334 "), "{r}");
    let r = m.smtp(&support::smtp::b64(&huge.as_bytes()[..3000])).await;
    assert!(r.starts_with("334 "), "{r}");
    let r = m.smtp(&support::smtp::b64(b"x")).await;
    assert_eq!(r, "535 5.7.8 Authentication credentials invalid\r\n");

    // A thousand different 50 KB names: without the cut, 50 MB of keys.
    let before = rss_kib(&s);
    let rounds = (0..4).map(|w| {
        let (s, huge) = (&s, &huge);
        async move {
            let mut c = Raw::open(s, "imaps", ip(3 + w)).await.unwrap();
            c.line().await;
            for i in 0..250 {
                let name = format!("{w}-{i}-{}", &huge[..50 * 1024]);
                let r = c.imap(&format!("LOGIN \"{name}\" x")).await;
                assert_eq!(r, "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
            }
        }
    });
    futures::future::join_all(rounds).await;
    let after = rss_kib(&s);
    eprintln!("RSS {before} KiB -> {after} KiB");
    assert!(
        after < before + 25 * 1024,
        "RSS grew from {before} KiB to {after} KiB"
    );
    let log = s.log();
    assert!(
        log.lines().all(|l| l.len() < 4096),
        "a log line holds a huge name"
    );
    probe::all_ports_answer(&s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pop3_retr_to_a_client_that_stops_reading() {
    let _serial = SERIAL.lock().await;
    let s = server()
        .extra("\n[pop3]\nwrite_timeout_seconds = 2\n")
        .start();
    s.create_mailbox(MARIO);
    // 24 MB: more than the loopback socket buffers of both ends hold.
    let big = message("big", 24 * 1024 * 1024);
    let mut imap = support::imap::Imap::login(&s, MARIO).await;
    let r = imap.append("INBOX", "", &big).await;
    assert!(r.last().unwrap().contains("OK"), "{r:?}");

    let (mut stalled, _) = Pop::connect(&s).await;
    assert!(stalled.login(MARIO, PASSWORD).await.starts_with("+OK"));
    stalled.send(b"RETR 1\r\n").await.unwrap();
    let stalled_at = Instant::now();
    // The stalled session holds the maildrop for now...
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (mut other, _) = Pop::connect(&s).await;
    let r = other.login(MARIO, PASSWORD).await;
    assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
    // ...until the write timeout ends it.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (mut p, _) = Pop::connect(&s).await;
        let r = p.login(MARIO, PASSWORD).await;
        if r.starts_with("+OK") {
            break;
        }
        assert!(r.starts_with("-ERR [IN-USE]"), "{r}");
        assert!(
            Instant::now() < deadline,
            "the stalled RETR still holds the maildrop"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(stalled_at.elapsed() >= Duration::from_secs(2));
    drop(stalled);
    probe::all_ports_answer(&s).await;
}

/// Review item: IMAP AUTHENTICATE with an authorization identity naming another mailbox
/// counted a failure against the login it named, without checking the block first: an
/// address already blocked could go on adding failures to any login at no argon2 cost and
/// keep its holder locked out. Now a blocked client is refused as blocked and counts nothing,
/// and an unblocked one counts against its own address only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authz_mismatch_counts_a_failure_without_checking_the_block_first() {
    let _serial = SERIAL.lock().await;
    let s = server().extra(
        "\n[auth]\nfailures_per_login = 5\nfailures_per_ip = 3\nblock_seconds = 600\nmax_block_seconds = 900\n",
    ).start();
    s.create_mailbox(LUIGI);
    let mismatch = format!(
        "AUTHENTICATE PLAIN {}",
        support::smtp::b64(format!("{MARIO}\0{LUIGI}\0Wrong-Pass1!").as_bytes())
    );
    // An address blocked by three wrong passwords for logins of its own...
    let mut blocked = Raw::open(&s, "imaps", ip(2)).await.unwrap();
    blocked.line().await;
    for i in 0..3 {
        let r = blocked
            .imap(&format!("LOGIN junk{i}@pec.localhost Wrong-Pass1!"))
            .await;
        assert_eq!(r, "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
    }
    // ...then asks, over and over, to act as another mailbox with LUIGI's login.
    for _ in 0..20 {
        let r = blocked.imap(&mismatch).await;
        assert_eq!(r, "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n");
    }
    // An unblocked address doing the same is told why and blocked in turn, by address.
    let mut other = Raw::open(&s, "imaps", ip(3)).await.unwrap();
    other.line().await;
    let replies: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..10 {
            v.push(other.imap(&mismatch).await);
        }
        v
    };
    assert!(
        replies[0].starts_with("t NO [AUTHORIZATIONFAILED]"),
        "{replies:?}"
    );
    assert_eq!(
        replies[9],
        "t NO [AUTHENTICATIONFAILED] Invalid credentials\r\n"
    );
    // LUIGI, whose login was named 30 times, is not blocked.
    let mut holder = Raw::open(&s, "imaps", ip(1)).await.unwrap();
    holder.line().await;
    let r = holder.imap(&format!("LOGIN {LUIGI} {PASSWORD}")).await;
    assert!(r.starts_with("t OK"), "{r}");
}

/// Review item: the two SMTP listeners shared one total, so a flood of port 25 (no login
/// needed) shut out authenticated submission. Each listener now has its own counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_caps_starve_legitimate_users() {
    let _serial = SERIAL.lock().await;
    let s = server()
        .extra("\n[smtp]\nmax_connections_per_ip = 10\nmax_connections = 30\n")
        .start();
    s.create_mailbox(MARIO);
    // Port 25 full, from several addresses, the submission users' own address among them.
    let mut held = Vec::new();
    for source in 1..=4 {
        held.extend(flood(&s, "smtp", ip(source), 10).await);
    }
    assert_eq!(count(&held, "220 "), 30);
    assert_eq!(
        count(&held, "421 4.7.0 Too many connections; try again later\r\n"),
        10
    );
    // Submission still takes the holder, from one of the flooding addresses too.
    for source in [1, 5] {
        let mut c = Raw::open(&s, "submissions", ip(source)).await.unwrap();
        assert!(c.line().await.starts_with("220 "), "from {source}");
        c.smtp("EHLO holder.test").await;
        let r = c
            .smtp(&format!("AUTH PLAIN {}", plain(MARIO, PASSWORD)))
            .await;
        assert!(r.starts_with("235 "), "from {source}: {r}");
    }
    drop(held);
}
