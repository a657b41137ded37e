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
