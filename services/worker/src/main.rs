use clap::Parser;
use tasklane_core::Settings;
use tasklane_worker::{Registry, Worker};

/// tasklane worker: pulls tasks from NATS JetStream, runs them and writes results to Valkey.
#[derive(Parser)]
#[command(name = "tasklane-worker", version, after_long_help = Settings::reference(), after_help = Settings::reference())]
struct Cli {
    /// Declare the work stream, the dead-letter stream and the consumer, then exit.
    /// Workers with `topology.manage = declare` do this on start; with `verify`, run
    /// it first, as a NATS user that may manage streams (NATS client name
    /// `tasklane-setup`). Also for running the gateway before any worker.
    #[arg(long)]
    declare_topology: bool,
}

// glibc malloc and free were about 15% of this process's CPU under load (perf, see
// docs/benchmarks.md); mimalloc's per-thread free lists take a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // A panic inside a task is caught and counted as a failed attempt; log it as a
    // JSON line like everything else instead of raw text on stderr.
    std::panic::set_hook(Box::new(|info| {
        tracing::error!(panic = %info, "panic");
    }));
    tasklane_core::service::run("tasklane-worker", |settings, shutdown| async move {
        if cli.declare_topology {
            return tasklane_worker::startup::declare_topology(&settings).await;
        }
        let worker = Worker::build(settings, Registry::built_in(), shutdown).await?;
        worker.run_until_stopped().await
    })
    .await
}
