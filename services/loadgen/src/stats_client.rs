//! Reading the gateway's `GET /stats` counters, for end-to-end and drain timing.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::Args;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

/// How often `/stats` is polled: fine enough for runs of a few seconds, rare enough
/// to cost the gateway nothing measurable.
const POLL: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// Sent as `Authorization: Bearer <token>` with `/stats` (admin scope) when the
    /// gateway requires authentication.
    pub bearer: Option<String>,
}

impl Target {
    /// `url` (`http://host:port`), reached with `bearer` if given.
    pub fn parse(url: &str, bearer: Option<&str>) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("http://")
            .context("only http:// URLs are supported")?;
        let authority = rest.trim_end_matches('/').to_string();
        if authority.is_empty() || authority.contains('/') {
            bail!("the URL must be http://host:port, got {url}");
        }
        Ok(Self {
            authority,
            bearer: bearer.map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub processed: u64,
    pub succeeded: u64,
}

pub async fn counters(target: &Target) -> anyhow::Result<Counters> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connecting to {}", target.authority))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut request = Request::get("/stats").header(header::HOST, target.authority.as_str());
    if let Some(token) = &target.bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request.body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if !status.is_success() {
        bail!("GET /stats answered {status}");
    }
    let stats: serde_json::Value = serde_json::from_slice(&body).context("parsing /stats")?;
    let field = |name: &str| stats[name].as_u64().unwrap_or(0);
    Ok(Counters {
        processed: field("worker_processed_count"),
        succeeded: field("worker_succeeded_count"),
    })
}

pub struct Waited {
    pub counters: Counters,
    pub reached: bool,
    /// When the processed count first moved, and what it was then.
    pub first_change: Option<(Instant, u64)>,
}

/// Polls until `processed >= goal` or `timeout`.
pub async fn wait_for(target: &Target, goal: u64, timeout: Duration) -> anyhow::Result<Waited> {
    let deadline = Instant::now() + timeout;
    let initial = counters(target).await?;
    let mut first_change = None;
    let mut last = initial;
    while last.processed < goal && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
        // A failed poll (gateway busy) is retried at the next tick.
        if let Ok(c) = counters(target).await {
            if first_change.is_none() && c.processed != initial.processed {
                first_change = Some((Instant::now(), c.processed));
            }
            last = c;
        }
    }
    Ok(Waited {
        counters: last,
        reached: last.processed >= goal,
        first_change,
    })
}

#[derive(Args)]
pub struct WaitArgs {
    /// Base URL of the gateway.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The `worker_processed_count` to wait for.
    #[arg(long)]
    pub processed: u64,
    #[arg(long, default_value = "180s", value_parser = crate::parse_duration)]
    pub timeout: Duration,
    #[arg(long, default_value = "drain")]
    pub label: String,
    /// Sent as `Authorization: Bearer <token>` (a gateway with `auth.mode=required`;
    /// `/stats` needs the admin scope).
    #[arg(long)]
    pub bearer: Option<String>,
}

/// Drain rate: tasks processed from the first change of the count to the goal, over
/// that time, so worker start-up does not count against it.
pub async fn wait(args: WaitArgs) -> anyhow::Result<Option<String>> {
    let target = Target::parse(&args.url, args.bearer.as_deref())?;
    let started = Instant::now();
    let waited = wait_for(&target, args.processed, args.timeout).await?;
    let done = Instant::now();
    let (rate, seconds) = match waited.first_change {
        Some((at, count)) if waited.reached => {
            let seconds = (done - at).as_secs_f64().max(1e-3);
            (
                (waited.counters.processed - count) as f64 / seconds,
                seconds,
            )
        }
        _ => (0.0, (done - started).as_secs_f64()),
    };
    eprintln!(
        "{}: processed {} (goal {}), {:.0} tasks/s over {:.2}s{}",
        args.label,
        waited.counters.processed,
        args.processed,
        rate,
        seconds,
        if waited.reached { "" } else { " (TIMED OUT)" }
    );
    Ok(Some(
        json!({
            "label": args.label,
            "processed": waited.counters.processed,
            "succeeded": waited.counters.succeeded,
            "goal": args.processed,
            "reached": waited.reached,
            "seconds": seconds,
            "tasks_per_s": rate,
        })
        .to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_host_and_port() {
        assert_eq!(
            Target::parse("http://127.0.0.1:8080/", None)
                .unwrap()
                .authority,
            "127.0.0.1:8080"
        );
        for bad in ["127.0.0.1:8080", "https://x:1", "http://", "http://x:1/api"] {
            assert!(Target::parse(bad, None).is_err(), "{bad}");
        }
    }
}
