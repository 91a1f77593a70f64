//! `tasklane-drill`: chaos drills with a verdict. Steady mixed load goes through the
//! gateway while one fault acts; afterwards every accepted task is checked: it reached
//! the final status it asked for, no outcome once shown was lost, and the `/stats`
//! counters count each finished task exactly once. Writes the table as JSON and
//! Markdown and exits non-zero when any scenario fails.

mod background;
mod check;
mod exercise;
mod gateway;
mod load;
mod local;
mod mix;
mod observe;
mod remote;
mod report;
mod run_log;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "tasklane-drill", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Each scenario on a fresh local HA topology (NATS cluster, Valkey with Sentinels,
    /// fault proxies, 2 gateways and 2 workers from the built binaries).
    Local(local::LocalArgs),
    /// Load and check against a deployed release; the fault comes from commands.
    Remote(remote::RemoteArgs),
    /// Lists the local scenarios and what each expects.
    List,
}

fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    // More threads than cores: a kit call that blocks (killing or restarting a
    // server) must never hold up the load or the observer.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?;
    let (report, output) = match cli.command {
        Command::List => {
            for scenario in local::ALL
                .iter()
                .chain(std::iter::once(&local::Scenario::CheckerSelfTest))
            {
                println!("{:20} {}", scenario.name(), scenario.hypothesis());
            }
            return Ok(ExitCode::SUCCESS);
        }
        Command::Local(args) => {
            let output = args.output.clone();
            (runtime.block_on(local::run(args))?, output)
        }
        Command::Remote(args) => {
            let output = args.output.clone();
            (runtime.block_on(remote::run(args))?, output)
        }
    };
    report.write(&output)?;
    println!("{}", report.markdown());
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
