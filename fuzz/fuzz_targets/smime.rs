//! S/MIME verification of a peer's message (`pecd_signer::smime::verify`, §9.3): the
//! multipart/signed split, CMS parsing and signature check, signer and chain against the
//! fixed development CA of fuzz/fixtures, then the parts of the signed entity that the
//! Incoming Point reads (`inspect::entity_part`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pecd_fuzz::identity;
use pecd_signer::inspect;
use pecd_signer::smime::{self, ChainTime};

fuzz_target!(|data: &[u8]| {
    let _ = smime::split_signed(data);
    let _ = inspect::classify(data);
    // The signature's own signingTime (or now, without one): the seeds' certificates were
    // valid then, so the chain check runs to its end.
    if let Ok(v) = smime::verify(data, identity::anchors(), ChainTime::SigningTime) {
        let _ = inspect::certificate_emails(&v.signer);
        for name in ["daticert.xml", "postacert.eml", "smime.p7s"] {
            let _ = inspect::entity_part(&v.entity, name);
        }
    }
});
