//! rustls server configuration: TLS 1.2 and 1.3 only, the full chain from the PEM file, and
//! a certificate that SIGHUP replaces without a restart.

use std::path::Path;
use std::sync::{Arc, RwLock};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read certificates: {message}")]
    Certs { path: String, message: String },
    #[error("{path}: no certificate found")]
    NoCerts { path: String },
    #[error("{path}: cannot read private key: {message}")]
    Key { path: String, message: String },
    #[error("certificate and key do not form a usable TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// Reads every certificate of a PEM file, in order (leaf first).
pub fn load_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let chain = CertificateDer::pem_file_iter(path)
        .map_err(|e| TlsError::Certs {
            path: shown.clone(),
            message: e.to_string(),
        })?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certs {
            path: shown.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCerts { path: shown });
    }
    Ok(chain)
}

fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The chain of `cert` with the key of `key`, checked to belong together.
fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain = load_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    Ok(CertifiedKey::from_der(chain, key, &provider())?)
}

/// The certificate every TLS listener serves (`[tls] cert` and `key`). [`reload`] swaps it:
/// handshakes after the swap get the new one, connections already open keep theirs, and a
/// bad new file leaves the old one in force.
///
/// [`reload`]: ServerCertificate::reload
#[derive(Debug)]
pub struct ServerCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServerCertificate {
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<ServerCertificate>, TlsError> {
        Ok(Arc::new(ServerCertificate {
            current: RwLock::new(Arc::new(certified_key(cert, key)?)),
        }))
    }

    /// Reads `cert` and `key` again (SIGHUP); on an error the certificate in force stays.
    pub fn reload(&self, cert: &Path, key: &Path) -> Result<(), TlsError> {
        let fresh = Arc::new(certified_key(cert, key)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// The certificate in force.
    pub fn current(&self) -> Arc<CertifiedKey> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl ResolvesServerCert for ServerCertificate {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Builds the server configuration every TLS listener of pecd shares, serving `certificate`.
/// The whole chain of the certificate file is served: clients that cannot find an
/// intermediate are the commonest support case after a certificate change (PROVISIONING.md
/// §10).
pub fn server_config(certificate: Arc<ServerCertificate>) -> Result<Arc<ServerConfig>, TlsError> {
    let config = ServerConfig::builder_with_provider(Arc::new(provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(certificate);
    Ok(Arc::new(config))
}

/// The TLS configuration of the HTTPS listener: as [`server_config`], offering HTTP/2 and
/// HTTP/1.1 by ALPN.
pub fn http_server_config(
    certificate: Arc<ServerCertificate>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = Arc::unwrap_or_clone(server_config(certificate)?);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::certs::dev_config_in;
    use rustls::pki_types::ServerName;
    use rustls::{ClientConfig, RootCertStore};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn handshake_serves_full_chain_with_modern_versions() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config_in(dir.path()).unwrap();
        let certificate = ServerCertificate::load(&config.tls.cert, &config.tls.key).unwrap();
        let server = server_config(certificate).unwrap();

        let mut roots = RootCertStore::empty();
        for ca in load_chain(&config.signing.chain).unwrap() {
            roots.add(ca).unwrap();
        }
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            // The same provider as the server's, whatever rustls features a build unifies.
            let client = ClientConfig::builder_with_provider(Arc::new(provider()))
                .with_protocol_versions(&[version])
                .unwrap()
                .with_root_certificates(roots.clone())
                .with_no_client_auth();
            let (a, b) = tokio::io::duplex(64 * 1024);
            let acceptor = tokio_rustls::TlsAcceptor::from(server.clone());
            let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
            let srv = tokio::spawn(async move {
                let mut s = acceptor.accept(a).await.unwrap();
                s.write_all(b"ok").await.unwrap();
                s.shutdown().await.unwrap();
            });
            let name = ServerName::try_from("mail.pec.localhost").unwrap();
            let mut c = connector.connect(name, b).await.unwrap();
            let (_, conn) = c.get_ref();
            assert_eq!(conn.protocol_version(), Some(version.version));
            assert_eq!(
                conn.peer_certificates().unwrap().len(),
                2,
                "leaf and CA served"
            );
            let mut buf = Vec::new();
            c.read_to_end(&mut buf).await.unwrap();
            assert_eq!(buf, b"ok");
            srv.await.unwrap();
        }
    }

    #[test]
    fn missing_or_empty_files_are_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        assert!(matches!(load_chain(&empty), Err(TlsError::NoCerts { .. })));
        assert!(matches!(
            ServerCertificate::load(&dir.path().join("nope.pem"), &empty),
            Err(TlsError::Certs { .. })
        ));
    }

    #[test]
    fn reload_swaps_the_certificate_and_keeps_it_on_a_bad_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dev_config_in(dir.path()).unwrap();
        let (cert, key) = (&config.tls.cert, &config.tls.key);
        let certificate = ServerCertificate::load(cert, key).unwrap();
        let first = certificate.current().cert[0].clone();

        // A chain whose leaf is not the key's certificate: refused, the old one stays.
        let ca = std::fs::read(&config.signing.chain).unwrap();
        let mismatched = dir.path().join("mismatched.pem");
        std::fs::write(&mismatched, &ca).unwrap();
        assert!(certificate.reload(&mismatched, key).is_err());
        let garbage = dir.path().join("garbage.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        assert!(certificate.reload(&garbage, key).is_err());
        assert_eq!(certificate.current().cert[0], first);

        // The CA's own certificate and key form a valid pair: swapped in.
        let ca_key = config.signing.chain.with_file_name("ca.key");
        certificate.reload(&config.signing.chain, &ca_key).unwrap();
        assert_ne!(certificate.current().cert[0], first);
        assert_eq!(
            certificate.current().cert[0],
            load_chain(&config.signing.chain).unwrap()[0]
        );
    }
}
