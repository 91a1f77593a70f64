//! What went wrong inside the gateway behind an answer: kept with the error, logged
//! once per request, never sent to the client.

use std::error::Error;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use tasklane_core::task::TaskId;
use tasklane_core::telemetry::ErrorChain;

/// An internal error behind an answer: what failed, for which task, and why.
#[derive(Debug, Clone)]
pub(crate) struct Cause {
    what: &'static str,
    task_id: Option<TaskId>,
    error: Arc<dyn Error + Send + Sync + 'static>,
}

impl Cause {
    /// `error` while doing `what` (the log message).
    pub(crate) fn new(what: &'static str, error: impl Error + Send + Sync + 'static) -> Self {
        Self {
            what,
            task_id: None,
            error: Arc::new(error),
        }
    }

    /// The same cause, about task `id`.
    pub(crate) fn for_task(mut self, id: TaskId) -> Self {
        self.task_id = Some(id);
        self
    }

    fn log(&self, status: StatusCode) {
        let error = ErrorChain(self.error.as_ref());
        let status = status.as_u16();
        match self.task_id {
            Some(task_id) => {
                tracing::warn!(status, task_id = %task_id, error = %error, "{}", self.what)
            }
            None => tracing::warn!(status, error = %error, "{}", self.what),
        }
    }
}

/// The causes behind a response, carried to [`log_causes`] as a response extension.
#[derive(Debug, Clone, Default)]
pub(crate) struct Causes(pub(crate) Vec<Cause>);

/// Logs the internal causes behind a response, once per request, and takes them off
/// the response. Runs as a response map inside the request's span.
pub(crate) fn log_causes(mut response: Response) -> Response {
    if let Some(Causes(causes)) = response.extensions_mut().remove::<Causes>() {
        for cause in &causes {
            cause.log(response.status());
        }
    }
    response
}
