//! The fault each scenario injects into a running topology, and what it observed on
//! the way (the fault window, detection times, exit codes).

mod nats;
mod processes;
mod self_test;
mod valkey;

use std::time::Duration;

use super::scenarios::{Holds, Scenario};
use super::topology::Topology;
use crate::check::Window;
use crate::exercise::Exercise;

/// What happened while a fault acted.
#[derive(Debug, Default)]
pub struct Fault {
    pub window: Window,
    pub detect_s: Option<f64>,
    pub failures: Vec<String>,
    pub notes: Vec<String>,
}

/// Everything a fault acts on.
pub struct Ctx<'a> {
    pub topology: &'a mut Topology,
    pub exercise: &'a Exercise,
    pub holds: Holds,
    pub fault: Fault,
}

impl Ctx<'_> {
    /// Marks the fault's start on the run clock.
    fn started(&mut self) {
        self.fault.window.fault_at = Some(self.exercise.log().now());
    }

    /// Marks the end of the fault (the component is back, the network restored).
    fn healed(&mut self) {
        self.fault.window.healed_at = Some(self.exercise.log().now());
    }

    fn note(&mut self, note: impl Into<String>) {
        self.fault.notes.push(note.into());
    }

    fn fail(&mut self, failure: impl Into<String>) {
        self.fault.failures.push(failure.into());
    }

    /// Seconds since the fault started.
    fn since_fault(&self) -> f64 {
        self.exercise.log().now() - self.fault.window.fault_at.unwrap_or_default()
    }
}

pub async fn inject(
    scenario: Scenario,
    topology: &mut Topology,
    exercise: &Exercise,
    holds: Holds,
) -> anyhow::Result<Fault> {
    let mut ctx = Ctx {
        topology,
        exercise,
        holds,
        fault: Fault::default(),
    };
    match scenario {
        Scenario::WorkerKillOne => processes::kill_workers(&mut ctx, &[0]).await?,
        Scenario::WorkerKillAll => processes::kill_workers(&mut ctx, &[0, 1]).await?,
        Scenario::RollingSigterm => processes::rolling_sigterm(&mut ctx).await?,
        Scenario::PoisonTask => processes::poison(&mut ctx).await,
        Scenario::NatsKillFollower => nats::kill_node(&mut ctx, false).await,
        Scenario::NatsKillLeader => nats::kill_node(&mut ctx, true).await,
        Scenario::NatsStallNode => nats::stall_node(&mut ctx).await,
        Scenario::NatsRestartAll => nats::restart_all(&mut ctx).await,
        Scenario::ValkeyFailover => valkey::failover(&mut ctx).await,
        Scenario::ValkeyUnreachable => valkey::unreachable(&mut ctx).await,
        Scenario::Latency => valkey::worker_latency(&mut ctx).await,
        Scenario::CheckerSelfTest => self_test::break_the_rules(&mut ctx).await?,
    }
    Ok(ctx.fault)
}

/// Runs a blocking kit call (kill, restart, failover wait) off the async workers.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

async fn sleep(duration: Duration) {
    tokio::time::sleep(duration).await;
}
