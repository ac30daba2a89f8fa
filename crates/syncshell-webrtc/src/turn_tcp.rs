//! TURN over TCP (RFC 8656 section 3.1) for webrtc 0.21, whose TURN client speaks UDP only.
//!
//! A bridge is a UDP socket on loopback that webrtc's TURN client takes for the TURN server.
//! Each client socket that writes to it gets its own TCP connection to the real server, and
//! the bridge moves whole messages between the two: a datagram becomes one message on the
//! stream, and each message read from the stream becomes one datagram back. TURN frames its
//! messages on a stream itself: a STUN message is its 20-byte header plus the length in that
//! header; a ChannelData message is its 4-byte header plus the length in that header, padded
//! to a multiple of 4 bytes on a stream (RFC 8656 section 12.5). The TURN server relays to
//! peers over UDP as usual, so the peer needs nothing special: this is how a member whose
//! network lets only TCP out still reaches everyone.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Client sockets one bridge serves: one per bound address of a peer connection.
const MAX_CLIENTS: usize = 16;
/// Datagrams queued per client before new ones are dropped, as a congested network would.
const QUEUE: usize = 256;
/// The largest message either way: a 16-bit length plus the longer (STUN) header.
const MAX_MESSAGE: usize = 20 + u16::MAX as usize;

/// A running bridge to one TURN server; dropping it ends every task and connection.
#[derive(Debug)]
pub(crate) struct TcpBridge {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl TcpBridge {
    /// A bridge on a loopback address of `family`'s kind to the TURN server `server`.
    pub(crate) async fn start(server: SocketAddr, family: IpAddr) -> io::Result<TcpBridge> {
        let local: IpAddr = match family {
            IpAddr::V4(_) => IpAddr::from([127, 0, 0, 1]),
            IpAddr::V6(_) => IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
        };
        let socket = Arc::new(UdpSocket::bind((local, 0)).await?);
        let addr = socket.local_addr()?;
        let task = tokio::spawn(serve(socket, server));
        Ok(TcpBridge { addr, task })
    }

    /// The address webrtc's TURN client sends to.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for TcpBridge {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Reads datagrams from the client sockets and hands each to its client's connection.
async fn serve(socket: Arc<UdpSocket>, server: SocketAddr) {
    let mut clients: HashMap<SocketAddr, (mpsc::Sender<Vec<u8>>, JoinHandle<()>)> = HashMap::new();
    let mut buf = vec![0u8; MAX_MESSAGE];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            break;
        };
        // A loopback socket is reachable by every local program: take only well-formed
        // TURN messages, whoever sends them. (webrtc pads ChannelData on UDP too.)
        let message = buf.get(..n).and_then(|d| {
            let (len, padded) = message_len(d)?;
            (len <= n && n <= padded).then(|| d.get(..len)).flatten()
        });
        let Some(datagram) = message else {
            tracing::debug!(%from, n, "dropping a datagram that is not one TURN message");
            continue;
        };
        clients.retain(|_, (_, task)| !task.is_finished());
        if !clients.contains_key(&from) {
            if clients.len() >= MAX_CLIENTS {
                tracing::debug!(%from, "too many TURN clients on one bridge; dropping");
                continue;
            }
            let (tx, rx) = mpsc::channel(QUEUE);
            let task = tokio::spawn(client(socket.clone(), from, server, rx));
            clients.insert(from, (tx, task));
        }
        if let Some((tx, _)) = clients.get(&from) {
            // Full: dropped, as a congested link would; TURN and ICE retransmit.
            let _ = tx.try_send(datagram.to_vec());
        }
    }
    for (_, (_, task)) in clients {
        task.abort();
    }
}

