//! `tasklane-ctl`: operate a tasklane queue through the gateway's HTTP API only, so it
//! needs nothing but the gateway's URL and a token. Output is a table, or the
//! gateway's JSON with `--json`; the exit code says how it went (`--help`).

mod cli;
mod commands;
mod gateway;
mod output;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::Cli;
use crate::gateway::{Gateway, exit};
use crate::output::Format;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let format = if cli.json {
        Format::Json
    } else {
        Format::Table
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("tasklane-ctl: runtime: {e}");
            return ExitCode::from(exit::OTHER);
        }
    };
    let outcome = runtime.block_on(async {
        let gateway = Gateway::new(&cli.connection)?;
        commands::run(&gateway, cli.command, format).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("tasklane-ctl: {failure}");
            ExitCode::from(failure.code)
        }
    }
}
