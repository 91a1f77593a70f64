//! The local HA topology of one scenario: a 3-node NATS cluster, a Valkey primary and
//! replica with three Sentinels, two gateways and two workers (the built binaries), and
//! a fault proxy between the binaries and every server, one set for the gateways and
//! one for the workers, so a fault can hit one side only.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tasklane_testkit::valkey_sentinel::{SENTINEL_SERVICE, ValkeyHa, ValkeyHaOptions};
use tasklane_testkit::{FaultProxy, NatsCluster, free_port};

use super::apps::App;
use crate::gateway::Gateways;

pub const STREAM: &str = "TASKS";
const READY: Duration = Duration::from_secs(60);

/// Settings of both binaries: production's shape (R3 stream) with timings short
/// enough for a drill of minutes.
const SETTINGS: &[(&str, &str)] = &[
    ("TASKLANE_STREAM__REPLICAS", "3"),
    ("TASKLANE_LOG__FORMAT", "json"),
    ("TASKLANE_API__REQUEST_TIMEOUT", "10s"),
    ("TASKLANE_WORKER__ACK_WAIT", "5s"),
    ("TASKLANE_WORKER__RETRY_BASE_DELAY", "100ms"),
    ("TASKLANE_WORKER__RETRY_MAX_DELAY", "1s"),
    ("TASKLANE_WORKER__SHUTDOWN_GRACE", "5s"),
    ("TASKLANE_WORKER__CONCURRENCY", "16"),
    ("RUST_LOG", "info"),
];

/// How the binaries find the Valkey primary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValkeyAccess {
    /// One URL, a proxy the drill re-points after a failover, as HAProxy does.
    Proxy,
    /// Sentinel discovery (`TASKLANE_VALKEY__SENTINELS`), plus the same proxy URL.
    Sentinel,
}

#[derive(Debug, Clone)]
pub struct TopologyOptions {
    pub bin_dir: PathBuf,
    pub logs: PathBuf,
    pub valkey_access: ValkeyAccess,
    /// `TASKLANE_VALKEY__MIN_REPLICAS_ACK`, when the binaries know it.
    pub min_replicas_ack: Option<u32>,
}

/// Dropped in field order: the binaries first, then the proxies, then the servers.
pub struct Topology {
    pub gateways: Vec<App>,
    pub workers: Vec<App>,
    pub nats_for_gateways: Vec<FaultProxy>,
    pub nats_for_workers: Vec<FaultProxy>,
    pub valkey_for_gateways: FaultProxy,
    pub valkey_for_workers: FaultProxy,
    pub nats: NatsCluster,
    pub valkey: ValkeyHa,
    pub client: Arc<Gateways>,
    pub options: TopologyOptions,
}