/// One client socket's TCP connection: datagrams out as stream messages, stream messages
/// back as datagrams. Ends when either side fails or the stream breaks the framing.
async fn client(
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    server: SocketAddr,
    mut rx: mpsc::Receiver<Vec<u8>>,
) {
    let stream = match TcpStream::connect(server).await {
        Ok(s) => s,
        Err(e) => {
            tracing::debug!(%server, error = %e, "TURN over TCP: connect failed");
            return;
        }
    };
    let _ = stream.set_nodelay(true);
    let (mut reader, mut writer) = stream.into_split();
    let up = async {
        while let Some(mut message) = rx.recv().await {
            // ChannelData is padded to a multiple of 4 on a stream.
            message.resize(message.len().next_multiple_of(4), 0);
            writer.write_all(&message).await?;
        }
        Ok::<_, io::Error>(())
    };
    let down = async {
        let mut buf = vec![0u8; MAX_MESSAGE.next_multiple_of(4)];
        loop {
            let header = buf.get_mut(..4).ok_or(io::ErrorKind::InvalidData)?;
            reader.read_exact(header).await?;
            let (len, padded) = message_len(header).ok_or(io::ErrorKind::InvalidData)?;
            let rest = buf.get_mut(4..padded).ok_or(io::ErrorKind::InvalidData)?;
            reader.read_exact(rest).await?;
            let message = buf.get(..len).ok_or(io::ErrorKind::InvalidData)?;
            socket.send_to(message, to).await?;
        }
        #[allow(unreachable_code)]
        Ok::<_, io::Error>(())
    };
    let result = tokio::select! {
        r = up => r,
        r = down => r,
    };
    if let Err(e) = result {
        tracing::debug!(%server, error = %e, "TURN over TCP connection ended");
    }
}

/// How long [`udp_answers`] waits for the server.
const PROBE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// Whether the STUN/TURN server at `server` answers a STUN binding request over UDP from
/// `local` (port 0) within a second. Where it does, TURN over UDP works and the TCP bridge
/// is not used: webrtc ranks both relay candidates alike, and a relay over TCP is far slower.
pub(crate) async fn udp_answers(server: SocketAddr, local: IpAddr) -> bool {
    let Ok(socket) = UdpSocket::bind((local, 0)).await else {
        return false;
    };
    // A binding request (RFC 8489 section 5): type 0x0001, no attributes, the magic cookie,
    // a random transaction id.
    let mut request = [0u8; 20];
    request[..2].copy_from_slice(&[0x00, 0x01]);
    request[4..8].copy_from_slice(&[0x21, 0x12, 0xa4, 0x42]);
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut request[8..20]);
    if socket.send_to(&request, server).await.is_err() {
        return false;
    }
    let answered = async {
        let mut buf = [0u8; 1500];
        loop {
            let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                return false;
            };
            if from == server && n >= 20 && buf.get(8..20) == request.get(8..20) {
                return true;
            }
        }
    };
    tokio::time::timeout(PROBE_WAIT, answered)
        .await
        .unwrap_or(false)
}

