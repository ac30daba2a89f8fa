//! Glue between a transport connection and the sans-IO protocols: the clock, and one side of
//! the handshake over a connection (for the tests that speak to a node by hand).

use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use rand_core::OsRng;
use syncshell_identity::Timestamp;
use syncshell_reconnect::{Handshake, Local, ReplayGuard, Session};
use syncshell_transport::Connection;

/// The wall clock (the libraries take time as an input).
pub fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

/// Messages over one end of a transport connection, for the handshake.
#[derive(Debug)]
struct Wire<C> {
    conn: Arc<C>,
}

impl<C: Connection> syncshell_reconnect::MessageConnection for Wire<C> {
    async fn send(&mut self, message: Vec<u8>) -> std::io::Result<()> {
        self.conn
            .send(Bytes::from(message))
            .await
            .map_err(std::io::Error::other)
    }

    async fn recv(&mut self) -> std::io::Result<Option<Vec<u8>>> {
        let message = self.conn.recv().await.map_err(std::io::Error::other)?;
        Ok(message.map(|m| m.to_vec()))
    }
}

/// Runs one side of the handshake on `conn` (the initiator sends the hello), with the
/// transport's channel binding and a replay guard of its own: a connection carries one
/// handshake, so one hello, and a hello recorded on another connection fails on this one's
/// channel binding. A side that fails closes the connection so the peer learns at once.
pub async fn run_handshake<C: Connection>(
    conn: &Arc<C>,
    local: &Local<'_>,
    initiator: bool,
) -> Result<Session, syncshell_reconnect::Error> {
    let mut rng = OsRng;
    let binding = conn.channel_binding();
    let machine = if initiator {
        Handshake::initiate(local, &binding, now(), &mut rng)
    } else {
        Handshake::respond(&binding, now())
    };
    let machine = match machine {
        Ok(m) => m,
        Err(e) => {
            conn.close().await;
            return Err(e);
        }
    };
    let mut guard = ReplayGuard::new();
    let mut wire = Wire { conn: conn.clone() };
    let r = syncshell_reconnect::run(machine, &mut wire, local, &mut guard, now, &mut rng).await;
    if r.is_err() {
        conn.close().await;
    }
    r
}
