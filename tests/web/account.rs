//! The holders' self-service pages under /account/: a holder whose password expired is
//! refused over IMAP, changes the password in the browser (a weak one is refused with each
//! unmet rule named), and IMAP then accepts it; the holder sets notification addresses.

use crate::browser::*;
use crate::support::imap::Imap;
use crate::support::*;

const MARIO: &str = "mario@pec.localhost";
const NEW: &str = "Nuova!Passw0rd7";

async fn imap_login(s: &Server, password: &str) -> String {
    let (mut c, _) = Imap::connect(s).await;
    let r = c.cmd(&format!("LOGIN {MARIO} \"{password}\"")).await;
    r.last().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_expired_password_is_changed_in_the_browser_and_imap_then_accepts_it() {
    let s = server().users(&[MARIO]).start();
    let out = s.pecctl(
        &[
            "mailbox",
            "passwd",
            MARIO,
            "--password-stdin",
            "--must-change",
        ],
        &format!("{PASSWORD}\n"),
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(imap_login(&s, PASSWORD).await.contains("NO [EXPIRED]"));
    let base = format!("https://localhost:{}", s.listener("https").port());
    let b = browser().await;
    let c = &b.client;
    let axe = axe_source();
    let axe = axe.as_str();
    with_screenshot(&s, &b, || async {
        c.goto(&format!("{base}/account/"))
            .await
            .map_err(|e| format!("goto home: {e}"))?;
        let url = c.current_url().await.map_err(|e| format!("url: {e}"))?;
        expect(
            url.path() == "/account/login",
            format!("sent to the login page: {url}"),
        )?;
        check_page(c, axe, "account-login").await?;
        fill(c, "login", MARIO).await?;
        fill(c, "password", PASSWORD).await?;
        submit(c).await?;
        let text = wait_for(c, "Password scaduta").await?;
        expect(
            text.contains("almeno una cifra"),
            "shows the policy's rules".into(),
        )?;

        check_page(c, axe, "account-expired-password").await?;

        // A weak password: every unmet rule named, nothing changed.
        fill(c, "current_password", PASSWORD).await?;
        fill(c, "new_password", "corta").await?;
        fill(c, "confirm_password", "corta").await?;
        submit(c).await?;
        let alert = wait_for(c, "Password non valida").await?;
        for rule in [
            "almeno 8 caratteri",
            "almeno una lettera maiuscola",
            "almeno una cifra",
        ] {
            expect(alert.contains(rule), format!("{rule} named in: {alert}"))?;
        }

        fill(c, "current_password", PASSWORD).await?;
        fill(c, "new_password", NEW).await?;
        fill(c, "confirm_password", NEW).await?;
        submit(c).await?;
        let text = wait_for(c, "Password cambiata").await?;
        check_page(c, axe, "account-home").await?;
        expect(text.contains(MARIO), "the summary names the mailbox".into())?;
        Ok(())
    })
    .await;
    assert!(
        imap_login(&s, NEW).await.contains("OK"),
        "IMAP takes the new password"
    );
    assert!(!imap_login(&s, PASSWORD).await.contains("OK"));

    // The holder sets notification addresses in the browser.
    with_screenshot(&s, &b, || async {
        c.goto(&format!("{base}/account/settings"))
            .await
            .map_err(|e| format!("goto settings: {e}"))?;
        check_page(c, axe, "account-settings").await?;
        fill(
            c,
            "notify",
            "mario.rossi@example.com\nsegreteria@example.com",
        )
        .await?;
        submit(c).await?;
        wait_for(c, "Impostazioni salvate").await?;
        Ok(())
    })
    .await;
    let settings = s.json(&["mailbox", "settings", MARIO]);
    assert_eq!(
        settings["notify"],
        serde_json::json!(["mario.rossi@example.com", "segreteria@example.com"])
    );
}