impl Topology {
    pub async fn start(options: TopologyOptions) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&options.logs)?;
        let (nats, valkey) = tokio::task::block_in_place(|| {
            std::thread::scope(|scope| {
                let nats = scope.spawn(|| NatsCluster::start(3));
                let valkey = scope.spawn(|| {
                    ValkeyHa::start_with(ValkeyHaOptions {
                        replication_proxy: true,
                    })
                });
                (nats.join(), valkey.join())
            })
        });
        let (Ok(nats), Ok(valkey)) = (nats, valkey) else {
            anyhow::bail!("the NATS cluster or the Valkey set did not start");
        };
        let proxies = |nats: &NatsCluster| -> Vec<FaultProxy> {
            (0..nats.len())
                .map(|i| FaultProxy::start(([127, 0, 0, 1], nats.node(i).port).into()))
                .collect()
        };
        let primary = valkey.node(0).addr();
        let nats_for_gateways = proxies(&nats);
        let nats_for_workers = proxies(&nats);
        let valkey_for_gateways = FaultProxy::start(primary);
        let valkey_for_workers = FaultProxy::start(primary);
        let sentinels = valkey.sentinel_addrs();
        let side = |nats, valkey| Paths {
            nats,
            valkey,
            sentinels: &sentinels,
            options: &options,
        };
        let mut gateways: Vec<App> = (1..=2)
            .map(|i| side(&nats_for_gateways, &valkey_for_gateways).app(Role::Gateway, i))
            .collect();
        let mut workers: Vec<App> = (1..=2)
            .map(|i| side(&nats_for_workers, &valkey_for_workers).app(Role::Worker, i))
            .collect();
        // Only a worker declares the stream and its consumer, and gateways are not
        // ready until the stream exists: the first worker starts alone.
        workers[0].spawn();
        workers[0].wait_ready(READY).await?;
        for app in workers[1..].iter_mut().chain(gateways.iter_mut()) {
            app.spawn();
        }
        for app in gateways.iter_mut().chain(workers.iter_mut()) {
            app.wait_ready(READY).await?;
        }
        let client = Arc::new(Gateways::new(gateways.iter().map(App::base_url).collect())?);
        Ok(Self {
            gateways,
            workers,
            nats_for_gateways,
            nats_for_workers,
            valkey_for_gateways,
            valkey_for_workers,
            nats,
            valkey,
            client,
            options,
        })
    }

    /// Both proxies in front of NATS node `index` (gateways' and workers').
    pub fn nats_node_proxies(&self, index: usize) -> [&FaultProxy; 2] {
        [
            &self.nats_for_gateways[index],
            &self.nats_for_workers[index],
        ]
    }

    pub fn valkey_proxies(&self) -> [&FaultProxy; 2] {
        [&self.valkey_for_gateways, &self.valkey_for_workers]
    }

    /// Every path from the workers to a server.
    pub fn worker_paths(&self) -> impl Iterator<Item = &FaultProxy> {
        self.nats_for_workers
            .iter()
            .chain(std::iter::once(&self.valkey_for_workers))
    }

    /// The NATS node that most binaries are connected to now.
    pub fn busiest_nats_node(&self) -> usize {
        (0..self.nats.len())
            .max_by_key(|&i| {
                self.nats_node_proxies(i)
                    .iter()
                    .map(|p| p.connections())
                    .sum::<usize>()
            })
            .unwrap_or(0)
    }

    /// Messages the work stream has stored since it was created (its last sequence):
    /// with WorkQueue retention, acked messages are gone but still counted here.
    pub async fn enqueued(&self) -> Option<u64> {
        let js = self.nats.jetstream().await;
        let mut stream = js.get_stream(STREAM).await.ok()?;
        Some(stream.info().await.ok()?.state.last_sequence)
    }

    /// Stops everything; blocking, so it runs off the async workers.
    pub fn teardown(self) {
        tokio::task::block_in_place(move || drop(self));
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Gateway,
    Worker,
}

/// Where one side's binaries reach the servers.
struct Paths<'a> {
    nats: &'a [FaultProxy],
    valkey: &'a FaultProxy,
    sentinels: &'a str,
    options: &'a TopologyOptions,
}

impl Paths<'_> {
    fn app(&self, role: Role, index: usize) -> App {
        let (binary, name, listen) = match role {
            Role::Gateway => ("tasklane-api", "gateway", "TASKLANE_API__LISTEN"),
            Role::Worker => ("tasklane-worker", "worker", "TASKLANE_WORKER__LISTEN"),
        };
        let port = free_port();
        let urls: Vec<String> = self
            .nats
            .iter()
            .map(|p| format!("nats://127.0.0.1:{}", p.port()))
            .collect();
        let mut env: Vec<(String, String)> = SETTINGS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.extend([
            (listen.to_string(), format!("127.0.0.1:{port}")),
            ("TASKLANE_NATS__URL".into(), urls.join(",")),
            (
                "TASKLANE_VALKEY__URL".into(),
                format!("redis://127.0.0.1:{}", self.valkey.port()),
            ),
        ]);
        if self.options.valkey_access == ValkeyAccess::Sentinel {
            env.push(("TASKLANE_VALKEY__SENTINELS".into(), self.sentinels.into()));
            env.push((
                "TASKLANE_VALKEY__SENTINEL_SERVICE".into(),
                SENTINEL_SERVICE.into(),
            ));
        }
        if let Some(replicas) = self.options.min_replicas_ack {
            env.push((
                "TASKLANE_VALKEY__MIN_REPLICAS_ACK".into(),
                replicas.to_string(),
            ));
        }
        App::new(
            &format!("{name}-{index}"),
            self.options.bin_dir.join(binary),
            env,
            port,
            &self.options.logs,
        )
    }
}
