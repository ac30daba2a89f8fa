//! TLS for the relay (`wss://`), the server's side: its certificate and key, and a listener
//! that runs TLS handshakes beside its accept loop.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::PrivateKeyDer;
use rustls::ServerConfig;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::Error;
use crate::tls::{pem_error, provider, read_certificates};

/// TLS handshakes under way at once, all addresses together; a connection beyond is closed.
const MAX_HANDSHAKES: usize = 256;

/// The relay's TLS identity: a certificate chain and its private key.
#[derive(Clone)]
pub struct ServerTls {
    acceptor: TlsAcceptor,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerTls(..)")
    }
}

impl ServerTls {
    /// Reads a PEM certificate chain (the server's certificate first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1). Fails with [`Error::Config`] if a file cannot be read,
    /// holds no certificate or key, or the key does not belong to the certificate.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<ServerTls, Error> {
        let chain = read_certificates(cert)?;
        let key_der =
            PrivateKeyDer::from_pem_file(key).map_err(|e| pem_error(key, "private key", e))?;
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(chain, key_der)
            .map_err(|e| {
                let why = match e {
                    rustls::Error::InconsistentKeys(_) => {
                        "the private key is not the certificate's".to_owned()
                    }
                    e => e.to_string(),
                };
                Error::Config(format!("{} and {}: {why}", cert.display(), key.display()))
            })?;
        Ok(ServerTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Takes a handshake slot of one address; gives it back when dropped.
struct Pending {
    per_ip: Arc<Mutex<HashMap<IpAddr, usize>>>,
    ip: IpAddr,
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut m = self
            .per_ip
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.ip);
            }
        }
    }
}

/// An [`axum::serve::Listener`] of TLS connections. The TCP accept loop runs in its own task
/// and each handshake in another, each within a deadline, so a client that stalls its
/// handshake never holds up the next one. Handshakes under way are bounded in all and per
/// address. The task ends when the listener is dropped.
pub(crate) struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
}

impl TlsListener {
    /// Starts accepting on `listener`: each handshake must finish within `deadline`, and one
    /// address may have `per_ip` under way.
    pub(crate) fn spawn(
        listener: TcpListener,
        tls: ServerTls,
        deadline: Duration,
        per_ip: usize,
    ) -> std::io::Result<TlsListener> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(MAX_HANDSHAKES);
        tokio::spawn(accept_loop(listener, tls.acceptor, tx, deadline, per_ip));
        Ok(TlsListener { ready, local })
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
    deadline: Duration,
    per_ip: usize,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let pending = Arc::new(Mutex::new(HashMap::<IpAddr, usize>::new()));
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = tx.closed() => return,
        };
        let (tcp, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // As axum's own listener does: out of file descriptors is worth a pause.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%addr, "too many TLS handshakes under way; connection closed");
            continue;
        };
        let ip = addr.ip();
        {
            let mut m = pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let n = m.entry(ip).or_insert(0);
            if *n >= per_ip {
                tracing::warn!(%ip, "too many TLS handshakes from one address; connection closed");
                continue;
            }
            *n += 1;
        }
        let mine = Pending {
            per_ip: pending.clone(),
            ip,
        };
        let (acceptor, tx) = (acceptor.clone(), tx.clone());
        tokio::spawn(async move {
            let _slots = (slot, mine);
            match tokio::time::timeout(deadline, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let _ = tx.send((stream, addr)).await;
                }
                Ok(Err(e)) => tracing::debug!(%addr, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept loop ends only once this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
