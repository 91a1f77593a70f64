//! The bare worker: pulls from the bare stream with explicit acks, at most
//! `--concurrency` messages at once (tasklane's default), and for each one writes
//! one `SET` to Valkey, then acks.

use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use clap::Args;
use fred::prelude::*;
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::BareTopology;

#[derive(Args)]
pub struct WorkerArgs {
    /// Messages handled at once; tasklane's `worker.concurrency` default.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    #[command(flatten)]
    pub topology: BareTopology,
}

pub async fn run(args: WorkerArgs) -> anyhow::Result<Option<String>> {
    let client = async_nats::connect(&args.topology.nats_url).await?;
    let js = jetstream::new(client);
    let stream = args.topology.stream(&js).await?;
    let like: consumer::Consumer<consumer::pull::Config> = js
        .get_consumer_from_stream(&args.topology.like_consumer, &args.topology.like_stream)
        .await
        .context("reading tasklane's consumer (declare tasklane's topology first)")?;
    let like = &like.cached_info().config;
    let consumer = stream
        .get_or_create_consumer(
            "bare",
            consumer::pull::Config {
                durable_name: Some("bare".into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: like.ack_wait,
                max_deliver: like.max_deliver,
                max_ack_pending: like.max_ack_pending,
                filter_subject: format!("{}.>", args.topology.subject_prefix()),
                ..Default::default()
            },
        )
        .await
        .context("creating the bare consumer")?;
    let valkey = super::valkey(&args.topology.valkey_url).await?;
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(args.concurrency)
        .messages()
        .await?;
    let permits = Arc::new(Semaphore::new(args.concurrency));
    eprintln!("bare worker pulling at concurrency {}", args.concurrency);
    loop {
        let permit = permits.clone().acquire_owned().await?;
        let Some(message) = messages.next().await else {
            break;
        };
        let message = message.context("pulling")?;
        let valkey = valkey.clone();
        tokio::spawn(async move {
            let Ok(info) = message.info() else { return };
            let key = format!("bare:{}", info.stream_sequence);
            let stored: Result<(), _> = valkey
                .set(key, message.payload.clone(), None, None, false)
                .await;
            // Unstored messages are redelivered after the ack wait, like tasklane's.
            if stored.is_ok() {
                let _ = message.ack().await;
            }
            drop(permit);
        });
    }
    Ok(None)
}
