//! The web pages in a real browser: headless Chromium driven through chromedriver
//! (WebDriver, fantoccini) against the real pecd: the holders' self-service under /account/
//! (`account`) and the operators' console under /console/ (`console`). Every page passes
//! axe-core (npm) with no serious or critical violation. On failure a screenshot is saved in
//! the test's data directory; with `PECD_SCREENSHOTS=DIR` each page is saved there at desktop
//! and phone width (docs/screenshots/ was made so).

mod support;

#[path = "web/account.rs"]
mod account;
#[path = "web/browser.rs"]
mod browser;
#[path = "web/console.rs"]
mod console;
#[path = "web/holder.rs"]
mod holder;
