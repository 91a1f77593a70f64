//! The gateway and the worker, in-process (fast, for API and semantics tests) or as
//! child processes of the real binaries (for kill -9 and SIGTERM tests).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, ExitStatus};
use std::sync::OnceLock;
use std::time::Duration;

use async_nats::jetstream::message::StreamMessage;
use tasklane_core::Settings;
use tasklane_core::queue::{Queue, Topology};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::ApiClient;
use crate::host::{free_port, workspace_root};
use crate::process::ChildProcess;
use crate::servers::{NatsServer, ValkeyServer};
use crate::wait::eventually;

/// Timings that keep tests quick while exercising the same code paths.
const TEST_DEFAULTS: &[(&str, &str)] = &[
    ("TASKLANE_API__LISTEN", "127.0.0.1:0"),
    ("TASKLANE_WORKER__LISTEN", "127.0.0.1:0"),
    ("TASKLANE_API__PUBLISH_TIMEOUT", "2s"),
    ("TASKLANE_API__REQUEST_TIMEOUT", "5s"),
    ("TASKLANE_WORKER__ACK_WAIT", "2s"),
    ("TASKLANE_WORKER__RETRY_BASE_DELAY", "20ms"),
    ("TASKLANE_WORKER__RETRY_MAX_DELAY", "100ms"),
    ("TASKLANE_WORKER__SHUTDOWN_GRACE", "5s"),
    ("TASKLANE_WORKER__CONCURRENCY", "32"),
    ("TASKLANE_LOG__FORMAT", "json"),
];

/// One of the two tasklane binaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum App {
    Api,
    Worker,
}

impl App {
    pub fn binary(self) -> &'static str {
        match self {
            Self::Api => "tasklane-api",
            Self::Worker => "tasklane-worker",
        }
    }

    /// The setting that holds the address the binary serves HTTP on.
    fn listen_key(self) -> &'static str {
        match self {
            Self::Api => "TASKLANE_API__LISTEN",
            Self::Worker => "TASKLANE_WORKER__LISTEN",
        }
    }
}

/// A NATS server and a Valkey server for one test.
pub struct Stack {
    pub nats: NatsServer,
    pub valkey: ValkeyServer,
}

impl Stack {
    pub fn start() -> Self {
        Self {
            nats: NatsServer::start(),
            valkey: ValkeyServer::start(),
        }
    }

    /// Environment for a tasklane binary pointed at this stack, with `overrides` last.
    pub fn env(&self, overrides: &[(&str, &str)]) -> HashMap<String, String> {
        let mut env: HashMap<String, String> = TEST_DEFAULTS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("TASKLANE_NATS__URL".into(), self.nats.url());
        env.insert("TASKLANE_VALKEY__URL".into(), self.valkey.url());
        for (k, v) in overrides {
            env.insert(k.to_string(), v.to_string());
        }
        env
    }

    pub fn settings(&self, overrides: &[(&str, &str)]) -> Settings {
        Settings::from_env_map(self.env(overrides)).expect("test settings are valid")
    }

    pub async fn api(&self, overrides: &[(&str, &str)]) -> AppHandle {
        AppHandle::api(self.settings(overrides)).await
    }

    pub async fn worker(&self, overrides: &[(&str, &str)]) -> AppHandle {
        AppHandle::worker(self.settings(overrides)).await
    }

    pub fn api_process(&self, overrides: &[(&str, &str)]) -> ProcessApp {
        self.process(App::Api, overrides)
    }

    pub fn worker_process(&self, overrides: &[(&str, &str)]) -> ProcessApp {
        self.process(App::Worker, overrides)
    }

    /// `app`'s binary as a child process, listening on a free port.
    pub fn process(&self, app: App, overrides: &[(&str, &str)]) -> ProcessApp {
        let port = free_port();
        let mut env = self.env(overrides);
        env.insert(app.listen_key().into(), format!("127.0.0.1:{port}"));
        ProcessApp::start(app.binary(), env, port)
    }

    pub async fn nats_client(&self) -> async_nats::Client {
        async_nats::connect(self.nats.url())
            .await
            .expect("nats reachable")
    }

    /// Messages in the work stream: tasks published and not yet acknowledged.
    pub async fn work_stream_messages(&self) -> u64 {
        let name = self.settings(&[]).stream.name;
        let js = async_nats::jetstream::new(self.nats_client().await);
        let mut stream = js.get_stream(&name).await.expect("work stream exists");
        stream.info().await.expect("stream info").state.messages
    }

    /// Every message in the dead-letter stream, oldest first.
    pub async fn dead_letters(&self) -> Vec<StreamMessage> {
        let name = self.settings(&[]).stream.dead_letter_name();
        let js = async_nats::jetstream::new(self.nats_client().await);
        let mut stream = js.get_stream(&name).await.expect("DLQ stream exists");
        let state = stream.info().await.expect("stream info").state.clone();
        let mut letters = Vec::new();
        if state.messages == 0 {
            return letters;
        }
        for sequence in state.first_sequence..=state.last_sequence {
            // Sequences of deleted messages are gaps, not errors.
            if let Ok(message) = stream.get_raw_message(sequence).await {
                letters.push(message);
            }
        }
        letters
    }
}

