//! The Incoming Point's classification of a message from outside (`Engine::receive`, PEC.md
//! §6.3), on its pure parts: building a whole `Engine` per input would fuzz the store more
//! than the rules. The same steps in the same order: `inspect::check` against the fixed
//! index and CA of fuzz/fixtures (kind headers, signature, chain, signer in the index, From
//! against the certificate, daticert and its `tipo`, Message-ID / X-Riferimento-Message-ID),
//! then by outcome: ordinary mail goes into a busta di anomalia (`build::anomaly`, signed with
//! a development key) after the virus scan; a valid envelope has its certified recipients
//! checked, its postacert.eml scanned, read for To/Cc and hash-substituted for a breve
//! receipt; a valid receipt names its addressee. The first input byte picks the RCPT TO list.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pecd_engine::{Eicar, Scanner};
use pecd_fuzz::identity;
use pecd_signer::build::{self, Provider};
use pecd_signer::inspect::{self, CheckOptions};
use pecd_signer::{mime, ChainTime, Kind, Moment, ReceiptType, Signer};

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let c = pecd_fuzz::dev_config();
        let read = |p: &std::path::Path| std::fs::read(p).expect("development certificate");
        Signer::from_pem(
            &read(&c.signing.cert),
            &read(&c.signing.key),
            &read(&c.signing.chain),
        )
        .expect("signer")
    })
}

const RECIPIENTS: [&str; 3] = ["luigi@pec.localhost", "anna@pec.localhost", "x@example.org"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else {
        return;
    };
    let recipients: Vec<&str> = RECIPIENTS
        .iter()
        .enumerate()
        .filter(|(i, _)| pick & (1 << i) != 0)
        .map(|(_, r)| *r)
        .collect();
    let opts = CheckOptions {
        anchors: identity::anchors(),
        crls: &[],
        index: identity::index(),
        time: ChainTime::SigningTime,
        require_index: true,
    };
    let report = inspect::check(message, &opts);
    let listed = report.entry.is_some() && report.signature.is_ok() && report.chain.is_ok();
    let kind = report.kind.filter(|k| *k != Kind::Anomaly);
    let (true, Some(kind), true) = (listed, kind, report.valid) else {
        // Ordinary mail, or a provider's message that is not formally correct.
        let _ = Eicar.scan(message);
        let provider = Provider {
            name: identity::PROVIDER.into(),
            service_address: identity::SERVICE_ADDRESS.into(),
        };
        let built = build::anomaly(
            signer(),
            &provider,
            message,
            "a@peer.example",
            Moment::from_unix(1_730_710_800),
        );
        let _ = built.expect("a busta di anomalia can be built around anything");
        return;
    };
    let d = report
        .daticert
        .as_ref()
        .expect("a valid message of a provider has daticert");
    if kind == Kind::Envelope {
        let listed = |a: &str| {
            d.destinatari
                .iter()
                .any(|x| x.certificato && x.address.eq_ignore_ascii_case(a))
        };
        let _ = recipients.iter().all(|a| listed(a));
        let entity = report.entity.clone().unwrap_or_default();
        let original = inspect::entity_part(&entity, "postacert.eml").unwrap_or_default();
        let _ = mime::header(message, "X-TipoRicevuta").and_then(|v| ReceiptType::parse(&v));
        let _ = Eicar.scan(&original);
        let _ = read_original(&original);
        let _ = pecd_signer::breve::substitute(&original);
    } else {
        let _ = match kind {
            Kind::TakingCharge | Kind::VirusDetection => d.ricezione.len(),
            _ => d.consegna.iter().count(),
        };
    }
});

/// What the Delivery Point reads of the original (To and Cc, as the engine's `facts::parse`).
fn read_original(original: &[u8]) -> usize {
    pecd_signer::build::decoded_subject(original).len() + mime::fields(original).len()
}
