//! TLS for STARTTLS (RFC 3207): what a connection requires ([`TlsPolicy`]), the trust roots
//! the server certificate is checked against ([`trust_roots`]) and the handshake itself.
//! rustls with the ring provider, TLS 1.2 and 1.3 only, the server name always verified.

use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::ConnectError;

/// TLS requirements of a connection.
#[derive(Clone, Debug)]
pub struct TlsPolicy {
    /// Refuse to send without STARTTLS.
    /// When false STARTTLS is still used if the server offers it; a failed
    /// handshake then fails the connection (no plaintext retry).
    pub required: bool,
    /// Roots used to verify the server certificate (the name checked is the
    /// `server_name` given to [`crate::send_batch`]).
    pub roots: Arc<rustls::RootCertStore>,
}

/// The roots a server certificate may chain to: the public web roots plus `extra` (DER
/// certificates the caller trusts as well, e.g. a private CA of its peers).
pub fn trust_roots(extra: &[Vec<u8>]) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        roots
            .add(CertificateDer::from(der.clone()))
            .map_err(|e| format!("TLS root: {e}"))?;
    }
    Ok(roots)
}

pub(crate) async fn start_tls<S>(
    stream: S,
    server_name: &str,
    roots: &Arc<rustls::RootCertStore>,
    timeout: Duration,
) -> Result<TlsStream<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let name = ServerName::try_from(server_name.to_string())
        .map_err(|e| ConnectError::Tls(format!("invalid server name {server_name:?}: {e}")))?;
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ConnectError::Tls(e.to_string()))?
    .with_root_certificates(Arc::clone(roots))
    .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(config));
    match time::timeout(timeout, connector.connect(name, stream)).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(ConnectError::Tls(e.to_string())),
        Err(_) => Err(ConnectError::Timeout("TLS handshake".to_string())),
    }
}
