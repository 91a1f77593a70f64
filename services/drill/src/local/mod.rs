//! The local drill: each scenario on a fresh HA topology on loopback (NATS cluster,
//! Valkey with Sentinels, fault proxies, two gateways and two workers from the built
//! binaries), under steady load, then checked task by task.

mod apps;
mod faults;
mod scenarios;
mod topology;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};

pub use scenarios::{ALL, Scenario};
use scenarios::{Holds, SHORT};
use topology::{Topology, TopologyOptions, ValkeyAccess};

use crate::check;
use crate::exercise::{Exercise, Timings};
use crate::load::LoadSettings;
use crate::report::{Output, Report, ScenarioResult};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Discovery {
    /// Sentinel when the binaries accept `TASKLANE_VALKEY__SENTINELS`, else the proxy.
    Auto,
    Proxy,
    Sentinel,
}

#[derive(Args)]
pub struct LocalArgs {
    /// Scenarios to run, comma-separated (default: every scenario; with --short, the
    /// short set).
    #[arg(long, value_delimiter = ',')]
    pub scenarios: Vec<Scenario>,
    /// Shorter faults and load phases, and by default the short set of scenarios.
    #[arg(long)]
    pub short: bool,
    /// Where `tasklane-api` and `tasklane-worker` are (default: next to this binary).
    #[arg(long)]
    pub bin_dir: Option<PathBuf>,
    /// Keep every process's log here, one folder per scenario.
    #[arg(long)]
    pub logs: Option<PathBuf>,
    /// How the binaries find the Valkey primary.
    #[arg(long, value_enum, default_value = "auto")]
    pub valkey_discovery: Discovery,
    /// `TASKLANE_VALKEY__MIN_REPLICAS_ACK` for the binaries: a number, `off`, or
    /// `auto` (1 when the binaries accept the key).
    #[arg(long, default_value = "auto")]
    pub min_replicas_ack: String,
    /// Tasks per second.
    #[arg(long, default_value_t = 20.0)]
    pub rate: f64,
    #[command(flatten)]
    pub output: Output,
}

pub async fn run(args: LocalArgs) -> anyhow::Result<Report> {
    let bin_dir = match &args.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    let worker = bin_dir.join("tasklane-worker");
    anyhow::ensure!(
        worker.exists() && bin_dir.join("tasklane-api").exists(),
        "tasklane-api and tasklane-worker not found in {}",
        bin_dir.display()
    );
    let help = help_text(&worker)?;
    let knows = |key: &str| help.contains(key);
    let valkey_access = match args.valkey_discovery {
        Discovery::Proxy => ValkeyAccess::Proxy,
        Discovery::Sentinel => ValkeyAccess::Sentinel,
        Discovery::Auto if knows("TASKLANE_VALKEY__SENTINELS") => ValkeyAccess::Sentinel,
        Discovery::Auto => ValkeyAccess::Proxy,
    };
    let min_replicas_ack = match args.min_replicas_ack.as_str() {
        "off" => None,
        "auto" => knows("TASKLANE_VALKEY__MIN_REPLICAS_ACK").then_some(1),
        n => Some(n.parse()?),
    };
    let scenarios: Vec<Scenario> = match (&args.scenarios[..], args.short) {
        ([], true) => SHORT.to_vec(),
        ([], false) => ALL.to_vec(),
        (chosen, _) => chosen.to_vec(),
    };
    let (holds, timings) = if args.short {
        (Holds::short(), timings(5, 10))
    } else {
        (Holds::full(), timings(10, 20))
    };
    let load = LoadSettings {
        rate: args.rate,
        in_flight: 64,
        retry_for: Duration::from_secs(30),
    };
    let scratch = tempfile::Builder::new()
        .prefix("tasklane-drill-")
        .tempdir()?;
    let logs_root = args
        .logs
        .clone()
        .unwrap_or_else(|| scratch.path().to_path_buf());
    let setup = vec![
        "topology: 3 NATS nodes (TASKS stream R3), Valkey primary + replica + 3 Sentinels, \
         2 gateways, 2 workers, a fault proxy on every path; all on 127.0.0.1"
            .to_string(),
        format!("binaries: {}", bin_dir.display()),
        format!(
            "valkey access: {valkey_access:?}; min_replicas_ack: {}",
            min_replicas_ack.map_or("not set".into(), |n: u32| n.to_string())
        ),
        format!(
            "load: {} tasks/s (45% echo, 25% sleep 50-400 ms, 15% fail then succeed, 8% \
             permanent failure, 7% dead-lettered), every submission keyed and retried with \
             its key for up to {:?}",
            load.rate, load.retry_for
        ),
        format!(
            "phases: {:?} of load, the fault, {:?} of load after it, settle up to {:?}, {:?} quiet",
            timings.warmup, timings.after_heal, timings.settle, timings.quiet
        ),
    ];
    let mut results = Vec::new();
    for scenario in scenarios {
        let options = TopologyOptions {
            bin_dir: bin_dir.clone(),
            logs: logs_root.join(scenario.name()),
            valkey_access: scenario.valkey_access(valkey_access),
            min_replicas_ack,
        };
        eprintln!("==> {}: {}", scenario.name(), scenario.hypothesis());
        let timings = Timings {
            settle: scenario.settle(timings.settle),
            ..timings
        };
        let run = tokio::spawn(run_scenario(scenario, options, holds, timings, load));
        let result = match run.await {
            Ok(Ok(result)) => result,
            Ok(Err(error)) => failed_to_run(scenario, format!("{error:#}")),
            Err(panic) => failed_to_run(scenario, format!("drill error: {panic}")),
        };
        eprintln!(
            "<== {}: {}",
            scenario.name(),
            if result.passed {
                "pass".to_string()
            } else {
                result.verdict.failures.join("; ")
            }
        );
        results.push(result);
    }
    Ok(Report {
        mode: "local".into(),
        setup,
        scenarios: results,
    })
}

