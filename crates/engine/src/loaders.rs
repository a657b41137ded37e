//! What the engine loads from disk at start and on SIGHUP: the provider index (PEC.md §8.3),
//! our own entry of it (§8.2), the trust anchors and revocation lists of peers' signatures
//! (§9.3). `pecd serve`, `pecd verify` and `pecd index export` read them here too.

use openssl::x509::{X509Crl, X509};
use pecd_common::config::Config;
use pecd_signer::{ProviderEntry, ProviderIndex};

/// Our own entry of the provider index (PEC.md §8.2), made from the signing certificate and
/// `[provider]`: what `pecd index export` prints.
pub fn own_entry(config: &Config, cert: &X509) -> ProviderEntry {
    own_entry_for(config, cert, &config.provider.domains)
}

/// Our own entry managing `domains` (those served now: `provider.domains` and the ones the
/// provisioning archive enabled, PROVISIONING.md §5).
pub fn own_entry_for(config: &Config, cert: &X509, domains: &[String]) -> ProviderEntry {
    ProviderEntry::own(
        &config.provider.name,
        cert,
        &config.provider.service_address,
        domains,
    )
}

/// The provider index in force (PEC.md §8.3): the entries of `peers.index` when the file
/// exists, plus our own entry when our signing certificate is given. `pecd serve` and
/// `pecd verify` both read it here.
pub fn load_index(config: &Config, own_cert: Option<&X509>) -> Result<ProviderIndex, String> {
    let path = &config.peers.index;
    let mut index = if path.exists() {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        ProviderIndex::parse_ldif(&String::from_utf8_lossy(&bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?
    } else {
        ProviderIndex::default()
    };
    for e in index.entries() {
        if e.domains.is_empty() {
            // §9.3: such a provider's envelopes all become anomalies (their sender is in no
            // domain it manages).
            tracing::warn!(provider = %e.name, "provider index entry without managedDomains: its envelopes will be anomalies");
        }
    }
    if let Some(cert) = own_cert {
        index.push(own_entry(config, cert));
    }
    Ok(index)
}

/// The CA certificates of `path` (PEM); none when the file does not exist, which means the
/// system's trust store (real providers chain to public roots, PEC.md §9.2).
pub fn load_anchors(path: &std::path::Path) -> Result<Vec<X509>, String> {
    if !path.exists() {
        return Ok(Vec::new());
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    X509::stack_from_pem(&bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// The revocation lists of `paths` (`peers.crls`; each file PEM or DER), in order. A file
/// that is missing or does not parse is an error naming it: pecd does not start with it, and
/// a SIGHUP keeps the lists in force. A list past its nextUpdate is kept and logged (the
/// operator's fetch job has stopped; what it revokes stays revoked).
pub fn load_crls(paths: &[std::path::PathBuf]) -> Result<Vec<X509Crl>, String> {
    let mut all = Vec::new();
    let now = openssl::asn1::Asn1Time::days_from_now(0).map_err(|e| e.to_string())?;
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let crls = pecd_signer::smime::parse_crls(&bytes)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        for crl in &crls {
            if crl.next_update().is_some_and(|next| next < now) {
                tracing::warn!(
                    path = %path.display(),
                    next_update = %crl.next_update().map(|t| t.to_string()).unwrap_or_default(),
                    "revocation list past its nextUpdate: fetch a fresh one"
                );
            }
        }
        all.extend(crls);
    }
    Ok(all)
}
