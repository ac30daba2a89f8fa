//! TLS for the relay (`wss://`), the client's side: trust in the system roots plus an optional
//! CA file, and the PEM reading the server's side (`listener.rs`) shares. rustls with the
//! `ring` provider throughout.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};
use tokio_tungstenite::Connector;

use crate::error::Error;

pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn config_error(path: &Path, what: impl std::fmt::Display) -> Error {
    Error::Config(format!("{}: {what}", path.display()))
}

/// A PEM file that could not be read or holds no `what`.
pub(crate) fn pem_error(path: &Path, what: &str, e: rustls::pki_types::pem::Error) -> Error {
    match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            config_error(path, format!("no {what} in the PEM file"))
        }
        e => config_error(path, e),
    }
}

/// The certificates of a PEM file (at least one).
pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, "certificate", e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(path, "certificate", e))?;
    if certs.is_empty() {
        return Err(pem_error(
            path,
            "certificate",
            rustls::pki_types::pem::Error::NoItemsFound,
        ));
    }
    Ok(certs)
}

/// Whether `url` is a `wss://` URL.
fn is_secure(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("wss://"))
}

/// The client's TLS settings for `url`: none for `ws://`; for `wss://`, the operating
/// system's root certificates and those of `ca_file`.
///
/// The roots are the system's, through `rustls-native-certs`, rather than a list compiled
/// into the program (`webpki-roots`): the game plugins run on Windows, whose store Windows
/// Update keeps current and administrators extend, and a program that is rarely rebuilt would
/// otherwise carry an ageing list. `SSL_CERT_FILE` and `SSL_CERT_DIR` replace the store.
pub(crate) fn connector(url: &str, ca_file: Option<&Path>) -> Result<Option<Connector>, Error> {
    if !is_secure(url) {
        return match ca_file {
            Some(path) => Err(config_error(
                path,
                format!("a CA file is for wss:// URLs, and {url} is not one"),
            )),
            None => Ok(None),
        };
    }
    let mut roots = RootCertStore::empty();
    let system = rustls_native_certs::load_native_certs();
    for e in &system.errors {
        tracing::warn!(error = %e, "signal: a system root certificate could not be loaded");
    }
    let (_, ignored) = roots.add_parsable_certificates(system.certs);
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "signal: system root certificates rustls cannot use"
        );
    }
    if let Some(path) = ca_file {
        for cert in read_certificates(path)? {
            roots.add(cert).map_err(|e| config_error(path, e))?;
        }
    }
    if roots.is_empty() {
        return Err(Error::Config(
            "no root certificate to check the signal server's with: the system has none and no CA file was given"
                .into(),
        ));
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Connector::Rustls(Arc::new(config))))
}

/// The client's error for a failed connection: [`Error::Tls`] when TLS failed (the
/// server's certificate not trusted, for one), [`Error::Connect`] otherwise.
pub(crate) fn connect_error(e: tokio_tungstenite::tungstenite::Error) -> Error {
    use tokio_tungstenite::tungstenite::Error as WsError;
    match &e {
        WsError::Tls(tls) => Error::Tls(tls.to_string()),
        WsError::Io(io) => match io.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
            Some(tls) => Error::Tls(tls.to_string()),
            None => Error::Connect(e.to_string()),
        },
        _ => Error::Connect(e.to_string()),
    }
}
