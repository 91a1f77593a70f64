//! `tasklane-loadgen`: the load generator behind `scripts/bench.sh`.
//!
//! Every mode prints one JSON object on stdout (the figures `bench.sh` tabulates) and a
//! human-readable summary on stderr.

mod bare;
mod http_load;
mod jetstream;
mod latency;
mod noop;
mod stats_client;

use std::time::Duration;

use clap::{Parser, Subcommand};

/// tasklane load generator: HTTP load against the gateway (closed and open loop), the
/// raw JetStream publish and consume+ack ceilings, a no-op axum server as the HTTP
/// ceiling, and the bare-bones pipeline tasklane is measured against.
#[derive(Parser)]
#[command(name = "tasklane-loadgen", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// `POST /task` (or `POST /tasks` with `--batch N`) load: closed loop by default,
    /// open loop at a fixed arrival rate with `--rate`.
    Http(http_load::HttpArgs),
    /// Waits until the gateway's `/stats` reports a processed count, and reports the
    /// drain rate from the first change to the target.
    WaitProcessed(stats_client::WaitArgs),
    /// Publishes straight to JetStream with many PubAcks in flight (the raw ceiling).
    JsPublish(jetstream::PublishArgs),
    /// Pulls and acks from a JetStream consumer as fast as possible (the raw ceiling).
    JsConsume(jetstream::ConsumeArgs),
    /// An axum server that only parses the task JSON and answers 202: the HTTP ceiling
    /// of this machine, measured with the same client.
    NoopServer(noop::NoopArgs),
    /// The bare-bones gateway: parse, publish, await the PubAck, answer 202 with an
    /// id; `GET /stats` counts what the bare worker stored.
    BareGateway(bare::gateway::GatewayArgs),
    /// The bare-bones worker: pull, one Valkey `SET` per message, ack.
    BareWorker(bare::worker::WorkerArgs),
}

pub fn parse_duration(s: &str) -> Result<Duration, humantime::DurationError> {
    humantime::parse_duration(s)
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(async move {
        match cli.command {
            Command::Http(args) => http_load::run(args).await,
            Command::WaitProcessed(args) => stats_client::wait(args).await,
            Command::JsPublish(args) => jetstream::publish(args).await,
            Command::JsConsume(args) => jetstream::consume(args).await,
            Command::NoopServer(args) => noop::serve(args).await,
            Command::BareGateway(args) => bare::gateway::serve(args).await,
            Command::BareWorker(args) => bare::worker::run(args).await,
        }
    })?;
    if let Some(report) = report {
        println!("{report}");
    }
    Ok(())
}
