//! The drill against a deployed release: the same load and the same checker as the
//! local drill, with the fault applied and removed by commands the caller gives (for
//! example `kubectl apply` / `kubectl delete` of a Chaos Mesh experiment).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;

use crate::check::Window;
use crate::exercise::{Exercise, Timings};
use crate::gateway::Gateways;
use crate::load::LoadSettings;
use crate::report::{Output, Report, ScenarioResult};

#[derive(Args)]
pub struct RemoteArgs {
    /// Gateway base URL (`http://host:port`, e.g. a `kubectl port-forward`); repeat
    /// for several.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// The experiment's name, for the report.
    #[arg(long)]
    pub name: String,
    /// What the experiment expects, for the report.
    #[arg(long, default_value = "")]
    pub hypothesis: String,
    /// Shell command that starts the fault (run with `sh -c`).
    #[arg(long)]
    pub fault_command: Option<String>,
    /// Shell command that ends it; run `fault_for` after the fault command.
    #[arg(long)]
    pub heal_command: Option<String>,
    /// How long the fault stays applied.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub fault_for: Duration,
    /// Load before the fault.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,
    /// Load after the heal command.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub after_heal: Duration,
    /// Longest wait, once the load stops, for every accepted task to be seen final.
    #[arg(long, default_value = "600s", value_parser = humantime::parse_duration)]
    pub settle: Duration,
    /// At least twice the worker's ack wait (30 s by default in the charts).
    #[arg(long, default_value = "70s", value_parser = humantime::parse_duration)]
    pub quiet: Duration,
    /// Tasks per second.
    #[arg(long, default_value_t = 5.0)]
    pub rate: f64,
    #[command(flatten)]
    pub output: Output,
}

pub async fn run(args: RemoteArgs) -> anyhow::Result<Report> {
    let started = Instant::now();
    let gateways = Arc::new(Gateways::new(args.urls.clone())?);
    let load = LoadSettings {
        rate: args.rate,
        in_flight: 64,
        retry_for: Duration::from_secs(60),
    };
    let run_id = format!("{}-{}", args.name, unique_suffix());
    let exercise = Exercise::begin(gateways, load, run_id).await?;
    tokio::time::sleep(args.warmup).await;
    let mut window = Window::default();
    let mut notes = Vec::new();
    if let Some(command) = &args.fault_command {
        shell(command).await?;
        window.fault_at = Some(exercise.log().now());
        notes.push(format!("fault: {command}"));
    }
    tokio::time::sleep(args.fault_for).await;
    if let Some(command) = &args.heal_command {
        shell(command).await?;
        window.healed_at = Some(exercise.log().now());
        notes.push(format!("heal: {command}"));
    }
    tokio::time::sleep(args.after_heal).await;
    let collected = exercise
        .finish(Timings {
            warmup: args.warmup,
            after_heal: args.after_heal,
            settle: args.settle,
            quiet: args.quiet,
        })
        .await?;
    let verdict = collected.verdict(None, window);
    notes.push(
        "counters are compared as differences over the run: other traffic on the same \
         release shows up as counted twice or uncounted"
            .into(),
    );
    let result = ScenarioResult {
        name: args.name.clone(),
        hypothesis: args.hypothesis.clone(),
        passed: verdict.failures.is_empty(),
        verdict,
        window,
        detect_s: None,
        duration_s: started.elapsed().as_secs_f64(),
        counters_before: collected.before,
        counters_after: collected.after,
        notes,
    };
    Ok(Report {
        mode: "remote".into(),
        setup: vec![
            format!("gateways: {}", args.urls.join(", ")),
            format!(
                "load: {} tasks/s, every submission keyed and retried with its key",
                args.rate
            ),
        ],
        scenarios: vec![result],
    })
}

async fn shell(command: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .await
        .with_context(|| format!("running {command}"))?;
    if !status.success() {
        bail!("`{command}` failed with {status}");
    }
    Ok(())
}

/// Keeps idempotency keys of separate runs apart.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("{nanos:x}")
}
