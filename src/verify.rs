//! `pecd verify` and `pecd index export`: the offline commands over PEC messages and the
//! provider index (ARCHITECTURE.md "Interfaces").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use openssl::x509::X509;
use pecd_common::config::Config;
use pecd_signer::inspect::{check, CheckOptions, Report};
use pecd_signer::{ChainTime, Moment};

pub struct VerifyArgs {
    pub config: Option<PathBuf>,
    pub trust_anchors: Option<PathBuf>,
    /// Revocation lists; none: `peers.crls`.
    pub crls: Vec<PathBuf>,
    pub at_signing_time: bool,
    pub require_index: bool,
    pub json: bool,
    pub files: Vec<PathBuf>,
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

/// Our signing certificate, when it exists yet.
fn own_certificate(config: &Config) -> Result<Option<X509>, String> {
    if !config.signing.cert.exists() {
        return Ok(None);
    }
    X509::from_pem(&read(&config.signing.cert)?)
        .map(Some)
        .map_err(|e| format!("{}: {e}", config.signing.cert.display()))
}

pub fn verify(args: VerifyArgs) -> ExitCode {
    let (config, _) = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return crate::fail(e),
    };
    // Without a file: the system's trust store (real providers chain to public roots).
    let anchors_path = args
        .trust_anchors
        .clone()
        .unwrap_or_else(|| config.peers.trust_anchors.clone());
    if args.trust_anchors.is_some() && !anchors_path.exists() {
        return crate::fail(format!("{}: no such file", anchors_path.display()));
    }
    let anchors = match pecd_engine::load_anchors(&anchors_path) {
        Ok(a) => a,
        Err(e) => return crate::fail(e),
    };
    let crl_paths = if args.crls.is_empty() {
        &config.peers.crls
    } else {
        &args.crls
    };
    let crls = match pecd_engine::load_crls(crl_paths) {
        Ok(c) => c,
        Err(e) => return crate::fail(e),
    };
    let index = match own_certificate(&config)
        .and_then(|cert| pecd_engine::load_index(&config, cert.as_ref()))
    {
        Ok(i) => i,
        Err(e) => return crate::fail(e),
    };
    let options = CheckOptions {
        anchors: &anchors,
        crls: &crls,
        index: &index,
        time: if args.at_signing_time {
            ChainTime::SigningTime
        } else {
            ChainTime::Now
        },
        require_index: args.require_index,
    };
    let mut all_valid = !args.files.is_empty();
    let mut out = Vec::new();
    for file in &args.files {
        let report = match read(file) {
            Ok(bytes) => check(&bytes, &options),
            Err(e) => {
                all_valid = false;
                eprintln!("pecd: {e}");
                continue;
            }
        };
        all_valid &= report.valid;
        if args.json {
            out.push(serde_json::json!({ "file": file.display().to_string(), "report": report }));
        } else {
            print_report(file, &report);
        }
    }
    if args.json {
        println!("{}", serde_json::Value::Array(out));
    }
    if all_valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn print_report(file: &Path, r: &Report) {
    println!(
        "{}: {}",
        file.display(),
        if r.valid {
            "valid PEC message"
        } else {
            "NOT VALID"
        }
    );
    match (r.kind, r.kind_name) {
        (Some(k), Some(name)) => {
            let (h, v) = k.type_header();
            println!("  kind:       {name} ({h}: {v})");
        }
        _ => println!("  kind:       not a PEC message"),
    }
    match &r.signature {
        Ok(()) => println!(
            "  signature:  valid ({}, {}){}",
            r.digest.unwrap_or("?"),
            r.protocol.as_deref().unwrap_or("?"),
            r.signing_time
                .map(|t| format!(", signed {}", Moment::from_unix(t).text()))
                .unwrap_or_default()
        ),
        Err(e) => println!("  signature:  {e}"),
    }
    if let Some(s) = &r.signer_subject {
        println!(
            "  signer:     {s} <{}> sha1 {}",
            r.signer_email.join(", "),
            r.signer_sha1.as_deref().unwrap_or("")
        );
        match &r.chain {
            Ok(()) => println!("  chain:      valid"),
            Err(e) => println!("  chain:      {e}"),
        }
        println!(
            "  index:      {}",
            r.provider
                .as_deref()
                .unwrap_or("signer not in the provider index")
        );
    }
    if let Some(d) = &r.daticert {
        println!(
            "  daticert:   tipo={} errore={} {} {} ({})",
            d.tipo,
            d.errore.as_str(),
            d.giorno,
            d.ora,
            d.zona
        );
        println!("              identificativo {}", d.identificativo);
        if let Some(m) = &d.msgid {
            println!("              msgid {m}");
        }
        println!("              mittente {}", d.mittente);
        for x in &d.destinatari {
            let t = if x.certificato {
                "certificato"
            } else {
                "esterno"
            };
            println!("              destinatario {} ({t})", x.address);
        }
        if let Some(c) = &d.consegna {
            println!("              consegna {c}");
        }
        if let Some(e) = &d.errore_esteso {
            println!("              errore-esteso {e}");
        }
        println!("              gestore {}", d.gestore_emittente);
    }
    for e in &r.errors {
        println!("  error:      {e}");
    }
    for n in &r.notes {
        println!("  note:       {n}");
    }
}

pub fn index_export(config: Option<PathBuf>) -> ExitCode {
    let (config, _) = match Config::load(config.as_deref()) {
        Ok(c) => c,
        Err(e) => return crate::fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return crate::fail(format!("cannot start the runtime: {e}")),
    };
    // A running pecd holds the store: it answers with the domains it serves now.
    if let Some(ldif) = runtime.block_on(ask_server(&config)) {
        print!("{ldif}");
        return ExitCode::SUCCESS;
    }
    match own_certificate(&config) {
        Ok(Some(cert)) => {
            let domains = runtime.block_on(stored_domains(&config));
            print!(
                "{}",
                pecd_engine::own_entry_for(&config, &cert, &domains).to_ldif()
            );
            ExitCode::SUCCESS
        }
        Ok(None) => crate::fail(format!(
            "{}: no signing certificate yet (pecd serve creates development ones)",
            config.signing.cert.display()
        )),
        Err(e) => crate::fail(e),
    }
}

/// Our entry as the running server makes it, or `None` when no server answers.
async fn ask_server(config: &Config) -> Option<String> {
    use pecd_control::client::Client;
    use pecd_control::protocol::Request;
    let mut client = Client::connect(&config.control.socket).await.ok()?;
    match client.call::<String>(&Request::IndexExport).await {
        Ok(ldif) => Some(ldif),
        Err(e) => {
            tracing::warn!(error = %e, "the running pecd did not export its entry; reading the store");
            None
        }
    }
}

/// The domains served when pecd is not running: `provider.domains` and the ones the
/// provisioning archive enabled, read from the store.
async fn stored_domains(config: &Config) -> Vec<String> {
    let initial = config.provider.domains.clone();
    if !config.store.path.exists() {
        return initial;
    }
    let store = match pecd_store::Store::open_with(
        &config.store.path,
        pecd_store::Retention::default(),
        config.store.cache_bytes,
    ) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "store not readable: exporting provider.domains only");
            return initial;
        }
    };
    let domains = std::sync::Arc::new(pecd_common::domains::LocalDomains::new(&initial));
    let config = std::sync::Arc::new(config.clone());
    match pecd_archive::Archive::open(store, config, domains.clone()).await {
        Ok(_) => domains.list(),
        Err(e) => {
            tracing::warn!(error = %e, "archive not readable: exporting provider.domains only");
            initial
        }
    }
}
