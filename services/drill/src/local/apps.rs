//! The gateway and worker binaries as child processes: started from the given build
//! directory with a clean environment, killed, or stopped with SIGTERM and their exit
//! status checked.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use tasklane_testkit::process::ChildProcess;

pub struct App {
    pub name: String,
    pub port: u16,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    process: Option<ChildProcess>,
}

impl App {
    pub fn new(
        name: &str,
        binary: PathBuf,
        env: Vec<(String, String)>,
        port: u16,
        logs: &Path,
    ) -> Self {
        Self {
            name: name.to_string(),
            port,
            binary,
            env,
            log: logs.join(format!("{name}.log")),
            process: None,
        }
    }

    pub fn spawn(&mut self) {
        let mut command = Command::new(&self.binary);
        command.env_clear();
        if let Ok(path) = std::env::var("PATH") {
            command.env("PATH", path);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        self.process = Some(ChildProcess::spawn(&self.name, command, &self.log));
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&mut self, deadline: Duration) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let started = Instant::now();
        let url = format!("{}/readyz", self.base_url());
        loop {
            if matches!(http.get(&url).send().await, Ok(r) if r.status().is_success()) {
                return Ok(());
            }
            if !self.is_running() {
                anyhow::bail!(
                    "{} exited during start-up; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if started.elapsed() > deadline {
                anyhow::bail!(
                    "{} not ready within {deadline:?}; log:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.process.as_mut().is_some_and(ChildProcess::is_running)
    }

    pub fn kill9(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill9();
        }
    }

    /// SIGTERM, then up to `within` for the exit; `None` if it had to be killed.
    pub async fn terminate(&mut self, within: Duration) -> Option<ExitStatus> {
        let mut process = self.process.take()?;
        process.signal(Signal::SIGTERM);
        let started = Instant::now();
        while process.is_running() {
            if started.elapsed() > within {
                process.kill9();
                return None;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(process.wait(Duration::ZERO))
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}
