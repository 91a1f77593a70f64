use clap::Parser;
use tasklane_core::{Settings, shutdown, telemetry};

/// tasklane gateway: accepts tasks over HTTP and publishes them durably to NATS JetStream.
#[derive(Parser)]
#[command(name = "tasklane-api", version, after_long_help = Settings::reference(), after_help = Settings::reference())]
struct Cli {}

// glibc malloc and free were about 15% of this process's CPU under load (perf, see
// docs/benchmarks.md); mimalloc's per-thread free lists take a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("tasklane-api: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    telemetry::init(settings.log.format);
    for warning in settings.warnings() {
        tracing::warn!("{warning}");
    }
    let token = shutdown::on_signal();
    let result = async {
        let app = tasklane_api::Application::build(settings, token).await?;
        app.run_until_stopped().await
    }
    .await;
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "gateway failed");
            std::process::ExitCode::FAILURE
        }
    }
}
