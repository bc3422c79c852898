//! Certificates and private keys read from PEM files: the hub's
//! certificate chain and key, and the private CA a hub client trusts.
//!
//! rustls-pki-types parses them (already in the tree through ureq and
//! rustls). A file is read whole up to [`MAX_PEM`], so a wrong path (a
//! device, a log) cannot fill memory, and an error names the file and what
//! is wrong with it, never its bytes: a key file is a secret.

use std::io::Read;
use std::path::Path;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::CertificateDer;
#[cfg(feature = "hub")]
use rustls::pki_types::PrivateKeyDer;

use crate::error::{Error, Result};

/// The largest PEM file read: a chain of a few certificates, or a bundle
/// of a few hundred, is well under it.
const MAX_PEM: u64 = 1024 * 1024;

/// The bytes of `path`, `what` naming it in errors ("certificate file").
fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    let shown = path.display();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::config(format!("cannot read {what} {shown}: {e}")))?;
    let mut bytes = Vec::new();
    file.take(MAX_PEM + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::config(format!("cannot read {what} {shown}: {e}")))?;
    if bytes.len() as u64 > MAX_PEM {
        return Err(Error::config(format!(
            "{what} {shown} is larger than {} KiB: not a PEM file",
            MAX_PEM / 1024
        )));
    }
    Ok(bytes)
}

/// What is wrong with a PEM file, in words that quote none of it.
fn problem(e: &pem::Error) -> &'static str {
    match e {
        pem::Error::MissingSectionEnd { .. } => "a PEM section has no END line",
        pem::Error::IllegalSectionStart { .. } => "a PEM BEGIN line is malformed",
        pem::Error::Base64Decode(_) => "a PEM section is not valid base64",
        pem::Error::SectionTooLarge => "a PEM section is too large",
        _ => "not a PEM file",
    }
}

/// Every certificate of the PEM file at `path`, in order (a server's own
/// certificate first, then its chain; or the CAs of a bundle).
///
/// # Errors
///
/// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the
/// file if it cannot be read, is malformed, or holds no certificate.
pub(crate) fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let what = "certificate file";
    let bytes = read(path, what)?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::config(format!("{what} {}: {}", path.display(), problem(&e))))?;
    if certs.is_empty() {
        return Err(Error::config(format!(
            "{what} {}: no CERTIFICATE section",
            path.display()
        )));
    }
    Ok(certs)
}

/// The first private key (PKCS#8, PKCS#1 or SEC1) of the PEM file at
/// `path`.
///
/// # Errors
///
/// An [`ErrorKind::Config`](crate::ErrorKind::Config) error naming the
/// file if it cannot be read, is malformed, or holds no private key.
#[cfg(feature = "hub")]
pub(crate) fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let what = "private key file";
    let bytes = read(path, what)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| {
        let problem = match e {
            pem::Error::NoItemsFound => "no PRIVATE KEY section",
            e => problem(&e),
        };
        Error::config(format!("{what} {}: {problem}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("weixin-pem-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn errors_name_the_file_and_quote_none_of_it() {
        let missing = Path::new("/nonexistent/ca.pem");
        let e = certificates(missing).unwrap_err().to_string();
        assert!(
            e.starts_with(
                "invalid configuration: cannot read certificate file /nonexistent/ca.pem: "
            ),
            "{e}"
        );
        let empty = file("empty.pem", "just words\n");
        let e = certificates(&empty).unwrap_err().to_string();
        assert!(e.ends_with("empty.pem: no CERTIFICATE section"), "{e}");
        let broken = file(
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nc2VjcmV0IGJ5dGVz!!!\n-----END CERTIFICATE-----\n",
        );
        let e = certificates(&broken).unwrap_err().to_string();
        assert!(
            e.ends_with("broken.pem: a PEM section is not valid base64"),
            "{e}"
        );
        assert!(!e.contains("c2VjcmV0"), "{e}");
        let cut = file("cut.pem", "-----BEGIN CERTIFICATE-----\nc2VjcmV0\n");
        let e = certificates(&cut).unwrap_err().to_string();
        assert!(e.ends_with("cut.pem: a PEM section has no END line"), "{e}");
    }

    #[cfg(feature = "hub")]
    #[test]
    fn a_key_file_without_a_key_says_so() {
        let path = file(
            "nokey.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let e = private_key(&path).unwrap_err().to_string();
        assert!(e.ends_with("nokey.pem: no PRIVATE KEY section"), "{e}");
    }
}
