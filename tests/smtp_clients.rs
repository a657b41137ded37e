//! The SMTP listeners with real clients: the lettre library, python's smtplib, swaks and
//! openssl s_client. scripts/test.sh installs swaks and openssl; a missing tool fails the test.

mod support;

use std::process::Command;

use support::*;

const MARIO: &str = "mario@pec.localhost";
const LUIGI: &str = "luigi@pec.localhost";
const USERS: &[&str] = &[MARIO, LUIGI];

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (scripts/test.sh installs it)"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn inbox_count(s: &Server, address: &str) -> u64 {
    s.json(&["mailbox", "show", address])["messages"]
        .as_u64()
        .unwrap()
}

#[test]
fn python_smtplib_over_both_ports_with_plain_and_login() {
    let s = server().users(USERS).start();
    let script = r#"
import smtplib, ssl, sys
ca, smtp_port, sub_port, user, password, rcpt = sys.argv[1:]
ctx = ssl.create_default_context(cafile=ca)
ctx.check_hostname = False
msg = "From: {0}\r\nTo: {1}\r\nSubject: {2}\r\n\r\nCiao\r\n"
with smtplib.SMTP_SSL("127.0.0.1", int(sub_port), context=ctx) as s:
    s.login(user, password)
    s.sendmail(user, [rcpt], msg.format(user, rcpt, "smtplib 465 plain"))
with smtplib.SMTP("127.0.0.1", int(smtp_port)) as s:
    s.starttls(context=ctx)
    s.ehlo()
    s.user, s.password = user, password
    code, _ = s.auth("LOGIN", s.auth_login, initial_response_ok=False)
    assert code == 235, code
    s.sendmail(user, [rcpt], msg.format(user, rcpt, "smtplib 25 login"))
    # An esterno recipient of an authenticated holder is accepted: the envelope leaves as
    # ordinary mail through the relay queue (PEC.md §6.8).
    s.sendmail(user, ["x@example.com"], msg.format(user, "x@example.com", "esterno"))
with smtplib.SMTP("127.0.0.1", int(smtp_port)) as s:
    s.starttls(context=ctx)
    s.ehlo()
    try:
        s.sendmail("someone@example.org", ["x@example.com"], msg.format("someone@example.org", "x@example.com", "relay"))
        sys.exit("open relay")
    except smtplib.SMTPRecipientsRefused as e:
        assert e.recipients["x@example.com"][0] == 550
print("ok")
"#;
    let (ok, out) = run(Command::new("python3").args(["-c", script]).args([
        s.ca().to_str().unwrap(),
        &s.listener("smtp").port().to_string(),
        &s.listener("submissions").port().to_string(),
        MARIO,
        PASSWORD,
        LUIGI,
    ]));
    assert!(ok && out.contains("ok"), "{out}");
    assert_eq!(inbox_count(&s, LUIGI), 2);
}

#[test]
fn swaks_submits_with_implicit_tls_and_with_starttls() {
    let s = server().users(USERS).start();
    for (port, tls) in [
        (s.listener("submissions").port(), "--tls-on-connect"),
        (s.listener("smtp").port(), "--tls"),
    ] {
        let (ok, out) = run(Command::new("swaks").args([
            "--server",
            &format!("127.0.0.1:{port}"),
            tls,
            "--auth",
            "PLAIN",
            "--auth-user",
            MARIO,
            "--auth-password",
            PASSWORD,
            "--from",
            MARIO,
            "--to",
            LUIGI,
            "--header",
            &format!("From: {MARIO}"),
        ]));
        assert!(ok, "{out}");
        assert!(out.contains("<~  250 2.0.0 Message accepted"), "{out}");
        assert!(out.contains("<~  221 2.0.0 Bye"), "{out}");
    }
    assert_eq!(inbox_count(&s, LUIGI), 2);
}

fn s_client(s: &Server, args: &[&str]) -> String {
    let mut cmd = Command::new("openssl");
    cmd.arg("s_client")
        .args(args)
        .args([
            "-CAfile",
            s.ca().to_str().unwrap(),
            "-servername",
            "mail.pec.localhost",
        ])
        // Let the client offer old versions: the refusal must come from pecd.
        .args(["-cipher", "DEFAULT@SECLEVEL=0"])
        .stdin(std::process::Stdio::null());
    run(&mut cmd).1
}

#[test]
fn openssl_tls_versions_and_full_chain_on_both_listeners() {
    let s = server().users(USERS).start();
    let sub = format!("127.0.0.1:{}", s.listener("submissions").port());
    let smtp = format!("127.0.0.1:{}", s.listener("smtp").port());
    for old in ["-tls1", "-tls1_1"] {
        let out = s_client(&s, &["-connect", &sub, old]);
        assert!(
            out.contains("alert handshake failure") || out.contains("alert protocol version"),
            "{old}: {out}"
        );
        assert!(out.contains("Cipher is (NONE)"), "{old} refused: {out}");
    }
    for (flag, name) in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")] {
        let out = s_client(&s, &["-connect", &sub, flag, "-showcerts"]);
        assert!(out.contains(&format!("New, {name}")), "{flag}: {out}");
        assert!(out.contains("Verify return code: 0 (ok)"), "{out}");
        assert!(out.contains(" 1 s:"), "intermediate/CA served: {out}");
    }
    let out = s_client(&s, &["-connect", &smtp, "-starttls", "smtp"]);
    assert!(
        out.contains("Verify return code: 0 (ok)"),
        "STARTTLS: {out}"
    );
    let out = s_client(&s, &["-connect", &smtp, "-starttls", "smtp", "-tls1_1"]);
    assert!(
        out.contains("Cipher is (NONE)"),
        "TLS 1.1 refused after STARTTLS: {out}"
    );
}

#[tokio::test]
async fn lettre_sends_over_both_ports() {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let mut s = server().users(USERS).start();
    let ca = Certificate::from_pem(&std::fs::read(s.ca()).unwrap()).unwrap();
    let tls = TlsParameters::builder("mail.pec.localhost".into())
        .add_root_certificate(ca)
        .build_rustls()
        .unwrap();
    let creds = Credentials::new(MARIO.into(), PASSWORD.into());
    for (name, mode) in [
        ("submissions", Tls::Wrapper(tls.clone())),
        ("smtp", Tls::Required(tls.clone())),
    ] {
        let addr = s.listener(name);
        let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(addr.port())
            .tls(mode)
            .credentials(creds.clone())
            .build();
        let email = Message::builder()
            .from(MARIO.parse().unwrap())
            .to(LUIGI.parse().unwrap())
            .subject(format!("via lettre {name}"))
            .body(String::from("Ciao Luigi"))
            .unwrap();
        let response = transport.send(email).await.unwrap();
        assert_eq!(response.code().to_string(), "250");
    }
    let stored = s.stored_inbox(LUIGI).await;
    assert_eq!(stored.len(), 2);
    assert!(stored[0].contains("Subject: via lettre submissions"));
    assert!(stored[1].contains("Subject: via lettre smtp"));
}
