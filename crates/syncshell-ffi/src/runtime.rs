//! The async runtime that transports and transfers run on, the WebRTC settings and the
//! in-memory network for tests.

use std::ffi::c_char;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::syncshell_transport::{Faults, MemNetwork};
use ::syncshell_webrtc::WebRtcConfig;

use crate::args::{self, Out};
use crate::handle::{self, lock, object};
use crate::identity::put;
use crate::status::{boundary, syncshell_status, syncshell_status as S, Failure, Outcome};

/// A handle to an async runtime (tokio, with its own worker threads). Transports made on it
/// keep it running until they are freed too.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_runtime {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to WebRTC settings.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_webrtc_config {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
/// A handle to an in-memory network (tests and demos without sockets).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[allow(non_camel_case_types)]
pub struct syncshell_mem_network {
    /// The handle's value; 0 names no object.
    pub h: u64,
}
handle::raw_handles!(
    syncshell_runtime,
    syncshell_webrtc_config,
    syncshell_mem_network
);

/// Owns the tokio runtime; dropping it stops the runtime's tasks within a bounded time.
#[derive(Debug)]
pub(crate) struct Runtime(Option<tokio::runtime::Runtime>);

impl Runtime {
    pub(crate) fn handle(&self) -> Outcome<&tokio::runtime::Handle> {
        self.0
            .as_ref()
            .map(|r| r.handle())
            .ok_or_else(|| Failure::new(S::SYNCSHELL_ERR_STATE, "the runtime is shut down"))
    }

    /// Runs `future` to completion on this thread, for at most `timeout_ms`.
    pub(crate) fn block_on<F: std::future::Future>(
        &self,
        timeout_ms: u32,
        future: F,
    ) -> Outcome<F::Output> {
        let handle = self.handle()?;
        let _guard = handle.enter();
        handle
            .block_on(tokio::time::timeout(
                Duration::from_millis(timeout_ms.into()),
                future,
            ))
            .map_err(|_| {
                Failure::new(
                    S::SYNCSHELL_ERR_TIMEOUT,
                    format!("nothing happened within {timeout_ms} ms"),
                )
            })
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_timeout(Duration::from_secs(5));
        }
    }
}

pub(crate) struct RuntimeObject(pub(crate) Arc<Runtime>);
object!(RuntimeObject, Runtime);

pub(crate) struct Network {
    pub(crate) net: MemNetwork,
    pub(crate) runtime: Arc<Runtime>,
}
object!(Network, MemNetwork);
object!(Mutex<WebRtcConfig>, WebRtcConfig);

/// The runtime behind a handle.
pub(crate) fn runtime(handle: syncshell_runtime) -> Outcome<Arc<Runtime>> {
    Ok(Arc::clone(&handle::get::<RuntimeObject>(handle)?.0))
}

/// A new runtime with `worker_threads` threads (0: 2). Blocking calls with a timeout run
/// on the calling thread; nothing ever calls back into the host.
#[no_mangle]
pub extern "C" fn syncshell_runtime_new(
    worker_threads: u32,
    out_runtime: *mut syncshell_runtime,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_runtime, "out_runtime")?;
        if worker_threads > 64 {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_INVALID_ARGUMENT,
                "worker_threads must be at most 64",
            ));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(if worker_threads == 0 {
                2
            } else {
                worker_threads as usize
            })
            .thread_name("syncshell")
            .enable_all()
            .build()?;
        put(out, RuntimeObject(Arc::new(Runtime(Some(runtime)))))
    })
}

/// Frees a runtime handle. The runtime stops once the transports, connections and
/// transfers made on it are freed as well.
#[no_mangle]
pub extern "C" fn syncshell_runtime_free(runtime: syncshell_runtime) -> syncshell_status {
    boundary(|| handle::remove::<RuntimeObject>(runtime))
}

/// Default WebRTC settings: bind 127.0.0.1 only, no STUN/TURN server, no mDNS, one
/// signaling blob per side.
#[no_mangle]
pub extern "C" fn syncshell_webrtc_config_new(
    out_config: *mut syncshell_webrtc_config,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_config, "out_config")?;
        put(out, Mutex::new(WebRtcConfig::default()))
    })
}

fn config(handle: syncshell_webrtc_config) -> Outcome<Arc<Mutex<WebRtcConfig>>> {
    handle::get::<Mutex<WebRtcConfig>>(handle)
}

/// Replaces the UDP addresses peer connections bind with the comma-separated list given
/// (for example "0.0.0.0:0" to reach other hosts; the default is "127.0.0.1:0").
///
/// # Safety
/// `addresses` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_webrtc_config_set_bind(
    config: syncshell_webrtc_config,
    addresses: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let addresses = unsafe { args::text(addresses, "addresses") }?;
        let list: Vec<String> = addresses.split(',').map(|a| a.trim().to_owned()).collect();
        if list
            .iter()
            .any(|a| a.parse::<std::net::SocketAddr>().is_err())
        {
            return Err(Failure::new(
                S::SYNCSHELL_ERR_INVALID_ARGUMENT,
                format!("{addresses:?} is not a list of ip:port addresses"),
            ));
        }
        lock(&*self::config(config)?)?.bind_addresses = list;
        Ok(())
    })
}

