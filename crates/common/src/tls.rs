//! rustls server configuration: TLS 1.2 and 1.3 only, the full chain from the PEM file.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
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

/// Builds the server configuration every TLS listener of pecd shares. The whole chain of
/// `cert` is served: clients that cannot find an intermediate are the commonest support case
/// after a certificate change (PROVISIONING.md §10).
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let chain = load_chain(cert)?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.display().to_string(),
        message: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
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
        let server = server_config(&config.tls.cert, &config.tls.key).unwrap();

        let mut roots = RootCertStore::empty();
        for ca in load_chain(&config.signing.chain).unwrap() {
            roots.add(ca).unwrap();
        }
        for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
            let client = ClientConfig::builder_with_protocol_versions(&[version])
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
            server_config(&dir.path().join("nope.pem"), &empty),
            Err(TlsError::Certs { .. })
        ));
    }
}