/// The length of the TURN message that starts with `header` (at least its first 4 bytes), and
/// that length padded as on a stream; `None` if it is neither STUN nor ChannelData.
fn message_len(header: &[u8]) -> Option<(usize, usize)> {
    let [first, _, hi, lo, ..] = *header else {
        return None;
    };
    let body = usize::from(u16::from_be_bytes([hi, lo]));
    match first >> 6 {
        // STUN: the length excludes the 20-byte header and is a multiple of 4.
        0b00 if body % 4 == 0 => Some((20 + body, 20 + body)),
        // ChannelData: channel numbers 0x4000..=0x4FFF (RFC 8656 section 12).
        0b01 if first < 0x50 => Some((4 + body, (4 + body).next_multiple_of(4))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_lengths_follow_the_stun_and_channel_data_headers() {
        // A STUN binding request header with 8 bytes of attributes.
        assert_eq!(message_len(&[0x00, 0x01, 0x00, 0x08]), Some((28, 28)));
        // A STUN length that is not a multiple of 4 is not STUN.
        assert_eq!(message_len(&[0x00, 0x01, 0x00, 0x07]), None);
        // ChannelData on channel 0x4001 with 5 bytes: padded to 12 on a stream.
        assert_eq!(message_len(&[0x40, 0x01, 0x00, 0x05]), Some((9, 12)));
        // Channel numbers from 0x5000 are reserved; the top bits 10 and 11 are neither.
        assert_eq!(message_len(&[0x50, 0x00, 0x00, 0x05]), None);
        assert_eq!(message_len(&[0x80, 0x00, 0x00, 0x00]), None);
        assert_eq!(message_len(&[0xc0, 0x00, 0x00, 0x00]), None);
        assert_eq!(message_len(&[0x00, 0x01, 0x00]), None);
        assert_eq!(
            message_len(&[0x40, 0x00, 0xff, 0xff]),
            Some((65_539, 65_540))
        );
    }

    /// The UDP probe says yes only for a server that answers with the request's transaction
    /// id, and no for a silent one or a wrong answer.
    #[tokio::test]
    async fn the_udp_probe_needs_an_answer_to_its_own_request() {
        let lo = IpAddr::from([127, 0, 0, 1]);
        let server = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr().unwrap();
        let answer = |right: bool| {
            let server = &server;
            async move {
                let mut buf = [0u8; 64];
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                assert_eq!(n, 20);
                assert_eq!(&buf[..2], &[0x00, 0x01]);
                let mut reply = buf[..20].to_vec();
                reply[..2].copy_from_slice(&[0x01, 0x01]);
                if !right {
                    reply[19] ^= 1;
                }
                server.send_to(&reply, from).await.unwrap();
            }
        };
        let (yes, ()) = tokio::join!(udp_answers(addr, lo), answer(true));
        assert!(yes);
        let (wrong, ()) = tokio::join!(udp_answers(addr, lo), answer(false));
        assert!(!wrong);
        let silent = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(!udp_answers(silent.local_addr().unwrap(), lo).await);
    }

    /// A datagram to the bridge arrives on the TCP side as one padded stream message, and a
    /// message the server writes comes back as one datagram without its padding.
    #[tokio::test]
    async fn datagrams_and_stream_messages_cross_the_bridge_whole() {
        let server = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let bridge = TcpBridge::start(server.local_addr().unwrap(), IpAddr::from([0, 0, 0, 0]))
            .await
            .unwrap();
        let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        // A ChannelData message of 5 bytes, then garbage that must not pass.
        let channel_data = [0x40, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5];
        client.send_to(&[0xff; 7], bridge.addr()).await.unwrap();
        // Too long for its header, even padded.
        client
            .send_to(&[0x40, 0x01, 0x00, 0x01, 1, 2, 3, 4, 5], bridge.addr())
            .await
            .unwrap();
        client.send_to(&channel_data, bridge.addr()).await.unwrap();
        // The same padded, as webrtc sends it.
        let mut padded = channel_data.to_vec();
        padded.extend_from_slice(&[0, 0, 0]);
        client.send_to(&padded, bridge.addr()).await.unwrap();
        let (mut conn, _) = server.accept().await.unwrap();
        for _ in 0..2 {
            let mut got = [0u8; 12];
            conn.read_exact(&mut got).await.unwrap();
            assert_eq!(&got[..9], &channel_data);
            assert_eq!(&got[9..], &[0, 0, 0]);
        }
        // The server answers with a STUN header (no attributes) and padded ChannelData.
        let stun = [
            0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
        ];
        conn.write_all(&stun).await.unwrap();
        conn.write_all(&[0x40, 0x01, 0x00, 0x02, 7, 7, 0, 0])
            .await
            .unwrap();
        let mut buf = [0u8; 64];
        let (n, _) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &stun);
        let (n, _) = client.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], &[0x40, 0x01, 0x00, 0x02, 7, 7]);
    }
}
