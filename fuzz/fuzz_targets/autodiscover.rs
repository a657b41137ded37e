//! Outlook autodiscover request bodies (`POST /autodiscover/autodiscover.xml`, read before
//! any login): the XML reader that finds `<EMailAddress>`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Some(address) = pecd_http::autoconfig::requested_address(data) {
        let _ = pecd_common::address::Address::parse(&address);
    }
});
