//! The local scenarios: what each does to the topology and what it expects. Each runs
//! alone on a fresh topology.

use std::time::Duration;

use clap::ValueEnum;

use super::topology::ValkeyAccess;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    WorkerKillOne,
    WorkerKillAll,
    RollingSigterm,
    NatsKillFollower,
    NatsKillLeader,
    NatsStallNode,
    NatsRestartAll,
    ValkeyFailover,
    ValkeyUnreachable,
    Latency,
    PoisonTask,
    /// Breaks the rules on purpose, to prove the checker sees it; never part of `all`.
    CheckerSelfTest,
}

/// Every scenario of the full drill, in the order they run.
pub const ALL: &[Scenario] = &[
    Scenario::WorkerKillOne,
    Scenario::WorkerKillAll,
    Scenario::RollingSigterm,
    Scenario::NatsKillFollower,
    Scenario::NatsKillLeader,
    Scenario::NatsStallNode,
    Scenario::NatsRestartAll,
    Scenario::ValkeyFailover,
    Scenario::ValkeyUnreachable,
    Scenario::Latency,
    Scenario::PoisonTask,
];

/// The short drill `scripts/test.sh` runs: faults the current binaries survive, one
/// per component, that finish in about a minute each.
pub const SHORT: &[Scenario] = &[
    Scenario::WorkerKillAll,
    Scenario::NatsKillFollower,
    Scenario::ValkeyUnreachable,
];

/// How long faults last. The short drill keeps each just long enough for the same
/// mechanism to act (detection, redelivery, reconnect).
#[derive(Debug, Clone, Copy)]
pub struct Holds {
    /// From a kill -9 to the restart, as an orchestrator restarts a pod.
    pub restart_after: Duration,
    pub nats_down: Duration,
    pub stall: Duration,
    pub valkey_down: Duration,
    pub latency: Duration,
    /// How far the replica falls behind before the primary dies.
    pub replica_lag: Duration,
}

impl Holds {
    pub fn full() -> Self {
        Self {
            restart_after: Duration::from_secs(3),
            nats_down: Duration::from_secs(10),
            stall: Duration::from_secs(30),
            valkey_down: Duration::from_secs(30),
            latency: Duration::from_secs(30),
            replica_lag: Duration::from_secs(3),
        }
    }

    pub fn short() -> Self {
        Self {
            restart_after: Duration::from_secs(2),
            nats_down: Duration::from_secs(5),
            stall: Duration::from_secs(20),
            valkey_down: Duration::from_secs(10),
            latency: Duration::from_secs(10),
            replica_lag: Duration::from_secs(3),
        }
    }
}

impl Scenario {
    pub fn name(self) -> String {
        self.to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// What must hold while and after this fault acts.
    pub fn hypothesis(self) -> &'static str {
        match self {
            Scenario::WorkerKillOne => {
                "kill -9 of one of two workers: its tasks are redelivered after ack_wait and \
                 finish on the other worker; nothing lost, nothing counted twice"
            }
            Scenario::WorkerKillAll => {
                "kill -9 of both workers: the gateways keep accepting; the tasks wait in the \
                 stream and all finish once workers are back"
            }
            Scenario::RollingSigterm => {
                "SIGTERM to one worker at a time, then one gateway at a time, each restarted \
                 before the next: each exits 0 after draining; clients see at most a \
                 retryable error; nothing lost"
            }
            Scenario::NatsKillFollower => {
                "kill -9 of a NATS node following the TASKS stream: the stream keeps its \
                 quorum, clients on that node reconnect to another, nothing lost"
            }
            Scenario::NatsKillLeader => {
                "kill -9 of the TASKS stream leader: a new leader is elected; publishes during \
                 the election fail with 503 and a retry with the same key creates no duplicate"
            }
            Scenario::NatsStallNode => {
                "a NATS node stops answering without closing connections (stalled by the \
                 proxy): clients detect it by pings and resume through another node within \
                 10 s (SPEC, High availability)"
            }
            Scenario::NatsRestartAll => {
                "all three NATS nodes stopped and started again: accepted tasks survive on \
                 disk, the binaries reconnect without a restart"
            }
            Scenario::ValkeyFailover => {
                "the Valkey replica falls behind, then the primary is killed: Sentinel \
                 promotes the replica and no acknowledged outcome is lost (SPEC: every task \
                 the queue has let go of is readable with its final status)"
            }
            Scenario::ValkeyUnreachable => {
                "Valkey unreachable (connections refused and reset): keyed submissions get \
                 503, workers acknowledge nothing without its outcome, everything finishes \
                 afterwards"
            }
            Scenario::Latency => {
                "200 ms ± 50 ms added to every worker→NATS and worker→Valkey request: slower, \
                 but nothing lost and nothing counted twice"
            }
            Scenario::PoisonTask => {
                "tasks that panic on every attempt: dead-lettered after their 3 attempts, the \
                 workers keep running, the other tasks are unaffected"
            }
            Scenario::CheckerSelfTest => {
                "the drill's own check: a purged stream, a deleted outcome and an untracked \
                 task must show up as lost, acknowledged outcome lost and counted twice"
            }
        }
    }

    /// The longest wait for every task to finish. The self test loses tasks on
    /// purpose; waiting long for them proves nothing.
    pub fn settle(self, default: Duration) -> Duration {
        match self {
            Scenario::CheckerSelfTest => Duration::from_secs(15),
            _ => default,
        }
    }

    /// Faults on the path to Valkey need the proxy in that path, whatever the binaries
    /// could discover by themselves.
    pub fn valkey_access(self, preferred: ValkeyAccess) -> ValkeyAccess {
        match self {
            Scenario::ValkeyUnreachable | Scenario::Latency => ValkeyAccess::Proxy,
            _ => preferred,
        }
    }
}
