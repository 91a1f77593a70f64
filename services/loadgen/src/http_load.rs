//! HTTP load against `POST /task` or `POST /tasks`.
//!
//! Closed loop: each of N keep-alive connections sends its next request as soon as the
//! previous answer arrived, which finds the maximum rate. Open loop: requests are due
//! at fixed times (`--rate` per second) whether or not earlier ones were answered, and
//! latency counts from the due time, so a stalled server shows up as latency instead
//! of silently slowing the client down (coordinated omission).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use clap::Args;
use hdrhistogram::Histogram;
use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpStream;

use crate::latency;
use crate::stats_client::{self, Target};

#[derive(Args, Clone)]
pub struct HttpArgs {
    /// Base URL of the server (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    pub connections: usize,
    /// How long to send.
    #[arg(long, default_value = "5s", value_parser = crate::parse_duration)]
    pub duration: Duration,
    /// Open loop: requests per second, due on a fixed schedule.
    #[arg(long)]
    pub rate: Option<u64>,
    /// Tasks per request; above 1 the requests go to `POST /tasks`.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Size of each task's JSON (type plus payload), in bytes.
    #[arg(long, default_value_t = 256)]
    pub task_bytes: usize,
    /// After sending, wait until `/stats` counts every accepted task as processed and
    /// report the end-to-end time and rate.
    #[arg(long)]
    pub wait_processed: bool,
    /// Longest wait for `--wait-processed`.
    #[arg(long, default_value = "180s", value_parser = crate::parse_duration)]
    pub wait_timeout: Duration,
    /// A name for this run, copied into the report.
    #[arg(long, default_value = "http")]
    pub label: String,
    /// Sent as `Authorization: Bearer <token>` (a gateway with `auth.mode=required`),
    /// also with the `/stats` polls of `--wait-processed`.
    #[arg(long)]
    pub bearer: Option<String>,
    /// Submit `http` tasks that POST their padding to this URL instead of `echo` tasks.
    #[arg(long)]
    pub http_target: Option<String>,
    /// Give every task this `delay_ms`, so it waits in the schedule stream.
    #[arg(long)]
    pub delay_ms: Option<u64>,
}

