//! Provider index LDIF parsing (`pecd_signer::ProviderIndex::parse_ldif`, read as
//! `pecd_engine::load_index` reads `peers.index`), then the lookups the engine makes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pecd_signer::ProviderIndex;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    if let Ok(index) = ProviderIndex::parse_ldif(&text) {
        let _ = index.by_domain("pec.localhost");
        let _ = index.by_certificate(&pecd_fuzz::identity::anchors()[0]);
        // Each entry written back (as `pecd index export` writes ours) reads again.
        let ldif: String = index.entries().iter().map(|e| e.to_ldif() + "\n").collect();
        let _ = ProviderIndex::parse_ldif(&ldif);
    }
});