/// The gateway or the worker running inside the test process, stopped (and its
/// shutdown checked) with [`AppHandle::stop`], cancelled on drop.
pub struct AppHandle {
    /// The gateway's API address, or the worker's health and metrics address.
    pub addr: SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served: `addr`, unless the
    /// gateway has an ops listener (`api.ops_listen`).
    pub ops_addr: SocketAddr,
    token: CancellationToken,
    join: Option<JoinHandle<anyhow::Result<()>>>,
}

impl AppHandle {
    /// The gateway, after declaring the topology as a worker would on start: the
    /// gateway only waits for the work stream, and API tests run it without workers.
    pub async fn api(settings: Settings) -> Self {
        declare_topology(&settings).await;
        Self::api_alone(settings).await
    }

    /// The gateway on its own, for a topology declared some other way (its NATS user
    /// may lack the rights to declare it).
    pub async fn api_alone(settings: Settings) -> Self {
        let token = CancellationToken::new();
        let app = tasklane_api::Application::build(settings, token.clone())
            .await
            .expect("gateway builds");
        let (addr, ops_addr) = (app.local_addr(), app.ops_addr());
        Self::ready(addr, ops_addr, token, tokio::spawn(app.run_until_stopped())).await
    }

    pub async fn worker(settings: Settings) -> Self {
        let token = CancellationToken::new();
        let worker = tasklane_worker::Worker::build(
            settings,
            tasklane_worker::Registry::built_in(),
            token.clone(),
        )
        .await
        .expect("worker builds");
        let addr = worker.local_addr();
        Self::ready(addr, addr, token, tokio::spawn(worker.run_until_stopped())).await
    }

    async fn ready(
        addr: SocketAddr,
        ops_addr: SocketAddr,
        token: CancellationToken,
        join: JoinHandle<anyhow::Result<()>>,
    ) -> Self {
        let handle = Self {
            addr,
            ops_addr,
            token,
            join: Some(join),
        };
        let client = handle.ops_client();
        eventually(Duration::from_secs(20), "app ready", || async {
            client.ready().await.then_some(())
        })
        .await;
        handle
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(format!("http://{}", self.addr))
    }

    /// A client of the ops address ([`AppHandle::ops_addr`]).
    pub fn ops_client(&self) -> ApiClient {
        ApiClient::new(format!("http://{}", self.ops_addr))
    }

    /// Graceful stop; panics unless the app shut down cleanly.
    pub async fn stop(mut self) {
        self.token.cancel();
        if let Some(join) = self.join.take() {
            join.await.expect("app task").expect("app stops cleanly");
        }
    }
}

impl Drop for AppHandle {
    fn drop(&mut self) {
        self.token.cancel();
    }
}

/// Declares the streams and the consumer through the same code the worker runs.
pub async fn declare_topology(settings: &Settings) {
    let queue = Queue::connect(settings, "tasklane-testkit", Duration::from_secs(5))
        .await
        .expect("nats client configures");
    queue
        .declare(&Topology::new(settings))
        .await
        .expect("the topology is declared");
}

/// A tasklane binary running as a child process.
pub struct ProcessApp {
    pub port: u16,
    process: ChildProcess,
    log: PathBuf,
    _dir: TempDir,
}

impl ProcessApp {
    pub fn start(binary: &str, env: HashMap<String, String>, port: u16) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(binary)
            .tempdir()
            .expect("temp dir");
        let log = dir.path().join("out.log");
        let mut command = Command::new(binary_path(binary));
        command.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        command.envs(env);
        let process = ChildProcess::spawn(binary, command, &log);
        Self {
            port,
            process,
            log,
            _dir: dir,
        }
    }

    pub fn client(&self) -> ApiClient {
        ApiClient::new(format!("http://127.0.0.1:{}", self.port))
    }

    pub async fn wait_ready(&self) {
        let client = self.client();
        eventually(Duration::from_secs(30), "process ready", || async {
            client.ready().await.then_some(())
        })
        .await;
    }

    pub fn pid(&self) -> u32 {
        self.process.pid()
    }

    pub fn is_running(&mut self) -> bool {
        self.process.is_running()
    }

    pub fn kill9(&mut self) {
        self.process.kill9();
    }

    pub fn terminate(&mut self, within: Duration) -> ExitStatus {
        self.process.terminate(within)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Path of a workspace binary, built once per test process if missing or stale.
pub fn binary_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        // The selection scripts/test.sh builds before the tests, so that this is a
        // no-op there: another selection unifies dependency features differently
        // and recompiles both binaries, minutes on a small machine.
        build
            .current_dir(workspace_root())
            .args(["build", "--quiet", "--workspace", "--bins"]);
        // Cargo describes the test's own crate in these. Inherited, they make the
        // build look different to build scripts that watch them (ring's does), which
        // then recompile everything above them.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    &*key,
                    "CARGO_CRATE_NAME"
                        | "CARGO_PRIMARY_PACKAGE"
                        | "CARGO_TARGET_TMPDIR"
                        | "OUT_DIR"
                )
            {
                build.env_remove(&*key);
            }
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "building the tasklane binaries failed");
    });
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| workspace_root().join("target"));
    target.join("debug").join(name)
}
