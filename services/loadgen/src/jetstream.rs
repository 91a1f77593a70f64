//! The raw JetStream ceilings: publish with many PubAcks in flight, and pull + ack,
//! with nothing else in the path. They run against their own stream so they never
//! touch tasklane's.

use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer, stream};
use bytes::Bytes;
use clap::Args;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde_json::json;

#[derive(Args)]
pub struct PublishArgs {
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Stream to create (file storage, work-queue retention like `TASKS`).
    #[arg(long, default_value = "BENCH")]
    pub stream: String,
    /// Subject to publish to; must be under `<stream in lowercase>.>`.
    #[arg(long, default_value = "bench.echo")]
    pub subject: String,
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// PubAcks awaited at once.
    #[arg(long, default_value_t = 512)]
    pub in_flight: usize,
    #[arg(long, default_value_t = 256)]
    pub payload_bytes: usize,
    /// Set `Nats-Msg-Id` on every message, as the gateway does (dedup costs the
    /// server a lookup per message).
    #[arg(long)]
    pub msg_id: bool,
    #[arg(long, default_value = "js-publish")]
    pub label: String,
}

#[derive(Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    #[arg(long, default_value = "BENCH")]
    pub stream: String,
    /// Messages to pull and ack (the stream must hold at least this many).
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Messages per pull request.
    #[arg(long, default_value_t = 256)]
    pub batch: usize,
    /// Delete the stream afterwards.
    #[arg(long)]
    pub delete_stream: bool,
    #[arg(long, default_value = "js-consume")]
    pub label: String,
}

async fn bench_stream(js: &jetstream::Context, name: &str) -> anyhow::Result<stream::Stream> {
    js.get_or_create_stream(stream::Config {
        name: name.to_string(),
        subjects: vec![format!("{}.>", name.to_lowercase())],
        retention: stream::RetentionPolicy::WorkQueue,
        storage: stream::StorageType::File,
        ..Default::default()
    })
    .await
    .context("creating the benchmark stream")
}

pub async fn publish(args: PublishArgs) -> anyhow::Result<Option<String>> {
    let client = async_nats::connect(&args.nats_url).await?;
    let js = jetstream::new(client.clone());
    bench_stream(&js, &args.stream).await?;
    let payload = Bytes::from(vec![b'x'; args.payload_bytes]);
    let mut pending = FuturesUnordered::new();
    let mut errors = 0u64;
    let started = Instant::now();
    for _ in 0..args.count {
        let mut message = jetstream::message::PublishMessage::build().payload(payload.clone());
        if args.msg_id {
            message = message.message_id(uuid::Uuid::now_v7().to_string());
        }
        let ack = js
            .send_publish(args.subject.clone(), message)
            .await
            .context("publishing")?;
        pending.push(ack.into_future());
        if pending.len() >= args.in_flight && pending.next().await.is_some_and(|r| r.is_err()) {
            errors += 1;
        }
    }
    while let Some(result) = pending.next().await {
        errors += u64::from(result.is_err());
    }
    let seconds = started.elapsed().as_secs_f64();
    let rate = (args.count - errors) as f64 / seconds;
    eprintln!(
        "{}: {} messages in {seconds:.2}s = {rate:.0} msgs/s ({} errors)",
        args.label, args.count, errors
    );
    Ok(Some(
        json!({
            "label": args.label,
            "count": args.count,
            "errors": errors,
            "msg_id": args.msg_id,
            "in_flight": args.in_flight,
            "seconds": seconds,
            "msgs_per_s": rate,
        })
        .to_string(),
    ))
}

pub async fn consume(args: ConsumeArgs) -> anyhow::Result<Option<String>> {
    let client = async_nats::connect(&args.nats_url).await?;
    let js = jetstream::new(client.clone());
    let stream = bench_stream(&js, &args.stream).await?;
    let consumer = stream
        .get_or_create_consumer(
            "bench",
            consumer::pull::Config {
                durable_name: Some("bench".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                max_ack_pending: 100_000,
                ..Default::default()
            },
        )
        .await
        .context("creating the benchmark consumer")?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(args.batch)
        .messages()
        .await?;
    let mut received = 0u64;
    let mut started = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while received < args.count && Instant::now() < deadline {
        let Ok(Some(message)) = tokio::time::timeout(Duration::from_secs(5), messages.next()).await
        else {
            break;
        };
        let message = message.context("pulling")?;
        started.get_or_insert_with(Instant::now);
        message
            .ack()
            .await
            .map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        received += 1;
    }
    client.flush().await?;
    let seconds = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    let rate = if seconds > 0.0 {
        received as f64 / seconds
    } else {
        0.0
    };
    eprintln!(
        "{}: {received} messages pulled and acked in {seconds:.2}s = {rate:.0} msgs/s",
        args.label
    );
    if args.delete_stream {
        drop(messages);
        js.delete_stream(&args.stream).await?;
    }
    Ok(Some(
        json!({
            "label": args.label,
            "count": received,
            "seconds": seconds,
            "msgs_per_s": rate,
        })
        .to_string(),
    ))
}
