//! The HTTP ceiling: an axum server doing the least a gateway must (parse the task
//! JSON, make an id, answer 202) with no queue behind it. Its `/hook` is the no-op
//! target `http` tasks are benchmarked against: any method, any body, 204.

use std::net::SocketAddr;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use bytes::Bytes;
use clap::Args;
use serde::Deserialize;
use serde_json::value::RawValue;

#[derive(Args)]
pub struct NoopArgs {
    #[arg(long, default_value = "127.0.0.1:8099")]
    pub listen: SocketAddr,
}

#[derive(Deserialize)]
#[allow(dead_code)] // parsed to cost what the gateway's parse costs, never read
struct Task<'a> {
    #[serde(rename = "type", borrow)]
    task_type: Option<&'a str>,
    #[serde(borrow)]
    payload: &'a RawValue,
}

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    tasks: Vec<Task<'a>>,
}

fn accepted(body: String) -> Response {
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

fn queued() -> String {
    format!(r#"{{"id":"{}","status":"queued"}}"#, uuid::Uuid::now_v7())
}

async fn task(body: Bytes) -> Response {
    match serde_json::from_slice::<Task<'_>>(&body) {
        Ok(_) => accepted(queued()),
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn tasks(body: Bytes) -> Response {
    match serde_json::from_slice::<Batch<'_>>(&body) {
        Ok(batch) => {
            let items: Vec<String> = batch.tasks.iter().map(|_| queued()).collect();
            accepted(format!(r#"{{"tasks":[{}]}}"#, items.join(",")))
        }
        Err(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

pub async fn serve(args: NoopArgs) -> anyhow::Result<Option<String>> {
    let app = Router::new()
        .route("/task", post(task))
        .route("/tasks", post(tasks))
        .route("/hook", any(|| async { StatusCode::NO_CONTENT }));
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    eprintln!("noop server listening on {}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(None)
}
