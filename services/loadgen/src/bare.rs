//! The bare-bones pipeline: the least any task pipeline over these servers does, with
//! the same protocol steps as tasklane and none of its guarantees. The gateway parses
//! the task JSON, publishes it and waits for the PubAck, then answers 202 with an id;
//! the worker pulls with explicit acks, writes one `SET` per message to Valkey and
//! acks. No idempotency, no `queued` record, no attempt counting, no outcome, no
//! dead letters, no dedup header, no auth, no metrics or spans.
//!
//! Both run on a stream and a consumer cloned from tasklane's own (storage,
//! retention, limits, duplicate window, ack wait, max ack pending), so the servers do
//! the same work per message; only the names and subjects differ, which keeps the
//! bare phases of a benchmark apart from tasklane's.

pub mod gateway;
pub mod worker;

use anyhow::Context;
use async_nats::jetstream::{self, stream};
use clap::Args;

/// Where the bare pipeline runs and which of tasklane's objects it copies.
#[derive(Args, Clone)]
pub struct BareTopology {
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats_url: String,
    /// Valkey URL; give it a database of its own (`redis://host:port/1`): the
    /// gateway's `/stats` counts that database's keys as processed tasks.
    #[arg(long, default_value = "redis://127.0.0.1:6379/1")]
    pub valkey_url: String,
    /// tasklane's work stream, whose configuration the bare stream copies.
    #[arg(long, default_value = "TASKS")]
    pub like_stream: String,
    /// tasklane's consumer on it, whose configuration the bare consumer copies.
    #[arg(long, default_value = "workers")]
    pub like_consumer: String,
    /// The bare stream; its subjects are `<name in lowercase>.>`.
    #[arg(long, default_value = "BARE")]
    pub stream: String,
}

impl BareTopology {
    pub fn subject_prefix(&self) -> String {
        self.stream.to_lowercase()
    }

    /// The bare stream, created as a copy of tasklane's work stream if missing.
    pub async fn stream(&self, js: &jetstream::Context) -> anyhow::Result<stream::Stream> {
        let like = js.get_stream(&self.like_stream).await.with_context(|| {
            format!(
                "reading stream {} (declare tasklane's topology first)",
                self.like_stream
            )
        })?;
        let config = stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix())],
            description: Some("bare-bones benchmark pipeline".into()),
            ..like.cached_info().config.clone()
        };
        js.get_or_create_stream(config)
            .await
            .context("creating the bare stream")
    }
}

/// A Valkey client for `url`, connected.
pub async fn valkey(url: &str) -> anyhow::Result<fred::prelude::Client> {
    use fred::prelude::*;
    let client = Builder::from_config(Config::from_url(url)?).build()?;
    client.init().await.context("connecting to Valkey")?;
    Ok(client)
}
