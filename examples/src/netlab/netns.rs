//! Working inside a lab's namespaces from this process: a thread moves itself into a
//! namespace, and the sockets it makes (and the threads it starts) are there from then on.
//! This is how the shaped-link measurements run both ends of a transfer in one process.

use std::fs::File;
use std::future::Future;
use std::thread::JoinHandle;

use nix::sched::CloneFlags;

use super::LabError;

/// Moves the calling thread into the network namespace `namespace` (made by `ip netns add`).
/// Sockets and devices the thread makes from then on belong to it, and so do the threads it
/// starts.
pub fn enter(namespace: &str) -> Result<(), LabError> {
    let path = format!("/var/run/netns/{namespace}");
    let file = File::open(&path).map_err(|error| LabError::Io {
        context: format!("opening {path}"),
        error,
    })?;
    nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(|errno| LabError::Io {
        context: format!("entering the network namespace {namespace}"),
        error: errno.into(),
    })
}

/// Runs `task` on a new thread inside `namespace`, on a tokio runtime of that thread (its
/// blocking threads are in the namespace too), and hands back its result when joined.
pub fn spawn_in<F, Fut, T>(namespace: &str, task: F) -> JoinHandle<Result<T, LabError>>
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, LabError>>,
    T: Send + 'static,
{
    let namespace = namespace.to_owned();
    std::thread::spawn(move || {
        enter(&namespace)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| LabError::Io {
                context: format!("starting a runtime in {namespace}"),
                error,
            })?;
        runtime.block_on(task())
    })
}

/// Joins a thread of [`spawn_in`]; a panic in it is an error, not a panic here.
pub fn join<T>(thread: JoinHandle<Result<T, LabError>>) -> Result<T, LabError> {
    thread.join().unwrap_or_else(|_| {
        Err(LabError::Command {
            command: "a thread in a lab namespace".to_owned(),
            detail: "it panicked".to_owned(),
        })
    })
}