/// Adds a STUN or TURN server URL (none by default, so no third party is contacted).
/// `username` and `credential` may be NULL for a server without credentials.
///
/// # Safety
/// `url` must be a NUL-terminated string; `username` and `credential` NULL or such strings.
#[no_mangle]
pub unsafe extern "C" fn syncshell_webrtc_config_add_ice_server(
    config: syncshell_webrtc_config,
    url: *const c_char,
    username: *const c_char,
    credential: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let url = unsafe { args::text(url, "url") }?;
        let config = self::config(config)?;
        let mut config = lock(&config)?;
        let server = if username.is_null() && credential.is_null() {
            ::syncshell_webrtc::IceServer::stun(url)
        } else {
            // SAFETY: the caller's promise.
            let (user, credential) = unsafe {
                (
                    args::text(username, "username")?,
                    args::text(credential, "credential")?,
                )
            };
            ::syncshell_webrtc::IceServer::turn(url, user, credential)
        };
        server
            .check()
            .map_err(|e| Failure::new(S::SYNCSHELL_ERR_INVALID_ARGUMENT, e.to_string()))?;
        config.ice_servers.push(server);
        Ok(())
    })
}

/// Turns trickle ICE on or off (both ends must agree; off by default).
#[no_mangle]
pub extern "C" fn syncshell_webrtc_config_set_trickle(
    config: syncshell_webrtc_config,
    trickle: bool,
) -> syncshell_status {
    boundary(|| {
        lock(&*self::config(config)?)?.trickle = trickle;
        Ok(())
    })
}

/// Turns relay-only on or off (off by default): with it on, connections go only through the
/// TURN servers added with `syncshell_webrtc_config_add_ice_server`, and peers never learn
/// this host's addresses.
#[no_mangle]
pub extern "C" fn syncshell_webrtc_config_set_relay_only(
    config: syncshell_webrtc_config,
    relay_only: bool,
) -> syncshell_status {
    boundary(|| {
        lock(&*self::config(config)?)?.relay_only = relay_only;
        Ok(())
    })
}

/// Sets how long connecting may take (0 keeps the default of 15 s).
#[no_mangle]
pub extern "C" fn syncshell_webrtc_config_set_connect_timeout(
    config: syncshell_webrtc_config,
    timeout_ms: u32,
) -> syncshell_status {
    boundary(|| {
        if timeout_ms != 0 {
            lock(&*self::config(config)?)?.connect_timeout =
                Duration::from_millis(timeout_ms.into());
        }
        Ok(())
    })
}

/// The settings behind a handle, copied.
pub(crate) fn config_snapshot(handle: syncshell_webrtc_config) -> Outcome<WebRtcConfig> {
    if handle.h == 0 {
        return Ok(WebRtcConfig::default());
    }
    Ok(lock(&*config(handle)?)?.clone())
}

/// Frees a WebRTC settings handle.
#[no_mangle]
pub extern "C" fn syncshell_webrtc_config_free(
    config: syncshell_webrtc_config,
) -> syncshell_status {
    boundary(|| handle::remove::<Mutex<WebRtcConfig>>(config))
}

/// A new in-memory network on `runtime` with seeded faults: one-way latency and jitter in
/// milliseconds, a bandwidth cap in bytes per second per direction (0: none).
#[no_mangle]
pub extern "C" fn syncshell_mem_network_new(
    runtime: syncshell_runtime,
    seed: u64,
    latency_ms: u32,
    jitter_ms: u32,
    bandwidth: u64,
    out_network: *mut syncshell_mem_network,
) -> syncshell_status {
    boundary(|| {
        let out = Out::new(out_network, "out_network")?;
        let runtime = self::runtime(runtime)?;
        let faults = Faults {
            latency: Duration::from_millis(latency_ms.into()),
            jitter: Duration::from_millis(jitter_ms.into()),
            bandwidth: (bandwidth != 0).then_some(bandwidth),
            ..Faults::default()
        };
        let net = {
            let _guard = runtime.handle()?.enter();
            MemNetwork::new(seed, faults)
        };
        put(out, Network { net, runtime })
    })
}

/// Breaks every connection of the endpoint at `address`, as a crash or a pulled cable would.
///
/// # Safety
/// `address` must be a NUL-terminated string.
#[no_mangle]
pub unsafe extern "C" fn syncshell_mem_network_kill(
    network: syncshell_mem_network,
    address: *const c_char,
) -> syncshell_status {
    boundary(|| {
        // SAFETY: the caller's promise.
        let address = unsafe { args::text(address, "address") }?;
        let network = handle::get::<Network>(network)?;
        let _guard = network.runtime.handle()?.enter();
        network.net.kill_all(address);
        Ok(())
    })
}

/// Frees an in-memory network handle (its transports keep working until freed).
#[no_mangle]
pub extern "C" fn syncshell_mem_network_free(network: syncshell_mem_network) -> syncshell_status {
    boundary(|| handle::remove::<Network>(network))
}
