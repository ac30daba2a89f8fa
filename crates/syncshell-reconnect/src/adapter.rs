//! Running a handshake over any async message connection.

use std::future::Future;

use rand_core::{CryptoRng, RngCore};
use syncshell_identity::Timestamp;

use crate::error::{Error, Result};
use crate::handshake::{Handshake, Local, Session};
use crate::replay::ReplayGuard;

/// A reliable, ordered message connection, as far as the handshake needs one. The transport
/// crate's connections fit it with a few lines of glue.
pub trait MessageConnection {
    /// Sends one message.
    fn send(&mut self, message: Vec<u8>) -> impl Future<Output = std::io::Result<()>> + Send;
    /// Receives one message; `None` when the connection closed.
    fn recv(&mut self) -> impl Future<Output = std::io::Result<Option<Vec<u8>>>> + Send;
}

/// Runs `handshake` to its end over `conn`, reading the time from `clock` and giving up at the
/// handshake's deadline. A closed or failing connection fails the handshake.
pub async fn run<C, R>(
    mut handshake: Handshake,
    conn: &mut C,
    local: &Local<'_>,
    replay: &mut ReplayGuard,
    clock: impl Fn() -> Timestamp,
    rng: &mut R,
) -> Result<Session>
where
    C: MessageConnection,
    R: CryptoRng + RngCore,
{
    loop {
        while let Some(m) = handshake.poll_transmit() {
            conn.send(m)
                .await
                .map_err(|_| Error::Unexpected("the connection failed while sending"))?;
        }
        if handshake.is_finished() {
            return handshake.into_session();
        }
        let Some(deadline) = handshake.poll_timeout() else {
            return handshake.into_session();
        };
        let wait = deadline.as_millis().saturating_sub(clock().as_millis());
        let received =
            tokio::time::timeout(std::time::Duration::from_millis(wait), conn.recv()).await;
        match received {
            Err(_) => handshake.handle_timeout(clock().max(deadline)),
            Ok(Ok(Some(m))) => {
                // The error is also kept in the handshake, which ends the loop.
                let _ = handshake.handle(local, replay, &m, clock(), rng);
            }
            Ok(Ok(None)) => return Err(Error::Unexpected("the connection closed")),
            Ok(Err(_)) => return Err(Error::Unexpected("the connection failed")),
        }
    }
}
