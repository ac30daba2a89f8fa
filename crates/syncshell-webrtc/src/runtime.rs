//! The tokio runtime webrtc runs on, with larger UDP socket buffers.
//!
//! The operating system's default receive buffer for a UDP socket (208 KiB on Linux, 64 KiB
//! on Windows) overflows during a bulk transfer on a fast link; every datagram dropped there
//! costs SCTP a retransmission timeout of at least a second. Asking for a few MiB removes the
//! drops where the system allows it (Linux caps the request at `net.core.rmem_max`).

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use webrtc::runtime::{
    AsyncInterval, AsyncTcpListener, AsyncTcpStream, AsyncUdpSocket, JoinHandle, Runtime,
    TokioRuntime,
};

/// [`TokioRuntime`], except that UDP sockets get the configured buffer sizes.
#[derive(Debug)]
pub(crate) struct TunedRuntime {
    inner: TokioRuntime,
    socket_buffer: usize,
}

impl TunedRuntime {
    pub(crate) fn new(socket_buffer: usize) -> Self {
        TunedRuntime {
            inner: TokioRuntime,
            socket_buffer,
        }
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

impl Runtime for TunedRuntime {
    fn spawn(&self, future: Pin<Box<dyn Future<Output = ()> + Send>>) -> Box<dyn JoinHandle> {
        self.inner.spawn(future)
    }

    fn spawn_reactor(
        &self,
        reactor_pool_size: usize,
        future: Pin<Box<dyn Future<Output = ()> + Send>>,
    ) -> Box<dyn JoinHandle> {
        self.inner.spawn_reactor(reactor_pool_size, future)
    }

    fn wrap_udp_socket(&self, socket: std::net::UdpSocket) -> io::Result<Arc<dyn AsyncUdpSocket>> {
        if self.socket_buffer > 0 {
            let sock = socket2::SockRef::from(&socket);
            // Best effort: the system may cap or refuse the size; the default still works.
            if let Err(e) = sock.set_recv_buffer_size(self.socket_buffer) {
                tracing::debug!(%e, "could not enlarge the UDP receive buffer");
            }
            if let Err(e) = sock.set_send_buffer_size(self.socket_buffer) {
                tracing::debug!(%e, "could not enlarge the UDP send buffer");
            }
        }
        self.inner.wrap_udp_socket(socket)
    }

    fn wrap_tcp_listener(
        &self,
        listener: std::net::TcpListener,
    ) -> io::Result<Arc<dyn AsyncTcpListener>> {
        self.inner.wrap_tcp_listener(listener)
    }

    fn connect_tcp<'a>(
        &'a self,
        remote_addr: SocketAddr,
    ) -> BoxFuture<'a, io::Result<Arc<dyn AsyncTcpStream>>> {
        self.inner.connect_tcp(remote_addr)
    }

    fn resolve_host<'a>(&'a self, host: &'a str) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        self.inner.resolve_host(host)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.inner.sleep(duration)
    }

    fn interval(&self, period: Duration) -> Box<dyn AsyncInterval> {
        self.inner.interval(period)
    }

    fn block_on(&self, future: Pin<Box<dyn Future<Output = ()> + '_>>) {
        self.inner.block_on(future)
    }

    fn yield_now(&self) -> BoxFuture<'static, ()> {
        self.inner.yield_now()
    }

    fn name(&self) -> &'static str {
        "tokio (tuned UDP buffers)"
    }
}
