//! Request files (`pecctl request create|modify|complete --file`, the HTTPS API's request
//! bodies): `pecd_archive::requests::file::parse` on TOML or JSON text, then the per-line
//! checks that need no store (people, expiry, type).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pecd_archive::requests::{file, validate};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(f) = file::parse(&text) {
        let _ = validate::people_errors(&f.richiedente, &f.titolare);
        let today = chrono::NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let _ = validate::expiry(f.expiry.as_deref(), today);
        for line in &f.mailboxes {
            let _ = validate::line_type(line.kind.as_deref(), true);
            let _ = pecd_common::address::Address::parse(&line.address);
        }
    }
});
