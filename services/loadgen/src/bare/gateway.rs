//! The bare gateway: `POST /task` parses, publishes, awaits the PubAck and answers
//! 202; `GET /stats` reports the keys in the bare worker's Valkey database as
//! processed, so `wait-processed` and `http --wait-processed` time it as they time
//! tasklane.

use std::net::SocketAddr;
use std::sync::Arc;

use async_nats::jetstream;
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use clap::Args;
use fred::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;

use super::BareTopology;

#[derive(Args)]
pub struct GatewayArgs {
    #[arg(long, default_value = "127.0.0.1:8098")]
    pub listen: SocketAddr,
    #[command(flatten)]
    pub topology: BareTopology,
}

struct Bare {
    js: jetstream::Context,
    valkey: Client,
    subject_prefix: String,
}

#[derive(Deserialize)]
struct Task<'a> {
    #[serde(rename = "type", borrow)]
    task_type: Option<&'a str>,
    #[serde(borrow)]
    #[allow(dead_code)] // parsed to cost what the gateway's parse costs, never read
    payload: &'a RawValue,
}

async fn task(State(bare): State<Arc<Bare>>, body: Bytes) -> Response {
    let Ok(task) = serde_json::from_slice::<Task<'_>>(&body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let task_type = task.task_type.unwrap_or("echo");
    if task_type.is_empty()
        || !task_type
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        return StatusCode::BAD_REQUEST.into_response();
    }
    let subject = format!("{}.{task_type}", bare.subject_prefix);
    let published = match bare.js.publish(subject, body.clone()).await {
        Ok(ack) => ack.await.is_ok(),
        Err(_) => false,
    };
    if !published {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"id":"{}","status":"queued"}}"#, uuid::Uuid::now_v7()),
    )
        .into_response()
}

async fn stats(State(bare): State<Arc<Bare>>) -> Response {
    match bare.valkey.dbsize::<u64>().await {
        Ok(keys) => axum::Json(serde_json::json!({
            "worker_processed_count": keys,
            "worker_succeeded_count": keys,
        }))
        .into_response(),
        Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

pub async fn serve(args: GatewayArgs) -> anyhow::Result<Option<String>> {
    let client = async_nats::connect(&args.topology.nats_url).await?;
    let js = jetstream::new(client);
    args.topology.stream(&js).await?;
    let bare = Arc::new(Bare {
        js,
        valkey: super::valkey(&args.topology.valkey_url).await?,
        subject_prefix: args.topology.subject_prefix(),
    });
    let app = Router::new()
        .route("/task", post(task))
        .route("/stats", get(stats))
        .with_state(bare);
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("bare gateway listening on {}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(None)
}
