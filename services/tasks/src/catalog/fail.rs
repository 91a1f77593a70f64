//! `fail`: fails on purpose, for diagnostics and drills. `{"fail_times": N}` fails the
//! first N attempts and then succeeds; `{"permanent": true}` fails permanently;
//! `{"panic": true}` panics inside the handler (the worker must survive it).

use serde::Deserialize;
use serde_json::json;

use crate::task_handler::{HandlerError, HandlerResult, TaskHandler, TaskInput, payload, result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    #[serde(default)]
    fail_times: u32,
    #[serde(default)]
    permanent: bool,
    #[serde(default)]
    panic: bool,
}

#[derive(Default)]
pub struct Fail;

#[async_trait::async_trait]
impl TaskHandler for Fail {
    fn name(&self) -> &'static str {
        "fail"
    }

    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult {
        let p: Payload = payload(task.payload)?;
        if p.permanent {
            return Err(HandlerError::Permanent(
                "failed permanently on request".into(),
            ));
        }
        if p.panic {
            panic!("fail task {} asked for a panic", task.id);
        }
        if task.attempt <= p.fail_times {
            return Err(HandlerError::Retryable(format!(
                "failing attempt {} of the first {} on request",
                task.attempt, p.fail_times
            )));
        }
        result(&json!({ "succeeded_on_attempt": task.attempt }))
    }
}
