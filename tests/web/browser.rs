//! The browser of the web tests: headless Chromium through chromedriver (WebDriver,
//! fantoccini), form helpers, axe-core and screenshots.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};

use crate::support::*;

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// chromedriver on a free port, and a WebDriver session of headless Chromium.
pub struct Browser {
    pub client: Client,
    _driver: Driver,
}

pub async fn browser() -> Browser {
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
pub async fn with_screenshot<F, Fut>(s: &Server, b: &Browser, steps: F)
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

pub async fn fill(c: &Client, id: &str, text: &str) -> Result<(), String> {
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

pub async fn submit(c: &Client) -> Result<(), String> {
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

pub async fn page_text(c: &Client) -> Result<String, String> {
    c.find(Locator::Css("main"))
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())
}

/// The text of the page once it contains `needle` (the next page after a submit has
/// loaded), within five seconds.
pub async fn wait_for(c: &Client, needle: &str) -> Result<String, String> {
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
pub fn axe_source() -> String {
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
pub async fn accessibility(c: &Client, axe: &str) -> Result<Vec<String>, String> {
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
pub async fn check_page(c: &Client, axe: &str, name: &str) -> Result<(), String> {
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

pub fn expect(cond: bool, what: String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what)
    }
}
