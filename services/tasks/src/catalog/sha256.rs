//! `sha256`: hex digest of `{"data": "..."}` (the UTF-8 bytes of the string).

use serde::Deserialize;
use sha2::Digest;

use crate::task_handler::{HandlerResult, TaskHandler, TaskInput, payload, result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    data: String,
}

#[derive(Default)]
pub struct Sha256;

#[async_trait::async_trait]
impl TaskHandler for Sha256 {
    fn name(&self) -> &'static str {
        "sha256"
    }

    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult {
        let Payload { data } = payload(task.payload)?;
        result(&hex::encode(sha2::Sha256::digest(data.as_bytes())))
    }
}
