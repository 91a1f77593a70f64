//! The command line: global connection flags and one subcommand per operation.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// The exit codes, as `--help` lists them (and docs/cli.md).
const EXIT_CODES: &str = "\
Exit codes:
  0  done (wait: the task succeeded)
  1  anything else: an unexpected answer, an internal error of the gateway, or a
     bulk re-drive where some dead tasks were not re-driven
  2  usage: bad arguments, or the gateway refused the request as invalid (400, 413, 415, 422)
  3  not found (404)
  4  conflict (409): already finished, already re-driven, not dead, request in flight
  5  authentication or scope (401, 403)
  6  gateway unavailable: not reachable, timed out, 429 or 503
  7  wait: the task ended failed, dead or cancelled
  8  wait: no final status within --timeout

Errors are one line on stderr: the problem's title, status and detail.";

/// Operate a tasklane queue through its gateway.
#[derive(Debug, Parser)]
#[command(name = "tasklane-ctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    #[command(flatten)]
    pub connection: Connection,
    /// Print the gateway's JSON instead of a table.
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

/// Where the gateway is and who is asking.
#[derive(Debug, Args)]
pub struct Connection {
    /// The gateway's base URL.
    #[arg(
        long,
        env = "TASKLANE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub url: String,
    /// Bearer token (API key or JWT); never printed.
    #[arg(long, env = "TASKLANE_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
    /// How long one HTTP request may take (e.g. 10s, 500ms).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub request_timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Submit one task (POST /task).
    Submit(Submit),
    /// Show a task's record (GET /task/{id}).
    Get {
        /// The task id.
        id: String,
    },
    /// Poll a task until it is succeeded, failed, dead or cancelled.
    Wait {
        /// The task id.
        id: String,
        /// Give up after this long (exit 8).
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        timeout: Duration,
        /// Time between two polls.
        #[arg(long, default_value = "500ms", value_parser = humantime::parse_duration)]
        interval: Duration,
    },
    /// Cancel a queued or running task (DELETE /task/{id}).
    Cancel {
        /// The task id.
        id: String,
    },
    /// Counters and queue depth (GET /stats; scope admin).
    Stats,
    /// Dead tasks: list and re-drive (scope admin).
    #[command(subcommand)]
    DeadLetters(DeadLetters),
}

#[derive(Debug, Args)]
pub struct Submit {
    /// The task type (echo, sleep, sha256, fail, http, ...).
    #[arg(name = "TYPE")]
    pub task_type: String,
    /// The payload: JSON text, `@file` to read it from a file, or `@-` from stdin.
    #[arg(default_value = "{}")]
    pub payload: String,
    /// Attempts before the task is dead-lettered.
    #[arg(long)]
    pub max_attempts: Option<u32>,
    /// Per-attempt timeout in milliseconds.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Start no earlier than this many milliseconds from now.
    #[arg(long, conflicts_with = "run_at")]
    pub delay_ms: Option<u64>,
    /// Start no earlier than this time (RFC 3339).
    #[arg(long)]
    pub run_at: Option<String>,
    /// Makes the submission safe to retry: the same key and body answer the same.
    #[arg(long)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DeadLetters {
    /// List dead tasks, oldest first, following the pages to the newest.
    List {
        /// Show at most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// Dead tasks asked for per request (1 to 1000).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u16).range(1..=1000))]
        page_size: u16,
    },
    /// Re-drive dead tasks as new tasks: one id, `--ids`, or `--type`.
    Retry {
        /// One dead task.
        #[arg(required_unless_present_any = ["ids", "task_type"], conflicts_with_all = ["ids", "task_type"])]
        id: Option<String>,
        /// These dead tasks (comma-separated).
        #[arg(long, value_delimiter = ',', conflicts_with = "task_type")]
        ids: Option<Vec<String>>,
        /// Every dead task of this type not re-driven yet (at most the gateway's max batch per call).
        #[arg(long = "type")]
        task_type: Option<String>,
    },
}
