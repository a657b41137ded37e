//! The holders' self-service pages beyond login and notifications: security information,
//! the forgotten password reset with a one-time code (read from the recovery mailbox), the
//! security archive (switch, kinds, search, reading a copy) and the migration wizard.

use std::time::{Duration, Instant};

use fantoccini::{Client, Locator};

use crate::browser::*;
use crate::support::imap::Imap;
use crate::support::*;

const MARIO: &str = "mario@pec.localhost";
const RECOVERY: &str = "recupero@pec.localhost";
const NEW: &str = "Nuova!Passw0rd7";

pub fn base(s: &Server) -> String {
    format!("https://localhost:{}", s.listener("https").port())
}

pub async fn go(c: &Client, url: &str) -> Result<(), String> {
    c.goto(url).await.map_err(|e| format!("goto {url}: {e}"))
}

/// Logs `login` in through the login page.
pub async fn log_in(c: &Client, base: &str, login: &str, password: &str) -> Result<(), String> {
    go(c, &format!("{base}/account/login")).await?;
    fill(c, "login", login).await?;
    fill(c, "password", password).await?;
    submit(c).await?;
    wait_for(c, "Casella").await.map(|_| ())
}

async fn imap_login(s: &Server, password: &str) -> String {
    let (mut c, _) = Imap::connect(s).await;
    let r = c.cmd(&format!("LOGIN {MARIO} \"{password}\"")).await;
    r.last().unwrap().clone()
}

/// The 8-digit code of the newest recovery notice in the recovery mailbox, waiting for it
/// (it is sent in the background).
fn recovery_code(s: &Server) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let messages = crate::support::pec::imap(s, RECOVERY, "INBOX");
        let notice = messages
            .iter()
            .rev()
            .find(|m| String::from_utf8_lossy(m).contains("X-Pecd-Notice: password.recovery"));
        if let Some(m) = notice {
            let parsed = mail_parser::MessageParser::default().parse(m).unwrap();
            let text = parsed.body_text(0).unwrap().to_string();
            let at = text.find("Codice: ").expect("the code in the notice") + "Codice: ".len();
            return text[at..at + 8].to_string();
        }
        assert!(Instant::now() < deadline, "no recovery notice arrived");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_holder_saves_security_information_then_resets_a_forgotten_password_with_the_emailed_code(
) {
    let s = server().users(&[MARIO, RECOVERY]).start();
    let base = base(&s);
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    with_screenshot(&s, &b, || async {
        log_in(c, &base, MARIO, PASSWORD).await?;
        go(c, &format!("{base}/account/security")).await?;
        check_page(c, axe, "account-security").await?;
        fill(c, "recovery_email", RECOVERY).await?;
        fill(c, "recovery_mobile", "12").await?;
        submit(c).await?;
        let alert = wait_for(c, "cifre").await?;
        expect(
            alert.contains("da 6 a 16 cifre"),
            format!("a bad mobile number is refused in place: {alert}"),
        )?;
        fill(c, "recovery_mobile", "+393331234567").await?;
        submit(c).await?;
        wait_for(c, "Informazioni di sicurezza salvate").await?;
        go(c, &format!("{base}/account/logout")).await?;
        submit(c).await?;
        wait_for(c, "Password dimenticata?").await?;

        // Forgotten: from the login page's link, the code goes to the recovery e-mail.
        c.find(Locator::LinkText("Password dimenticata?"))
            .await
            .map_err(|e| format!("link: {e}"))?
            .click()
            .await
            .map_err(|e| format!("click: {e}"))?;
        wait_for(c, "codice monouso").await?;
        check_page(c, axe, "account-recovery").await?;
        fill(c, "login", MARIO).await?;
        submit(c).await?;
        wait_for(c, "Codice ricevuto").await?;
        let url = c.current_url().await.map_err(|e| e.to_string())?;
        expect(
            url.query().is_none() && !url.as_str().contains("mario"),
            format!("nothing about the login in the URL: {url}"),
        )?;
        check_page(c, axe, "account-recovery-confirm").await?;
        Ok(())
    })
    .await;
    let code = recovery_code(&s);
    let wrong = if code == "00000000" {
        "11111111"
    } else {
        "00000000"
    };
    with_screenshot(&s, &b, || async {
        fill(c, "code", wrong).await?;
        fill(c, "new_password", NEW).await?;
        fill(c, "confirm_password", NEW).await?;
        submit(c).await?;
        wait_for(c, "Codice non valido o scaduto").await?;
        fill(c, "code", &code).await?;
        fill(c, "new_password", "corta").await?;
        fill(c, "confirm_password", "corta").await?;
        submit(c).await?;
        let alert = wait_for(c, "Password non valida").await?;
        for rule in ["almeno 8 caratteri", "almeno una cifra"] {
            expect(alert.contains(rule), format!("{rule} named in: {alert}"))?;
        }
        fill(c, "code", &code).await?;
        fill(c, "new_password", NEW).await?;
        fill(c, "confirm_password", NEW).await?;
        submit(c).await?;
        wait_for(c, "ora può accedere con la nuova password").await?;
        check_page(c, axe, "account-recovery-done").await?;
        Ok(())
    })
    .await;
    assert!(
        imap_login(&s, NEW).await.contains("OK"),
        "IMAP takes the new password"
    );
    assert!(!imap_login(&s, PASSWORD).await.contains("OK"));
}

