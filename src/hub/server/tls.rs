//! HTTPS for the hub: rustls on the ring provider (the one ureq already
//! brings), its certificate chain and key read from PEM files.
//!
//! The certificate a handshake is answered with is asked of [`Current`],
//! a resolver holding an `Arc` that a reload swaps: the listener, the
//! rustls configuration and open connections are untouched, and every
//! handshake after the swap gets the new certificate. A reload that fails
//! keeps the certificate in use.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

use crate::error::{Error, Result};

/// The certificate and key files of a hub serving HTTPS, and what they
/// hold now.
pub(super) struct Tls {
    cert_file: PathBuf,
    key_file: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: Arc<Current>,
    acceptor: TlsAcceptor,
}

/// The certificate every handshake is answered with, swapped by a reload.
#[derive(Debug)]
struct Current(RwLock<Arc<CertifiedKey>>);

impl ResolvesServerCert for Current {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.read().clone())
    }
}

impl Tls {
    /// Reads `cert_file` (the certificate, then its chain) and `key_file`
    /// (its private key).
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the
    /// file that cannot be read or parsed, or both if the key is not the
    /// certificate's.
    pub(super) fn load(cert_file: &Path, key_file: &Path) -> Result<Tls> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = certified_key(&provider, cert_file, key_file)?;
        let current = Arc::new(Current(RwLock::new(Arc::new(key))));
        let mut config = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("cannot set up tls: {e}")))?
            .with_no_client_auth()
            .with_cert_resolver(current.clone());
        // hyper serves HTTP/1.1 only.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            provider,
            current,
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Reads the files again and, if they hold a usable certificate and
    /// key, answers every handshake from now on with them; otherwise logs
    /// the error and keeps the certificate in use.
    pub(super) fn reload(&self) -> Result<()> {
        match certified_key(&self.provider, &self.cert_file, &self.key_file) {
            Ok(key) => {
                *self.current.0.write() = Arc::new(key);
                Ok(())
            }
            Err(e) => {
                log::error!(
                    "wechat hub: tls reload failed, still serving the previous certificate: {e}"
                );
                Err(e)
            }
        }
    }

    pub(super) fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    pub(super) fn cert_file(&self) -> &Path {
        &self.cert_file
    }
}

/// The chain of `cert_file` with the key of `key_file`, checked to match.
fn certified_key(
    provider: &rustls::crypto::CryptoProvider,
    cert_file: &Path,
    key_file: &Path,
) -> Result<CertifiedKey> {
    let chain = crate::pem::certificates(cert_file)?;
    let key = crate::pem::private_key(key_file)?;
    // rustls's message names the key's kind, never its bytes.
    let signing = provider.key_provider.load_private_key(key).map_err(|e| {
        Error::config(format!(
            "private key file {}: not a usable key ({e})",
            key_file.display()
        ))
    })?;
    let certified = CertifiedKey::new(chain, signing);
    match certified.keys_match() {
        // `Unknown`: the key cannot say its public half; rustls would
        // find a mismatch at the first handshake.
        Ok(()) | Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => {
            Ok(certified)
        }
        Err(_) => Err(Error::config(format!(
            "private key file {} is not the key of certificate file {}",
            key_file.display(),
            cert_file.display()
        ))),
    }
}

/// Whether a hub listening on `addr` sends tokens and its bearer secret
/// in clear text that others on the network may read: without TLS, on
/// anything but a loopback address (an unspecified address, `0.0.0.0` or
/// `::`, listens on every interface).
pub(super) fn clear_text_risk(addr: SocketAddr, tls: bool) -> bool {
    // `::ffff:127.0.0.1` is loopback too.
    !tls && !addr.ip().to_canonical().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_text_is_a_risk_off_loopback_only() {
        let risk = |addr: &str, tls| clear_text_risk(addr.parse().unwrap(), tls);
        for local in [
            "127.0.0.1:4000",
            "127.1.2.3:1",
            "[::1]:4000",
            "[::ffff:127.0.0.1]:4000",
        ] {
            assert!(!risk(local, false), "{local}");
        }
        for open in [
            "0.0.0.0:4000",
            "[::]:4000",
            "10.0.0.5:4000",
            "192.168.1.2:443",
            "[2001:db8::1]:4000",
            "[::ffff:10.0.0.1]:4000",
        ] {
            assert!(risk(open, false), "{open}");
            assert!(!risk(open, true), "{open} with tls");
        }
    }
}
