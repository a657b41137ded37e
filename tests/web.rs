//! The holders' self-service pages in a real browser: headless Chromium driven through
//! chromedriver (WebDriver, fantoccini) against the real pecd. A holder whose password
//! expired is refused over IMAP, changes the password in the browser (a weak one is refused
//! with each unmet rule named), and IMAP then accepts it; the holder sets notification
//! addresses. Every page passes axe-core (npm) with no serious or critical violation. On
//! failure a screenshot is saved in the test's data directory; with `PECD_SCREENSHOTS=DIR`
//! each page is saved there at desktop and phone width (docs/screenshots/ was made so).

mod support;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use support::imap::Imap;
use support::*;

const MARIO: &str = "mario@pec.localhost";
const NEW: &str = "Nuova!Passw0rd7";

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium.
struct Browser {
    client: Client,
    _driver: Driver,
}

async fn browser() -> Browser {
    // fantoccini's client (plain HTTP to chromedriver) still wants a rustls provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let port = free_port();
    let driver = Driver(
        Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (scripts/test.sh installs chromium-driver)"),
    );
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                                    "--disable-dev-shm-usage", "--window-size=1280,900"]}),
    );
    // The development CA is not in the browser's store.
    caps.insert("acceptInsecureCerts".into(), serde_json::json!(true));
    let url = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if let Ok(client) = ClientBuilder::rustls()
            .expect("rustls")
            .capabilities(caps.clone())
            .connect(&url)
            .await
        {
            return Browser {
                client,
                _driver: driver,
            };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not answer on {url}");
}

/// Runs the browser steps; on failure saves a screenshot next to the server's data.
async fn with_screenshot<F, Fut>(s: &Server, b: &Browser, steps: F)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    if let Err(e) = steps().await {
        // Saved in the test's data directory, and copied where it outlives the test.
        let shot = s.dir.path().join("failure.png");
        let kept =
            std::env::temp_dir().join(format!("pecd-web-failure-{}.png", std::process::id()));
        if let Ok(png) = b.client.screenshot().await {
            let _ = std::fs::write(&shot, &png);
            let _ = std::fs::write(&kept, &png);
        }
        let page = b.client.source().await.unwrap_or_default();
        panic!("{e}\nscreenshot: {}\npage:\n{page}", kept.display());
    }
}

async fn fill(c: &Client, id: &str, text: &str) -> Result<(), String> {
    let field = c
        .find(Locator::Id(id))
        .await
        .map_err(|e| format!("#{id}: {e}"))?;
    field
        .clear()
        .await
        .map_err(|e| format!("#{id} clear: {e}"))?;
    field
        .send_keys(text)
        .await
        .map_err(|e| format!("#{id} keys: {e}"))
}

async fn submit(c: &Client) -> Result<(), String> {
    let button = c
        .find(Locator::Css("main form button[type=submit]"))
        .await
        .map_err(|e| format!("submit: {e}"))?;
    match button.click().await {
        Ok(()) => Ok(()),
        // The page can be gone before the click's answer: the form was sent.
        Err(e) if e.to_string().contains("stale element") => Ok(()),
        Err(e) => Err(format!("submit click: {e}")),
    }
}

async fn page_text(c: &Client) -> Result<String, String> {
    c.find(Locator::Css("main"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// The text of the page once it contains `needle` (the next page after a submit has
/// loaded), within five seconds.
async fn wait_for(c: &Client, needle: &str) -> Result<String, String> {
    let mut last = String::new();
    for _ in 0..50 {
        if let Ok(text) = page_text(c).await {
            if text.contains(needle) {
                return Ok(text);
            }
            last = text;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("{needle:?} never appeared; the page says: {last}"))
}

/// axe-core (npm), installed under target/npm on first use.
fn axe_source() -> String {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm");
    let file = dir.join("node_modules/axe-core/axe.min.js");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        tool(Command::new("npm").args([
            "install",
            "--no-audit",
            "--no-fund",
            "--prefix",
            dir.to_str().unwrap(),
            "axe-core@4.10.2",
        ]));
    }
    std::fs::read_to_string(file).expect("axe-core")
}

/// The serious and critical accessibility violations axe-core finds on the current page.
async fn accessibility(c: &Client, axe: &str) -> Result<Vec<String>, String> {
    let script = format!(
        "{axe}\nconst done = arguments[arguments.length - 1];\n\
         axe.run(document, {{resultTypes: ['violations']}}).then(r => done(r.violations\n\
           .filter(v => v.impact === 'serious' || v.impact === 'critical')\n\
           .map(v => v.id + ': ' + v.help)));"
    );
    let found = c
        .execute_async(&script, vec![])
        .await
        .map_err(|e| format!("axe: {e}"))?;
    serde_json::from_value(found.clone()).map_err(|_| format!("axe answered {found}"))
}

/// Checks the current page with axe-core; with `PECD_SCREENSHOTS=DIR` also saves it at
/// desktop and phone width as DIR/NAME-desktop.png and DIR/NAME-phone.png.
async fn check_page(c: &Client, axe: &str, name: &str) -> Result<(), String> {
    let bad = accessibility(c, axe).await?;
    expect(bad.is_empty(), format!("{name}: accessibility: {bad:?}"))?;
    if let Ok(dir) = std::env::var("PECD_SCREENSHOTS") {
        for (width, height, suffix) in [(1280, 900, "desktop"), (390, 844, "phone")] {
            c.set_window_size(width, height)
                .await
                .map_err(|e| e.to_string())?;
            let png = c.screenshot().await.map_err(|e| e.to_string())?;
            std::fs::write(format!("{dir}/{name}-{suffix}.png"), png).map_err(|e| e.to_string())?;
        }
        c.set_window_size(1280, 900)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn expect(cond: bool, what: String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what)
    }
}

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