const BRUNO: &str = "bruno@pec.localhost";

async fn click(c: &Client, css: &str) -> Result<(), String> {
    c.find(Locator::Css(css))
        .await
        .map_err(|e| format!("{css}: {e}"))?
        .click()
        .await
        .map_err(|e| format!("click {css}: {e}"))
}

/// A certified message from `from` to `to` through pecd's submission service.
async fn certified(s: &Server, from: &str, to: &str, subject: &str) {
    let (mut c, _) = crate::support::smtp::Conn::tls(s.listener("submissions"), &s.ca()).await;
    c.login(from, PASSWORD).await;
    let message = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@test>\r\n\r\nTesto con <script>alert(1)</script>.\r\n",
        rand::random::<u32>()
    );
    let r = c.send_message(from, &[to], &message).await;
    assert!(r.starts_with("250"), "{r}");
}

/// The page's text once reloading `url` shows `needle`, within 20 seconds.
async fn reload_until(c: &Client, url: &str, needle: &str) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        go(c, url).await?;
        let text = page_text(c).await?;
        if text.contains(needle) {
            return Ok(text);
        }
        if Instant::now() > deadline {
            return Err(format!("{needle:?} never appeared at {url}: {text}"));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The operator gives MARIO's mailbox a customer and a 1 GB security archive.
fn archive_service(s: &Server) {
    use crate::support::cli::human;
    human(s, &["customer", "create", "C1", "--name", "Rossi"], "");
    human(
        s,
        &[
            "account",
            "create",
            "A1",
            "--customer",
            "C1",
            "--description",
            "Nord",
            "--userid-prefix",
            "aa",
        ],
        "",
    );
    human(
        s,
        &[
            "mailbox",
            "assign",
            MARIO,
            "--customer",
            "C1",
            "--account",
            "A1",
            "--type",
            "standard",
        ],
        "",
    );
    human(s, &["mailbox", "services", MARIO, "--archive-gb", "1"], "");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_security_archive_is_switched_on_by_the_holder_once_offered_then_searched_and_read_as_text(
) {
    let s = server().users(&[MARIO, BRUNO]).start();
    let base = base(&s);
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    let page_url = format!("{base}/account/archive");
    with_screenshot(&s, &b, || async {
        log_in(c, &base, MARIO, PASSWORD).await?;
        go(c, &page_url).await?;
        let text = wait_for(c, "non è attivo per questa casella").await?;
        expect(
            !text.contains("Tipi di messaggi"),
            "no switch while the operator has not offered the service".into(),
        )?;
        check_page(c, axe, "account-archive-off").await?;
        Ok(())
    })
    .await;
    archive_service(&s);
    with_screenshot(&s, &b, || async {
        go(c, &page_url).await?;
        wait_for(c, "Tipi di messaggi da conservare").await?;
        click(c, "#security_archive").await?;
        click(c, "#kind-certified-in").await?;
        submit(c).await?;
        wait_for(c, "Impostazioni dell'archivio salvate").await?;
        Ok(())
    })
    .await;
    let settings = s.json(&["mailbox", "settings", MARIO]);
    assert_eq!(settings["security_archive"], true, "{settings}");
    assert_eq!(
        settings["archive_kinds"],
        serde_json::json!(["certified-in"])
    );

    certified(&s, BRUNO, MARIO, "Fattura <b>42</b>").await;
    certified(&s, BRUNO, MARIO, "Verbale assemblea").await;
    with_screenshot(&s, &b, || async {
        reload_until(c, &page_url, "Messaggi archiviati (2)").await?;
        check_page(c, axe, "account-archive").await?;
        fill(c, "q", "fattura").await?;
        click(c, "#cerca").await?;
        let text = wait_for(c, "Risultati della ricerca (1)").await?;
        expect(
            text.contains("Fattura <b>42</b>") && !text.contains("Verbale"),
            format!("the search finds the one message, its subject as text: {text}"),
        )?;
        click(c, "ul.messages li a").await?;
        let text = wait_for(c, "Message-ID").await?;
        check_page(c, axe, "account-archive-message").await?;
        expect(
            text.contains(BRUNO) && text.contains("Fattura <b>42</b>"),
            format!("the headers shown: {text}"),
        )?;
        expect(
            text.contains("Testo con <script>alert(1)</script>."),
            format!("the certified message's own text shown as text: {text}"),
        )?;
        let source = c.source().await.map_err(|e| e.to_string())?;
        expect(
            !source.contains("<b>42") && !source.contains("<script>alert"),
            "the message's markup is escaped, never rendered".into(),
        )?;
        Ok(())
    })
    .await;
}

// The migration tests' Dovecot, as it is (its `url` is not needed here).
#[allow(dead_code)]
#[path = "../migrate/dovecot.rs"]
mod dovecot;

/// Waits until the page's alert says exactly `text` (a refused form's next page).
async fn wait_alert(c: &Client, text: &str) -> Result<(), String> {
    let mut last = String::new();
    for _ in 0..50 {
        if let Ok(e) = c.find(Locator::Css("main .error p")).await {
            last = e.text().await.unwrap_or_default();
            if last == text {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("alert {text:?} never shown; last: {last:?}"))
}

const SCUOLA: &str = "scuola@pec.example.it";
const OLD_PASSWORD: &str = "Vecchia-Pass1!";

fn old_message(i: usize) -> dovecot::OldMessage {
    dovecot::OldMessage {
        bytes: format!(
            "From: preside@vecchio.example\r\nTo: {SCUOLA}\r\nSubject: Circolare {i}\r\n\
             Message-ID: <circolare{i}@vecchio.example>\r\nDate: Mon, 2 Nov 2026 10:00:00 +0100\r\n\r\n\
             Testo della circolare {i}.\r\n"
        )
        .into_bytes(),
        flags: "S".into(),
        keywords: Vec::new(),
        date: 1_793_000_000 + i as i64,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_migration_wizard_imports_only_a_mailbox_proven_here_and_in_its_window_and_shows_progress(
) {
    let old = dovecot::Dovecot::start(&[(SCUOLA, OLD_PASSWORD)]);
    old.fill(
        SCUOLA,
        "INBOX",
        &(0..3).map(old_message).collect::<Vec<_>>(),
    );
    let mut s = server().users(&[]).prepare();
    s.write_config(&ServerConfig::new().extra(&format!(
        "\n[migration]\ndomains = [\"pec.example.it\"]\ncutover = \"2099-01-11T00:00:00+01:00\"\n\
         tls_roots = \"{}\"\ntimeout_seconds = 10\nholder_ports = [993, {}]\n",
        old.ca().display(),
        old.port
    )));
    s.spawn();
    s.create_mailbox(SCUOLA);
    s.create_mailbox(MARIO);
    let base = base(&s);
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    let wizard = format!("{base}/account/migration");
    with_screenshot(&s, &b, || async {
        // A holder outside every window is told so, and given no form.
        log_in(c, &base, MARIO, PASSWORD).await?;
        go(c, &wizard).await?;
        let text = wait_for(c, "non è in una finestra di migrazione").await?;
        expect(
            !text.contains("Avvia la migrazione"),
            "no form outside the window".into(),
        )?;
        check_page(c, axe, "account-migration-refused").await?;
        go(c, &format!("{base}/account/logout")).await?;
        submit(c).await?;
        wait_for(c, "Password dimenticata?").await?;

        // The window closes the login before the cutover; the refusal leads to the wizard.
        fill(c, "login", SCUOLA).await?;
        fill(c, "password", PASSWORD).await?;
        submit(c).await?;
        wait_for(c, "Casella in migrazione").await?;
        c.find(Locator::LinkText("Migrazione dal precedente gestore"))
            .await
            .map_err(|e| format!("link: {e}"))?
            .click()
            .await
            .map_err(|e| format!("click: {e}"))?;
        wait_for(c, "Avvia la migrazione").await?;
        check_page(c, axe, "account-migration").await?;

        let host = format!("localhost:{}", old.port);
        let attempt =
            |pec_password: &'static str, old_password: &'static str, new: &'static str| {
                let host = host.clone();
                async move {
                    fill(c, "pec_login", SCUOLA).await?;
                    fill(c, "pec_password", pec_password).await?;
                    fill(c, "host", &host).await?;
                    fill(c, "old_password", old_password).await?;
                    fill(c, "new_password", new).await?;
                    fill(c, "confirm_password", new).await?;
                    submit(c).await
                }
            };
        // Not proven here: the old server's word alone is not enough.
        attempt("Sbagliata-9!", OLD_PASSWORD, "").await?;
        wait_for(c, "Credenziali non valide per la casella su questo gestore").await?;
        // Proven here, refused by the old provider.
        attempt(PASSWORD, "Sbagliata-9!", "").await?;
        wait_alert(c, "Credenziali non valide").await?;
        // A weak new password: each unmet rule named.
        attempt(PASSWORD, OLD_PASSWORD, "corta").await?;
        let alert = wait_for(c, "Password non valida").await?;
        expect(
            alert.contains("almeno una cifra"),
            format!("rules named: {alert}"),
        )?;

        attempt(PASSWORD, OLD_PASSWORD, "").await?;
        wait_for(c, "L'importazione dei suoi messaggi PEC è iniziata").await?;
        let url = c.current_url().await.map_err(|e| e.to_string())?;
        expect(
            !url.as_str().contains("scuola") && !url.as_str().contains("Pass"),
            format!("nothing secret in the URL: {url}"),
        )?;
        let text = reload_until(c, &wizard, "completata").await?;
        expect(
            text.contains("Messaggi importati\n3 di 3") || text.contains("3 di 3"),
            format!("progress shown: {text}"),
        )?;
        expect(text.contains("INBOX"), format!("folders shown: {text}"))?;
        check_page(c, axe, "account-migration-status").await?;
        Ok(())
    })
    .await;
    let status = s.json(&["migrate", "status", SCUOLA]);
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(status["messages_done"], 3, "{status}");
    assert_eq!(status["password_kept"], true, "{status}");
}
