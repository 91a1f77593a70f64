//! Cancelling a task for its tenant: the store's one-script cancellation, the
//! audit event every decision gets, and the count by the status the task had.

use prometheus::IntCounterVec;
use tasklane_core::store::{Cancellation, Store, TaskRecord};
use tasklane_core::task::TaskId;

use crate::audit::AuditEvent;
use crate::auth::Principal;
use crate::error::{ApiError, Cause};

/// The audit action of a cancellation.
const ACTION: &str = "cancel";

/// Cancels tasks; shared by every `DELETE /task/{id}`.
pub(crate) struct Canceller {
    store: Store,
    /// `api_tasks_cancelled_total{previous_status}`.
    cancelled: IntCounterVec,
}

impl Canceller {
    pub(crate) fn new(store: Store, cancelled: IntCounterVec) -> Self {
        Self { store, cancelled }
    }

    /// Cancels `principal`'s task `id` if it is queued or running and returns its
    /// record; a finished task is 409 and another tenant's is the same 404 as an
    /// unknown id. Each answer is audited; a store outage is not a decision.
    pub(crate) async fn cancel(
        &self,
        principal: &Principal,
        id: TaskId,
        request_id: &str,
    ) -> Result<TaskRecord, ApiError> {
        let found = self
            .store
            .cancel(&id, &principal.tenant)
            .await
            .map_err(|e| {
                ApiError::store_unavailable()
                    .caused_by(Cause::new("task could not be cancelled", e).for_task(id))
            })?;
        let audit = |outcome: &str| {
            AuditEvent {
                actor: &principal.actor,
                tenant: &principal.tenant,
                action: ACTION,
                outcome,
                request_id,
            }
            .emit()
        };
        match found {
            Cancellation::Cancelled { previous, record } => {
                audit("cancelled");
                self.cancelled.with_label_values(&[previous.as_str()]).inc();
                tracing::info!(task_id = %id, previous = previous.as_str(), "task cancelled");
                Ok(*record)
            }
            Cancellation::AlreadyFinished(status) => {
                audit("already_finished");
                Err(ApiError::already_finished(id, status.as_str()))
            }
            Cancellation::NotFound => {
                audit("not_found");
                Err(ApiError::task_not_found(id))
            }
        }
    }
}
