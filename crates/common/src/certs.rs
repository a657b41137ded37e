//! Development certificates, made on first start when the configured files are missing.
//!
//! Three RSA 2048 certificates: a development CA (written where `signing.chain` points, its
//! key beside it as `ca.key`), a TLS server certificate whose PEM holds the full chain, and a
//! provider signing certificate with the profile of PEC.md §9.2. Existing files are never
//! overwritten: a half-present pair is an error for the operator to resolve.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
    SubjectKeyIdentifier,
};
use openssl::x509::{X509Builder, X509NameBuilder, X509};

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{0}: exists but {1} is missing; refusing to overwrite either (remove both, or provide both)")]
    HalfPresent(PathBuf, PathBuf),
    #[error("{0} is missing and tls.dev_certificates is false")]
    Missing(PathBuf),
    #[error("cannot issue a development certificate: the CA key {0} is missing")]
    NoCaKey(PathBuf),
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("certificate generation failed: {0}")]
    Openssl(#[from] openssl::error::ErrorStack),
}

/// Which files [`ensure_dev_certificates`] created.
#[derive(Debug, Default)]
pub struct Created(pub Vec<PathBuf>);

const RSA_BITS: u32 = 2048;

/// Makes sure the TLS and signing certificates of `config` exist, creating development ones
/// where allowed and missing.
pub fn ensure_dev_certificates(config: &Config) -> Result<Created, CertError> {
    let mut created = Created::default();
    let tls = (&config.tls.cert, &config.tls.key);
    let signer = (&config.signing.cert, &config.signing.key);
    let tls_missing = pair_missing(tls.0, tls.1)?;
    let signer_missing = pair_missing(signer.0, signer.1)?;
    if !tls_missing && !signer_missing {
        return Ok(created);
    }
    if !config.tls.dev_certificates {
        let path = if tls_missing { tls.0 } else { signer.0 };
        return Err(CertError::Missing(path.clone()));
    }
    let ca_cert_path = config.signing.chain.clone();
    let ca_key_path = ca_cert_path.with_file_name("ca.key");
    let (ca_cert, ca_key) = if ca_cert_path.exists() {
        let cert = X509::from_pem(&read(&ca_cert_path)?)?;
        if !ca_key_path.exists() {
            return Err(CertError::NoCaKey(ca_key_path));
        }
        let key = PKey::private_key_from_pem(&read(&ca_key_path)?)?;
        (cert, key)
    } else {
        if ca_key_path.exists() {
            return Err(CertError::HalfPresent(ca_key_path, ca_cert_path));
        }
        let (cert, key) = make_ca(&config.provider.name)?;
        write_new(&ca_key_path, &key.private_key_to_pem_pkcs8()?, 0o600)?;
        write_new(&ca_cert_path, &cert.to_pem()?, 0o644)?;
        created.0.extend([ca_cert_path.clone(), ca_key_path]);
        (cert, key)
    };
    if tls_missing {
        let (cert, key) = make_server(config, &ca_cert, &ca_key)?;
        let mut chain = cert.to_pem()?;
        chain.extend(ca_cert.to_pem()?);
        write_new(tls.1, &key.private_key_to_pem_pkcs8()?, 0o600)?;
        write_new(tls.0, &chain, 0o644)?;
        created.0.extend([tls.0.clone(), tls.1.clone()]);
    }
    if signer_missing {
        let (cert, key) = make_signer(config, &ca_cert, &ca_key)?;
        write_new(signer.1, &key.private_key_to_pem_pkcs8()?, 0o600)?;
        write_new(signer.0, &cert.to_pem()?, 0o644)?;
        created.0.extend([signer.0.clone(), signer.1.clone()]);
    }
    Ok(created)
}

/// The default configuration with every certificate path under `dir/certs`, and the
/// development certificates created there: what tests and benches need to run pecd's
/// crates without a configuration file.
pub fn dev_config_in(dir: &Path) -> Result<Config, CertError> {
    let c = config_in(dir);
    ensure_dev_certificates(&c)?;
    Ok(c)
}

/// The default configuration with every certificate path under `dir/certs`.
fn config_in(dir: &Path) -> Config {
    let mut c = Config::default();
    c.tls.cert = dir.join("certs/server.pem");
    c.tls.key = dir.join("certs/server.key");
    c.signing.cert = dir.join("certs/signer.pem");
    c.signing.key = dir.join("certs/signer.key");
    c.signing.chain = dir.join("certs/ca.pem");
    c
}

