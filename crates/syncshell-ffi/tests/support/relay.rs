//! A signal relay on 127.0.0.1 for a test, on a thread of its own.

use syncshell_signal::{IceConfig, Limits, Server};

/// A running relay; stopped and joined when dropped.
pub(crate) struct Relay {
    /// Its URL, `ws://127.0.0.1:PORT/`.
    pub(crate) url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Relay {
    pub(crate) fn start() -> Relay {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("a port on 127.0.0.1");
        let url = format!("ws://{}/", listener.local_addr().expect("its address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let server = Server::new(Limits::default(), IceConfig::default());
            runtime
                .block_on(server.run(listener, None, async move {
                    let _ = stopped.await;
                }))
                .expect("the relay runs");
        });
        Relay {
            url,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
