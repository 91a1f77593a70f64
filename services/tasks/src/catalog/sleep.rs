//! `sleep`: waits `{"ms": N}` milliseconds; for load tests and drills.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::task_handler::{HandlerError, HandlerResult, TaskHandler, TaskInput, payload, result};

const MAX_SLEEP_MS: u64 = 3_600_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    ms: u64,
}

#[derive(Default)]
pub struct Sleep;

#[async_trait::async_trait]
impl TaskHandler for Sleep {
    fn name(&self) -> &'static str {
        "sleep"
    }

    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult {
        let Payload { ms } = payload(task.payload)?;
        if ms > MAX_SLEEP_MS {
            return Err(HandlerError::Permanent(format!(
                "ms: at most {MAX_SLEEP_MS}, got {ms}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(ms)).await;
        result(&json!({ "slept_ms": ms }))
    }
}
