//! Re-driving a dead task: the link between the dead record and the new task's.

use super::{Store, StoreError};
use crate::names::keys;
use crate::task::TaskId;

/// What linking a dead task to its re-drive found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedriveLink {
    /// Both records now name each other.
    Linked,
    /// The dead task was re-driven before, to this task.
    Taken(String),
    /// The task is not dead (its status, or `None` without a record).
    NotDead(Option<String>),
}

impl Store {
    /// Records that dead task `dead` was re-driven as task `new`: `redriven_to` on the
    /// dead record (at most once; it then lives another `results.ttl`), and
    /// `redriven_from` on the new one. Statuses and counters are left as they are.
    pub async fn link_redrive(
        &self,
        dead: &TaskId,
        new: &TaskId,
    ) -> Result<RedriveLink, StoreError> {
        let (dead, new) = (dead.to_string(), new.to_string());
        let reply: Vec<String> = self
            .inner
            .scripts
            .redrive_link
            .evalsha_with_reload(
                &self.inner.client,
                vec![keys::task(&dead), keys::task(&new)],
                vec![dead, new, self.inner.ttl_ms.to_string()],
            )
            .await?;
        let value = reply.get(1).cloned().unwrap_or_default();
        Ok(match reply.first().map(String::as_str) {
            Some("linked") => RedriveLink::Linked,
            Some("taken") => RedriveLink::Taken(value),
            _ => RedriveLink::NotDead(Some(value).filter(|status| !status.is_empty())),
        })
    }
}
