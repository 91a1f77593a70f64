use clap::Parser;
use tasklane_core::Settings;

/// tasklane gateway: accepts tasks over HTTP and publishes them durably to NATS JetStream.
#[derive(Parser)]
#[command(name = "tasklane-api", version, after_long_help = Settings::reference(), after_help = Settings::reference())]
struct Cli {
    /// Print the OpenAPI description of the API (docs/openapi.json) and exit.
    #[arg(long)]
    print_openapi: bool,
}

// glibc malloc and free were about 15% of this process's CPU under load (perf, see
// docs/benchmarks.md); mimalloc's per-thread free lists take a fraction of that.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if Cli::parse().print_openapi {
        print!("{}", tasklane_api::openapi_document());
        return std::process::ExitCode::SUCCESS;
    }
    tasklane_core::service::run("tasklane-api", |settings, shutdown| async move {
        let app = tasklane_api::Application::build(settings, shutdown).await?;
        app.run_until_stopped().await
    })
    .await
}
