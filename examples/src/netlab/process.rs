//! Running the lab's tools (`ip`, `nft`, `ss`, `kill`) and turning their failures into
//! [`LabError`]s that name the command and repeat its stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use super::LabError;

/// `ip netns add` is serialised within the process: the first calls on a machine set up
/// `/run/netns` as a shared mount, and concurrent first calls race on it.
static NETNS_ADD: Mutex<()> = Mutex::new(());

/// How a command reads in an error message: `ip -n ns link set lo up`.
pub(super) fn describe(cmd: &Command) -> String {
    let mut text = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        text.push(' ');
        text.push_str(&arg.to_string_lossy());
    }
    text
}

/// Runs `cmd` to completion and returns its stdout; a failure to start or a non-zero exit is an
/// error carrying the command and its stderr.
pub(super) fn run(mut cmd: Command) -> Result<String, LabError> {
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| LabError::Command {
            command: describe(&cmd),
            detail: format!("could not start: {e}"),
        })?;
    finish(&cmd, output)
}

/// Runs `cmd` with `input` on its stdin (`nft -f -`).
pub(super) fn run_with_input(mut cmd: Command, input: &str) -> Result<String, LabError> {
    let failed = |cmd: &Command, e: std::io::Error| LabError::Command {
        command: describe(cmd),
        detail: format!("could not run: {e}"),
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(&cmd, e))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| failed(&cmd, e))?;
    }
    let output = child.wait_with_output().map_err(|e| failed(&cmd, e))?;
    finish(&cmd, output)
}

fn finish(cmd: &Command, output: Output) -> Result<String, LabError> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(LabError::Command {
            command: describe(cmd),
            detail: format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ),
        })
    }
}

/// `ip <args>`.
pub(super) fn ip(args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    run(cmd)
}

/// `ip -n <namespace> <args>`: an `ip` command acting inside a namespace.
pub(super) fn ip_in(namespace: &str, args: &[&str]) -> Result<String, LabError> {
    let mut cmd = Command::new("ip");
    cmd.args(["-n", namespace]).args(args);
    run(cmd)
}

/// `ip netns exec <namespace> <program>`: a command to be run inside a namespace.
pub(super) fn exec_in(namespace: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", namespace]).arg(program);
    cmd
}

/// Creates a namespace (see [`NETNS_ADD`]).
pub(super) fn add_namespace(name: &str) -> Result<(), LabError> {
    let _serial = NETNS_ADD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    ip(&["netns", "add", name]).map(drop)
}

/// The ids of the processes whose network namespace is `namespace` (`ip netns pids`).
pub(super) fn pids_in(namespace: &str) -> Vec<u32> {
    ip(&["netns", "pids", namespace])
        .map(|out| {
            out.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Sends SIGKILL to `pids`. Best effort: a process may already be gone.
pub(super) fn kill(pids: &[u32]) {
    if pids.is_empty() {
        return;
    }
    let _ = Command::new("kill")
        .arg("-KILL")
        .args(pids.iter().map(u32::to_string))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}