fn timings(warmup: u64, after_heal: u64) -> Timings {
    Timings {
        warmup: Duration::from_secs(warmup),
        after_heal: Duration::from_secs(after_heal),
        settle: Duration::from_secs(120),
        // Twice the drill's ack wait (5 s).
        quiet: Duration::from_secs(10),
    }
}

async fn run_scenario(
    scenario: Scenario,
    options: TopologyOptions,
    holds: Holds,
    timings: Timings,
    load: LoadSettings,
) -> anyhow::Result<ScenarioResult> {
    let started = Instant::now();
    let mut topology = start_topology(options).await?;
    let enqueued_before = topology.enqueued().await;
    let run_id = format!("{}-{}", scenario.name(), std::process::id());
    let exercise = Exercise::begin(topology.client.clone(), load, run_id).await?;
    tokio::time::sleep(timings.warmup).await;
    let fault = faults::inject(scenario, &mut topology, &exercise, holds).await?;
    tokio::time::sleep(timings.after_heal).await;
    let collected = exercise.finish(timings).await?;
    let enqueued = match (enqueued_before, topology.enqueued().await) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    topology.teardown();
    let mut verdict = collected.verdict(enqueued, fault.window);
    verdict.failures.extend(fault.failures);
    let mut notes = fault.notes;
    if !collected.settled {
        notes.push(format!(
            "not every task was seen final within {:?}",
            timings.settle
        ));
    }
    Ok(ScenarioResult {
        name: scenario.name(),
        hypothesis: scenario.hypothesis().into(),
        passed: verdict.failures.is_empty(),
        verdict,
        window: fault.window,
        detect_s: fault.detect_s,
        duration_s: started.elapsed().as_secs_f64(),
        counters_before: collected.before,
        counters_after: collected.after,
        notes,
    })
}

/// A port picked at run time can be taken by another process before a binary binds
/// it; a fresh topology picks fresh ports.
async fn start_topology(options: TopologyOptions) -> anyhow::Result<Topology> {
    const ATTEMPTS: usize = 3;
    let mut attempt = 1;
    loop {
        match Topology::start(options.clone()).await {
            Ok(topology) => return Ok(topology),
            Err(error) if attempt < ATTEMPTS => {
                eprintln!("topology did not start ({error:#}); starting a fresh one");
                attempt += 1;
            }
            Err(error) => return Err(error),
        }
    }
}

fn failed_to_run(scenario: Scenario, error: String) -> ScenarioResult {
    ScenarioResult {
        name: scenario.name(),
        hypothesis: scenario.hypothesis().into(),
        passed: false,
        verdict: check::Verdict {
            failures: vec![format!("the scenario did not complete: {error}")],
            ..Default::default()
        },
        window: Default::default(),
        detect_s: None,
        duration_s: 0.0,
        counters_before: Default::default(),
        counters_after: Default::default(),
        notes: Vec::new(),
    }
}

/// The configuration reference the binary prints: which keys it accepts.
fn help_text(binary: &Path) -> anyhow::Result<String> {
    let output = Command::new(binary).arg("--help").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
