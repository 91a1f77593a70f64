//! The gateway API as a client sees it: one or more gateway addresses used in turn
//! (what a load balancer does), submissions with an `Idempotency-Key`, task reads and
//! `/stats`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};
use reqwest::StatusCode;
use serde_json::Value;

/// Longest wait for one request: above the gateway's own request deadline, so the
/// gateway answers first when it can.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// What one `POST /task` attempt got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Submitted {
    /// 202, or a replay of the 202 for the same key.
    Accepted { id: String },
    /// 503: the queue (or the idempotency store) is unavailable.
    Unavailable,
    /// 409: a request with the same key is still in flight.
    InFlight,
    /// Any other status: not retried.
    Refused(u16),
    /// No answer: connection refused or reset, or the request timed out. The outcome
    /// is unknown, so the client retries with the same key.
    NoAnswer,
}

/// A task as `GET /task/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskView {
    pub status: String,
    pub attempts: u32,
}

/// The counters of `GET /stats` the checker compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead: u64,
    pub backlog: u64,
}

pub struct Gateways {
    bases: Vec<String>,
    http: reqwest::Client,
    next: AtomicUsize,
}

impl Gateways {
    /// `bases` are `http://host:port` URLs.
    pub fn new(bases: Vec<String>) -> anyhow::Result<Self> {
        if bases.is_empty() {
            bail!("at least one gateway URL is needed");
        }
        for base in &bases {
            if !base.starts_with("http://") {
                bail!("gateway URLs are http://host:port, got {base}");
            }
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(Duration::from_secs(2))
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self {
            bases: bases
                .into_iter()
                .map(|b| b.trim_end_matches('/').to_string())
                .collect(),
            http,
            next: AtomicUsize::new(0),
        })
    }

    /// The next gateway in turn.
    fn base(&self) -> &str {
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.bases.len();
        &self.bases[index]
    }

    pub async fn submit(&self, key: &str, body: &Value) -> Submitted {
        let response = self
            .http
            .post(format!("{}/task", self.base()))
            .header("Idempotency-Key", key)
            .json(body)
            .send()
            .await;
        let Ok(response) = response else {
            return Submitted::NoAnswer;
        };
        match response.status() {
            StatusCode::ACCEPTED => match response.json::<Value>().await {
                Ok(answer) => match answer["id"].as_str() {
                    Some(id) => Submitted::Accepted { id: id.to_string() },
                    None => Submitted::Refused(202),
                },
                Err(_) => Submitted::NoAnswer,
            },
            StatusCode::SERVICE_UNAVAILABLE => Submitted::Unavailable,
            StatusCode::CONFLICT => Submitted::InFlight,
            other => Submitted::Refused(other.as_u16()),
        }
    }

    /// `Ok(None)` for 404 (unknown or expired), `Err` when no gateway answered usefully.
    pub async fn task(&self, id: &str) -> anyhow::Result<Option<TaskView>> {
        let response = self
            .http
            .get(format!("{}/task/{id}", self.base()))
            .send()
            .await?;
        match response.status() {
            StatusCode::OK => {
                let record: Value = response.json().await?;
                Ok(Some(TaskView {
                    status: record["status"]
                        .as_str()
                        .context("status in the task record")?
                        .to_string(),
                    attempts: record["attempts"].as_u64().unwrap_or(0) as u32,
                }))
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => bail!("GET /task/{id} answered {other}"),
        }
    }

    pub async fn counters(&self) -> anyhow::Result<Counters> {
        let response = self
            .http
            .get(format!("{}/stats", self.base()))
            .send()
            .await?;
        if response.status() != StatusCode::OK {
            bail!("GET /stats answered {}", response.status());
        }
        let stats: Value = response.json().await?;
        let field = |name: &str| -> anyhow::Result<u64> {
            stats[name]
                .as_u64()
                .with_context(|| format!("{name} in /stats"))
        };
        Ok(Counters {
            processed: field("worker_processed_count")?,
            succeeded: field("worker_succeeded_count")?,
            failed: field("worker_failed_count")?,
            dead: field("dead_letter_count")?,
            backlog: field("queue_backlog_length")?,
        })
    }

    /// Reads `/stats`, trying each gateway in turn for up to `deadline`.
    pub async fn counters_within(&self, deadline: Duration) -> anyhow::Result<Counters> {
        let started = std::time::Instant::now();
        loop {
            match self.counters().await {
                Ok(counters) => return Ok(counters),
                Err(e) if started.elapsed() > deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}