fn pair_missing(cert: &Path, key: &Path) -> Result<bool, CertError> {
    match (cert.exists(), key.exists()) {
        (true, true) => Ok(false),
        (false, false) => Ok(true),
        (true, false) => Err(CertError::HalfPresent(cert.into(), key.into())),
        (false, true) => Err(CertError::HalfPresent(key.into(), cert.into())),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    fs::read(path).map_err(|e| CertError::Io(path.into(), e))
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), CertError> {
    let io = |e| CertError::Io(path.into(), e);
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let mut f = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

fn new_key() -> Result<PKey<Private>, CertError> {
    Ok(PKey::from_rsa(Rsa::generate(RSA_BITS)?)?)
}

fn serial() -> Result<Asn1Integer, CertError> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    Ok(bn.to_asn1_integer()?)
}

/// A certificate builder with subject, issuer, key and validity set; `issuer` is `None` for a
/// self-signed certificate.
fn builder(
    subject: &[(&str, &str)],
    issuer: Option<&X509>,
    key: &PKey<Private>,
    days: u32,
) -> Result<X509Builder, CertError> {
    let mut name = X509NameBuilder::new()?;
    for (field, value) in subject {
        name.append_entry_by_text(field, value)?;
    }
    let name = name.build();
    let mut b = X509Builder::new()?;
    b.set_version(2)?;
    let serial = serial()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    match issuer {
        Some(ca) => b.set_issuer_name(ca.subject_name())?,
        None => b.set_issuer_name(&name)?,
    }
    b.set_pubkey(key)?;
    // Backdated an hour so that a peer with a slightly slow clock accepts it at once.
    let not_before = Asn1Time::from_unix(unix_now() - 3600)?;
    let not_after = Asn1Time::days_from_now(days)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    Ok(b)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn make_ca(provider: &str) -> Result<(X509, PKey<Private>), CertError> {
    let key = new_key()?;
    let cn = format!("{provider} development CA");
    let mut b = builder(
        &[("C", "IT"), ("O", provider), ("CN", &cn)],
        None,
        &key,
        3650,
    )?;
    b.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(None, None))?;
    b.append_extension(ski)?;
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// The TLS server certificate: localhost, the loopback addresses, every provider domain and
/// `mail.<domain>`.
fn make_server(
    config: &Config,
    ca: &X509,
    ca_key: &PKey<Private>,
) -> Result<(X509, PKey<Private>), CertError> {
    let key = new_key()?;
    let first = config
        .provider
        .domains
        .first()
        .map(String::as_str)
        .unwrap_or("localhost");
    let cn = format!("mail.{first}");
    let mut b = builder(
        &[("C", "IT"), ("O", &config.provider.name), ("CN", &cn)],
        Some(ca),
        &key,
        825,
    )?;
    b.append_extension(BasicConstraints::new().build()?)?;
    b.append_extension(
        KeyUsage::new()
            .critical()
            .digital_signature()
            .key_encipherment()
            .build()?,
    )?;
    b.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let mut san = SubjectAlternativeName::new();
    san.dns("localhost");
    for ip in [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
    ] {
        san.ip(&ip.to_string());
    }
    for domain in &config.provider.domains {
        san.dns(domain);
        san.dns(&format!("mail.{domain}"));
    }
    let ext = san.build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(ext)?;
    append_key_identifiers(&mut b, ca)?;
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

/// The provider signing certificate of PEC.md §9.2: provider name in O, no e-mail address in
/// the Subject, rfc822Name = service address, keyUsage critical digitalSignature, EKU
/// emailProtection, AKI and SKI, and no basicConstraints.
fn make_signer(
    config: &Config,
    ca: &X509,
    ca_key: &PKey<Private>,
) -> Result<(X509, PKey<Private>), CertError> {
    let key = new_key()?;
    let mut b = builder(
        &[
            ("C", "IT"),
            ("O", &config.provider.name),
            ("CN", "Posta Certificata"),
        ],
        Some(ca),
        &key,
        3 * 365,
    )?;
    b.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    b.append_extension(ExtendedKeyUsage::new().email_protection().build()?)?;
    let ext = SubjectAlternativeName::new()
        .email(&config.provider.service_address)
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(ext)?;
    append_key_identifiers(&mut b, ca)?;
    b.sign(ca_key, MessageDigest::sha256())?;
    Ok((b.build(), key))
}

fn append_key_identifiers(b: &mut X509Builder, ca: &X509) -> Result<(), CertError> {
    let ski = SubjectKeyIdentifier::new().build(&b.x509v3_context(Some(ca), None))?;
    let aki = AuthorityKeyIdentifier::new()
        .keyid(true)
        .build(&b.x509v3_context(Some(ca), None))?;
    b.append_extension(ski)?;
    b.append_extension(aki)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use openssl::nid::Nid;
    use openssl::stack::Stack;
    use openssl::x509::store::X509StoreBuilder;
    use openssl::x509::X509StoreContext;

    fn verifies(cert: &X509, ca: &X509) -> bool {
        let mut store = X509StoreBuilder::new().unwrap();
        store.add_cert(ca.clone()).unwrap();
        let store = store.build();
        let mut ctx = X509StoreContext::new().unwrap();
        ctx.init(&store, cert, &Stack::new().unwrap(), |c| c.verify_cert())
            .unwrap()
    }

    #[test]
    fn creates_all_then_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        let created = ensure_dev_certificates(&config).unwrap();
        assert_eq!(created.0.len(), 6);
        let before = fs::read(&config.tls.cert).unwrap();
        let again = ensure_dev_certificates(&config).unwrap();
        assert!(again.0.is_empty());
        assert_eq!(fs::read(&config.tls.cert).unwrap(), before);
        let mode = fs::metadata(&config.signing.key).unwrap().permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );

        // A lost signer is re-issued from the existing CA without touching anything else.
        fs::remove_file(&config.signing.cert).unwrap();
        fs::remove_file(&config.signing.key).unwrap();
        let created = ensure_dev_certificates(&config).unwrap();
        assert_eq!(
            created.0,
            vec![config.signing.cert.clone(), config.signing.key.clone()]
        );
        assert_eq!(fs::read(&config.tls.cert).unwrap(), before);
    }

    #[test]
    fn half_present_pair_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        ensure_dev_certificates(&config).unwrap();
        fs::remove_file(&config.tls.key).unwrap();
        let err = ensure_dev_certificates(&config).unwrap_err();
        assert!(matches!(err, CertError::HalfPresent(..)), "{err}");
        assert!(config.tls.cert.exists());
    }

    #[test]
    fn production_mode_does_not_invent_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config_in(dir.path());
        config.tls.dev_certificates = false;
        assert!(matches!(
            ensure_dev_certificates(&config),
            Err(CertError::Missing(_))
        ));
        assert!(!config.signing.chain.exists());
    }

    #[test]
    fn profiles_match_the_spec() {
        let dir = tempfile::tempdir().unwrap();
        let config = config_in(dir.path());
        ensure_dev_certificates(&config).unwrap();
        let ca = X509::from_pem(&fs::read(&config.signing.chain).unwrap()).unwrap();
        let chain = X509::stack_from_pem(&fs::read(&config.tls.cert).unwrap()).unwrap();
        assert_eq!(chain.len(), 2, "server.pem carries leaf and CA");
        assert_eq!(chain[1].to_der().unwrap(), ca.to_der().unwrap());
        assert!(verifies(&chain[0], &ca));
        let names: Vec<String> = chain[0]
            .subject_alt_names()
            .unwrap()
            .iter()
            .map(|n| {
                n.dnsname()
                    .map(str::to_string)
                    .or_else(|| n.ipaddress().map(|ip| format!("{ip:?}")))
                    .unwrap_or_default()
            })
            .collect();
        assert!(names.contains(&"localhost".to_string()));
        assert!(names.contains(&"pec.localhost".to_string()));
        assert!(names.contains(&"mail.pec.localhost".to_string()));
        assert!(names.contains(&format!("{:?}", [127u8, 0, 0, 1])));
        assert_eq!(names.iter().filter(|n| n.starts_with('[')).count(), 2);

        let signer = X509::from_pem(&fs::read(&config.signing.cert).unwrap()).unwrap();
        assert!(verifies(&signer, &ca));
        assert_eq!(signer.public_key().unwrap().bits(), 2048);
        let email: Vec<String> = signer
            .subject_alt_names()
            .unwrap()
            .iter()
            .filter_map(|n| n.email().map(str::to_string))
            .collect();
        assert_eq!(email, vec![config.provider.service_address.clone()]);
        let o = signer
            .subject_name()
            .entries_by_nid(Nid::ORGANIZATIONNAME)
            .next()
            .unwrap();
        assert_eq!(o.data().to_string().unwrap(), config.provider.name);
        assert!(signer
            .subject_name()
            .entries_by_nid(Nid::PKCS9_EMAILADDRESS)
            .next()
            .is_none());
        // Extension details are checked with openssl's own text form.
        let text = String::from_utf8(signer.to_text().unwrap()).unwrap();
        assert!(
            text.contains("X509v3 Key Usage: critical\n                Digital Signature\n"),
            "{text}"
        );
        assert!(text.contains("E-mail Protection"), "{text}");
        assert!(text.contains("X509v3 Subject Key Identifier"), "{text}");
        assert!(text.contains("X509v3 Authority Key Identifier"), "{text}");
        assert!(!text.contains("Basic Constraints"), "{text}");
    }
}