/// One task's JSON, padded with payload data to `bytes` (at least the fixed part):
/// an `echo` task, or an `http` task that POSTs `{"data": …}` to `http_target`.
pub fn task_json(bytes: usize, http_target: Option<&str>) -> String {
    let head = match http_target {
        None => r#"{"type":"echo","payload":{"data":""#.to_string(),
        Some(url) => format!(
            r#"{{"type":"http","payload":{{"url":{},"body":{{"data":""#,
            serde_json::Value::from(url)
        ),
    };
    let tail = if http_target.is_some() {
        r#""}}}"#
    } else {
        r#""}}"#
    };
    let pad = bytes.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

fn request_body(
    batch: usize,
    task_bytes: usize,
    http_target: Option<&str>,
    delay_ms: Option<u64>,
) -> Bytes {
    let mut task = task_json(task_bytes, http_target);
    if let Some(delay) = delay_ms {
        // The field goes first; the padding keeps its size, so a delayed task is a
        // few bytes longer than `task_bytes`.
        task.insert_str(1, &format!(r#""delay_ms":{delay},"#));
    }
    if batch <= 1 {
        return Bytes::from(task);
    }
    let items = vec![task; batch].join(",");
    Bytes::from(format!(r#"{{"tasks":[{items}]}}"#))
}

/// When the next request is due: now (closed loop) or its slot in the schedule.
struct Plan {
    start: Instant,
    end: Instant,
    /// Nanoseconds between arrivals in open loop.
    interval_ns: Option<u64>,
    next: AtomicU64,
}

impl Plan {
    /// `None` once the run is over; `Some(due)` otherwise.
    fn next(&self) -> Option<Instant> {
        match self.interval_ns {
            None => {
                let now = Instant::now();
                (now < self.end).then_some(now)
            }
            Some(interval) => {
                let i = self.next.fetch_add(1, Ordering::Relaxed);
                // Due times sit on a 1 ms grid, the resolution of tokio's timer.
                let offset_ns = i.saturating_mul(interval);
                let offset = Duration::from_millis(offset_ns.div_ceil(1_000_000));
                let due = self.start + offset;
                (due < self.end).then_some(due)
            }
        }
    }
}

#[derive(Default)]
struct ConnResult {
    histogram: Option<Histogram<u64>>,
    statuses: BTreeMap<u16, u64>,
    transport_errors: u64,
}

pub async fn run(args: HttpArgs) -> anyhow::Result<Option<String>> {
    let target = Target::parse(&args.url, args.bearer.as_deref())?;
    let path = if args.batch > 1 { "/tasks" } else { "/task" };
    let body = request_body(
        args.batch,
        args.task_bytes,
        args.http_target.as_deref(),
        args.delay_ms,
    );
    let baseline = if args.wait_processed {
        Some(stats_client::counters(&target).await?)
    } else {
        None
    };

    let start = Instant::now() + Duration::from_millis(20);
    let plan = Arc::new(Plan {
        start,
        end: start + args.duration,
        interval_ns: args.rate.map(|r| 1_000_000_000 / r.max(1)),
        next: AtomicU64::new(0),
    });
    let mut connections = Vec::with_capacity(args.connections);
    let authorization = args
        .bearer
        .as_deref()
        .map(|token| HeaderValue::from_str(&format!("Bearer {token}")))
        .transpose()
        .context("--bearer is not a valid header value")?;
    for _ in 0..args.connections {
        let (target, plan, body) = (target.clone(), plan.clone(), body.clone());
        let authorization = authorization.clone();
        connections.push(tokio::spawn(async move {
            connection(&target, path, body, authorization, &plan).await
        }));
    }
    tokio::time::sleep_until(start.into()).await;
    let mut histogram = latency::histogram();
    let mut statuses: BTreeMap<u16, u64> = BTreeMap::new();
    let mut transport_errors = 0;
    for c in connections {
        let result = c.await.context("connection task")?;
        if let Some(h) = &result.histogram {
            histogram.add(h).expect("same bounds");
        }
        for (status, n) in result.statuses {
            *statuses.entry(status).or_default() += n;
        }
        transport_errors += result.transport_errors;
    }
    let sent_for = start.elapsed().max(Duration::from_millis(1));
    let accepted_requests = statuses.get(&202).copied().unwrap_or(0);
    let accepted_tasks = accepted_requests * args.batch as u64;
    let requests: u64 = statuses.values().sum();

    let mut report = json!({
        "label": args.label,
        "mode": if args.rate.is_some() { "open" } else { "closed" },
        "path": path,
        "batch": args.batch,
        "connections": args.connections,
        "target_rate": args.rate,
        "requests": requests,
        "accepted_requests": accepted_requests,
        "accepted_tasks": accepted_tasks,
        "transport_errors": transport_errors,
        "statuses": statuses,
        "seconds": sent_for.as_secs_f64(),
        "requests_per_s": requests as f64 / sent_for.as_secs_f64(),
        "tasks_per_s": accepted_tasks as f64 / sent_for.as_secs_f64(),
        "latency": latency::summary(&histogram),
    });
    if let Some(before) = baseline {
        let goal = before.processed + accepted_tasks;
        let after = stats_client::wait_for(&target, goal, args.wait_timeout).await?;
        let e2e = start.elapsed().as_secs_f64();
        let succeeded = after.counters.succeeded - before.succeeded;
        report["e2e"] = json!({
            "seconds": e2e,
            "tasks_per_s": accepted_tasks as f64 / e2e,
            "processed": after.counters.processed - before.processed,
            "succeeded": succeeded,
            "all_succeeded": succeeded == accepted_tasks,
            "timed_out": !after.reached,
        });
    }
    eprintln!(
        "{}: {} requests ({} tasks accepted) in {:.2}s = {:.0} req/s, p50 {} ms, p99 {} ms, statuses {}, transport errors {}",
        args.label,
        requests,
        accepted_tasks,
        sent_for.as_secs_f64(),
        requests as f64 / sent_for.as_secs_f64(),
        report["latency"]["p50_ms"],
        report["latency"]["p99_ms"],
        report["statuses"],
        transport_errors,
    );
    Ok(Some(report.to_string()))
}

async fn connect(target: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connecting to {}", target.authority))?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn connection(
    target: &Target,
    path: &str,
    body: Bytes,
    authorization: Option<HeaderValue>,
    plan: &Plan,
) -> ConnResult {
    let mut result = ConnResult::default();
    let mut histogram = latency::histogram();
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    while let Some(due) = plan.next() {
        // The clock starts at the due time when this connection was still busy then
        // (the server's slowness delayed the request: that wait is latency), and at
        // the wake-up when it sat idle waiting for the due time: tokio's timer wakes
        // up to 1 ms late, and that delay is the client's, not the server's.
        let idle = Instant::now() < due;
        tokio::time::sleep_until(due.into()).await;
        let clock_from = if idle { Instant::now() } else { due };
        let mut s = match sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => match connect(target).await {
                Ok(s) => s,
                Err(_) => {
                    result.transport_errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let mut request = Request::post(path)
            .header(header::HOST, target.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(authorization) = &authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        let request = request
            .body(Full::new(body.clone()))
            .expect("valid request");
        let answered = async {
            s.ready().await?;
            let response = s.send_request(request).await?;
            let status = response.status();
            response.into_body().collect().await?;
            Ok::<StatusCode, hyper::Error>(status)
        }
        .await;
        match answered {
            Ok(status) => {
                latency::record(&mut histogram, clock_from.elapsed());
                *result.statuses.entry(status.as_u16()).or_default() += 1;
                sender = Some(s);
            }
            Err(_) => result.transport_errors += 1,
        }
    }
    result.histogram = Some(histogram);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_json_has_the_requested_size_and_parses() {
        for size in [64, 256, 1024] {
            let task = task_json(size, None);
            assert_eq!(task.len(), size);
            let value: serde_json::Value = serde_json::from_str(&task).unwrap();
            assert_eq!(value["type"], "echo");
        }
        // The http form's fixed part is longer than the smallest echo task.
        for size in [256, 1024] {
            let task = task_json(size, Some("http://127.0.0.1:9/hook"));
            assert_eq!(task.len(), size);
            let value: serde_json::Value = serde_json::from_str(&task).unwrap();
            assert_eq!(value["payload"]["url"], "http://127.0.0.1:9/hook");
        }
    }

    #[test]
    fn batch_body_holds_every_task() {
        let body = request_body(100, 256, None, None);
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["tasks"].as_array().unwrap().len(), 100);
        let body = request_body(2, 256, None, Some(60_000));
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["tasks"][1]["delay_ms"], 60_000);
        assert_eq!(value["tasks"][1]["type"], "echo");
    }

    #[test]
    fn open_loop_schedule_is_fixed_and_ends() {
        let start = Instant::now();
        let plan = Plan {
            start,
            end: start + Duration::from_millis(10),
            interval_ns: Some(2_500_000),
            next: AtomicU64::new(0),
        };
        let due: Vec<Duration> = std::iter::from_fn(|| plan.next())
            .map(|d| d - start)
            .collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(due, vec![ms(0), ms(3), ms(5), ms(8)]);
    }
}
