//! A 3-node NATS cluster with JetStream on loopback, as production runs it (R3 streams
//! survive one node down): each node has its own client, route and monitoring ports
//! and its own store directory, and can be killed, stopped and started again on the
//! same ports with the same data.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use tempfile::TempDir;

use crate::free_port;
use crate::ports::{self, Started};
use crate::process::ChildProcess;
use crate::servers::{find_binary, http_ok};

const READY_TIMEOUT: Duration = Duration::from_secs(60);

pub struct NatsNode {
    /// The server name, as JetStream reports leaders and peers.
    pub name: String,
    pub port: u16,
    pub cluster_port: u16,
    pub monitor_port: u16,
    config: PathBuf,
    log: PathBuf,
    process: Option<ChildProcess>,
}

impl NatsNode {
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.process.is_some()
    }

    fn spawn(&mut self) {
        let mut command = Command::new(find_binary("NATS_SERVER_BIN", "bin", "nats-server"));
        command.arg("-c").arg(&self.config);
        self.process = Some(ChildProcess::spawn(&self.name, command, &self.log));
    }

    fn healthy(&self) -> bool {
        // Without `js-enabled-only`, healthz also waits for the JetStream meta group
        // and this node's streams to be current.
        self.is_running() && http_ok(self.monitor_port, "/healthz")
    }

    fn wait_healthy(&self) {
        let started = Instant::now();
        while !self.healthy() {
            if started.elapsed() > READY_TIMEOUT {
                panic!(
                    "{} did not become healthy within {READY_TIMEOUT:?}; log:\n{}",
                    self.name,
                    std::fs::read_to_string(&self.log).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub struct NatsCluster {
    nodes: Vec<NatsNode>,
    _dir: TempDir,
}

impl NatsCluster {
    /// Starts `size` nodes and waits until every one is healthy (routes up, JetStream
    /// meta leader elected). Picks fresh ports for all of them when one was taken.
    pub fn start(size: usize) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("tasklane-nats-cluster-")
            .tempdir()
            .expect("temp dir");
        for attempt in 1..=ports::ATTEMPTS {
            // A fresh folder per attempt: no store remembers peers on the old ports.
            let folder = dir.path().join(format!("attempt-{attempt}"));
            std::fs::create_dir_all(&folder).expect("cluster folder");
            let mut nodes = configure(&folder, size);
            if start_together(&mut nodes) {
                return Self { nodes, _dir: dir };
            }
        }
        panic!(
            "no free ports for the NATS cluster after {} tries",
            ports::ATTEMPTS
        );
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    pub fn node(&self, index: usize) -> &NatsNode {
        &self.nodes[index]
    }

    pub fn nodes(&self) -> &[NatsNode] {
        &self.nodes
    }

    /// Every node's client URL, comma-separated (the form `TASKLANE_NATS__URL` takes).
    pub fn urls(&self) -> String {
        self.urls_of(self.nodes.iter())
    }

    fn urls_of<'a>(&self, nodes: impl Iterator<Item = &'a NatsNode>) -> String {
        nodes.map(NatsNode::url).collect::<Vec<_>>().join(",")
    }

    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }

    pub fn kill9(&mut self, index: usize) {
        if let Some(mut process) = self.nodes[index].process.take() {
            process.kill9();
        }
    }

    /// Graceful stop (SIGTERM).
    pub fn stop(&mut self, index: usize) {
        if let Some(mut process) = self.nodes[index].process.take() {
            process.terminate(Duration::from_secs(30));
        }
    }

    /// Starts a stopped or killed node again on its ports with its store, and waits
    /// until it is healthy (back in the cluster, its streams caught up).
    pub fn start_again(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        assert!(!node.is_running(), "{} is still running", node.name);
        node.spawn();
        node.wait_healthy();
    }

    pub fn restart(&mut self, index: usize) {
        self.stop(index);
        self.start_again(index);
    }

    /// Starts every stopped node at once (a majority must come back together before
    /// any of them is healthy) and waits for all of them.
    pub fn start_stopped(&mut self) {
        for node in self.nodes.iter_mut().filter(|n| !n.is_running()) {
            node.spawn();
        }
        for node in &self.nodes {
            node.wait_healthy();
        }
    }

    /// A JetStream context on the running nodes, with one-second requests.
    pub async fn jetstream(&self) -> jetstream::Context {
        let urls = self.urls_of(self.nodes.iter().filter(|n| n.is_running()));
        let servers: Vec<async_nats::ServerAddr> = urls
            .split(',')
            .map(|u| u.parse().expect("node URL parses"))
            .collect();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .connect(servers)
            .await
            .expect("a running node accepts connections");
        // Short requests: the helpers poll, and a request that lands on a node in the
        // middle of an election should be retried, not waited out.
        jetstream::ContextBuilder::new()
            .timeout(Duration::from_secs(1))
            .build(client)
    }

    /// The stream's cluster view: leader and replicas, from the running nodes.
    pub async fn stream_cluster(&self, stream: &str) -> Option<jetstream::stream::ClusterInfo> {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(stream).await.ok()?;
        stream.info().await.ok()?.cluster.clone()
    }

    /// The index of the node leading `stream`, once it has one (waits up to a minute,
    /// as an election after a leader loss takes a few seconds).
    pub async fn stream_leader(&self, stream: &str) -> usize {
        let started = Instant::now();
        loop {
            let leader = self
                .stream_cluster(stream)
                .await
                .and_then(|c| c.leader)
                .and_then(|name| self.index_of(&name));
            if let Some(index) = leader.filter(|&i| self.nodes[i].is_running()) {
                return index;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "stream {stream} has no leader"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A running node that holds a current replica of `stream` and does not lead it.
    pub async fn stream_follower(&self, stream: &str) -> usize {
        let started = Instant::now();
        loop {
            let follower = self.stream_cluster(stream).await.and_then(|c| {
                c.replicas
                    .iter()
                    .filter(|peer| peer.current && !peer.offline)
                    .find_map(|peer| self.index_of(&peer.name))
            });
            if let Some(index) = follower.filter(|&i| self.nodes[i].is_running()) {
                return index;
            }
            assert!(
                started.elapsed() < READY_TIMEOUT,
                "stream {stream} has no current follower"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until `stream` has a leader and every other running node holds a current
    /// replica: after a restart, the node has caught up.
    pub async fn wait_stream_current(&self, stream: &str, deadline: Duration) {
        let started = Instant::now();
        loop {
            if let Some(cluster) = self.stream_cluster(stream).await {
                let running = self.nodes.iter().filter(|n| n.is_running()).count();
                let current = cluster
                    .replicas
                    .iter()
                    .filter(|p| p.current && !p.offline)
                    .filter(|p| {
                        self.index_of(&p.name)
                            .is_some_and(|i| self.nodes[i].is_running())
                    })
                    .count();
                if cluster.leader.is_some() && current + 1 >= running {
                    return;
                }
            }
            assert!(
                started.elapsed() < deadline,
                "stream {stream} replicas not current within {deadline:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// Nodes on fresh ports, each with its config file written.
fn configure(dir: &Path, size: usize) -> Vec<NatsNode> {
    let nodes: Vec<NatsNode> = (1..=size)
        .map(|i| NatsNode {
            name: format!("node-{i}"),
            port: free_port(),
            cluster_port: free_port(),
            monitor_port: free_port(),
            config: dir.join(format!("node-{i}.conf")),
            log: dir.join(format!("node-{i}.log")),
            process: None,
        })
        .collect();
    let routes: Vec<String> = nodes
        .iter()
        .map(|n| format!("\"nats://127.0.0.1:{}\"", n.cluster_port))
        .collect();
    for node in &nodes {
        let store = dir.join(&node.name);
        let config = format!(
            r#"server_name: "{name}"
listen: "127.0.0.1:{port}"
http: "127.0.0.1:{monitor}"
jetstream {{
  store_dir: "{store}"
  max_memory_store: 64MB
  max_file_store: 1GB
}}
cluster {{
  name: "tasklane-test"
  listen: "127.0.0.1:{cluster}"
  routes: [{routes}]
  # Clients use only the URLs they were given, never the ones the cluster gossips:
  # a fault proxy in front of each node then sees all of their traffic.
  no_advertise: true
}}
"#,
            name = node.name,
            port = node.port,
            monitor = node.monitor_port,
            store = store.display(),
            cluster = node.cluster_port,
            routes = routes.join(", "),
        );
        std::fs::write(&node.config, config).expect("node config written");
    }
    nodes
}

/// Starts every node at once (a node is healthy only once a majority is up) and waits
/// for all; false, with every node stopped, when one found a port taken.
fn start_together(nodes: &mut [NatsNode]) -> bool {
    let log_from: Vec<usize> = nodes.iter().map(|n| ports::log_end(&n.log)).collect();
    for node in nodes.iter_mut() {
        node.spawn();
    }
    for i in 0..nodes.len() {
        let (name, log, monitor) = (
            nodes[i].name.clone(),
            nodes[i].log.clone(),
            nodes[i].monitor_port,
        );
        let process = nodes[i].process.as_mut().expect("just spawned");
        let ready = || http_ok(monitor, "/healthz");
        if let Started::PortTaken =
            ports::wait_started(&name, process, &log, log_from[i], READY_TIMEOUT, ready)
        {
            for node in nodes.iter_mut() {
                node.process = None;
            }
            return false;
        }
    }
    true
}
