//! `echo`: the result is the payload, unchanged.

use crate::task_handler::{HandlerResult, TaskHandler, TaskInput};

#[derive(Default)]
pub struct Echo;

#[async_trait::async_trait]
impl TaskHandler for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }

    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult {
        Ok(task.payload.to_owned())
    }
}
