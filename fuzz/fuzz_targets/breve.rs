//! The hash-substituted original of a ricevuta breve (`pecd_signer::breve::substitute`) over
//! any message a peer could send.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = pecd_signer::breve::substitute(data);
});
