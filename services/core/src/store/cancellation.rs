//! Cancelling a task, and a worker's question about the tasks it runs: which of
//! them were cancelled meanwhile.

use std::collections::HashMap;

use super::records::{TaskRecord, parse_record};
use super::{BATCH_LIMIT, Store, StoreError};
use crate::names::keys;
use crate::task::{TaskId, TaskStatus, now_rfc3339};
use crate::tenant::DEFAULT_TENANT;

/// What `DELETE /task/{id}` found and did.
#[derive(Debug, Clone)]
pub enum Cancellation {
    /// The task was queued or running and is now `cancelled`.
    Cancelled {
        /// Its status before (`queued` or `running`).
        previous: TaskStatus,
        /// The record as cancelled.
        record: Box<TaskRecord>,
    },
    /// The task already ended with this status: nothing changed.
    AlreadyFinished(TaskStatus),
    /// No such task for this tenant: unknown, expired, or another tenant's.
    NotFound,
}

impl Store {
    /// Cancels `tenant`'s task `id` unless it has finished: one script sets the final
    /// status, closes the tenant's outstanding count and counts the cancellation, so
    /// an outcome racing it is either written before (and this answers
    /// [`Cancellation::AlreadyFinished`]) or finds a final record and changes nothing.
    pub async fn cancel(&self, id: &TaskId, tenant: &str) -> Result<Cancellation, StoreError> {
        let inner = &self.inner;
        let reply: Vec<String> = inner
            .scripts
            .cancel
            .evalsha_with_reload(
                &inner.client,
                vec![keys::task(&id.to_string()), keys::STATS.to_string()],
                vec![
                    tenant.to_string(),
                    now_rfc3339(),
                    DEFAULT_TENANT.to_string(),
                ],
            )
            .await?;
        let mut texts = reply.into_iter();
        let verdict = texts.next().unwrap_or_default();
        let status = texts.next().as_deref().and_then(TaskStatus::parse);
        Ok(match (verdict.as_str(), status) {
            ("cancelled", Some(previous)) => {
                let mut fields = HashMap::new();
                while let (Some(field), Some(value)) = (texts.next(), texts.next()) {
                    fields.insert(field, value);
                }
                match parse_record(fields) {
                    Some(record) => Cancellation::Cancelled {
                        previous,
                        record: Box::new(record),
                    },
                    None => Cancellation::NotFound,
                }
            }
            ("finished", Some(status)) => Cancellation::AlreadyFinished(status),
            _ => Cancellation::NotFound,
        })
    }

    /// The positions in `ids` of the tasks that are cancelled. The caller is a worker
    /// that stops them and lets go of their messages, so their records get their
    /// expiry. One script call per `BATCH_LIMIT` ids.
    pub async fn cancelled_among(&self, ids: &[&str]) -> Result<Vec<usize>, StoreError> {
        let inner = &self.inner;
        let mut found = Vec::new();
        for (chunk_index, chunk) in ids.chunks(BATCH_LIMIT).enumerate() {
            let task_keys: Vec<String> = chunk.iter().map(|id| keys::task(id)).collect();
            let positions: Vec<i64> = inner
                .scripts
                .cancelled_among
                .evalsha_with_reload(&inner.client, task_keys, vec![inner.ttl_ms.to_string()])
                .await?;
            found.extend(
                positions
                    .into_iter()
                    .filter_map(|p| usize::try_from(p - 1).ok())
                    .map(|p| chunk_index * BATCH_LIMIT + p),
            );
        }
        Ok(found)
    }
}
