//! daticert.xml parsing (`pecd_signer::Daticert::parse`), as the Incoming Point reads the
//! daticert of a peer's envelope or receipt; a parsed one is written back and read again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pecd_signer::Daticert;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = Daticert::parse(data) {
        let xml = d.to_xml();
        // What we write must read back: it is what our own receipts carry.
        let again = Daticert::parse(xml.as_bytes());
        assert!(
            again.is_ok(),
            "to_xml of a parsed daticert does not parse: {again:?}\n{xml}"
        );
    }
});
