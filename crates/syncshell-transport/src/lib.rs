//! Transport traits for syncshell, and the in-memory backend used to test everything above
//! them.
//!
//! - [`Connection`] carries reliable, ordered messages of up to 16 MiB (split into fragments
//!   that fit the backend and joined again by this crate), an unreliable channel where the
//!   backend has one, a [`Connection::channel_binding`] for the handshake, and back-pressure:
//!   [`Connection::send`] waits while the peer is slow, [`Connection::try_send`] says
//!   [`Error::WouldBlock`].
//! - [`Transport`] connects to and accepts peers by address; [`Signaling`] carries opaque
//!   blobs for backends that need them (WebRTC).
//! - [`MemNetwork`] is the in-memory backend with seeded faults: latency, jitter, bandwidth
//!   cap, loss and duplication on the unreliable channel, killed connections, partitions.
//!
//! ```
//! use bytes::Bytes;
//! use syncshell_transport::{Connection, Faults, MemNetwork, Transport};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), syncshell_transport::Error> {
//! let net = MemNetwork::new(7, Faults::default());
//! let (alice, bob) = (net.endpoint("alice"), net.endpoint("bob"));
//! let (a, b) = tokio::join!(alice.connect("bob"), bob.accept());
//! let (a, b) = (a?, b?);
//! a.send(Bytes::from(vec![7u8; 100_000])).await?; // split and joined again
//! assert_eq!(b.recv().await?.map(|m| m.len()), Some(100_000));
//! assert_eq!(a.channel_binding(), b.channel_binding());
//! a.close().await;
//! assert_eq!(b.recv().await?, None);
//! # Ok(())
//! # }
//! ```

mod error;
mod fragment;
mod mem;
mod traits;

pub use error::{Error, Result};
pub use fragment::{split, Reassembler, DEFAULT_MAX_MESSAGE_LEN};
pub use mem::{
    Faults, MemConnection, MemNetwork, MemSignaling, MemTransport, MEM_FRAGMENT_LEN,
    MEM_SEND_BUFFER,
};
pub use traits::{
    Candidate, CandidateKind, Connection, Counters, Path, Signaling, Stats, Transport,
};
