//! At most `max_per_host` requests to one host at a time per worker, whatever the
//! worker's concurrency, so a burst of tasks for one host does not flood it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct HostLimits {
    per_host: usize,
    /// Hosts with requests under way or waiting; emptied as they finish.
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A request's place among its host's; released on drop.
pub struct HostSlot {
    limits: Arc<HostLimits>,
    host: String,
    permit: Option<OwnedSemaphorePermit>,
}

impl HostLimits {
    pub fn new(per_host: usize) -> Arc<Self> {
        Arc::new(Self {
            per_host,
            hosts: Mutex::new(HashMap::new()),
        })
    }

    /// Waits for a free place for `host`.
    pub async fn acquire(self: &Arc<Self>, host: &str) -> HostSlot {
        let semaphore = self
            .lock()
            .entry(host.to_string())
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_host)))
            .clone();
        let permit = semaphore
            .acquire_owned()
            .await
            .expect("host semaphores are never closed");
        HostSlot {
            limits: self.clone(),
            host: host.to_string(),
            permit: Some(permit),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Semaphore>>> {
        self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for HostSlot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let mut hosts = self.limits.lock();
        // Only the map holds it: nobody runs or waits for this host any more.
        if hosts
            .get(&self.host)
            .is_some_and(|semaphore| Arc::strong_count(semaphore) == 1)
        {
            hosts.remove(&self.host);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_host_gets_at_most_its_share_and_idle_hosts_are_forgotten() {
        let limits = HostLimits::new(2);
        let a1 = limits.acquire("a:80").await;
        let _a2 = limits.acquire("a:80").await;
        let _b = limits.acquire("b:80").await;
        let third = tokio::time::timeout(std::time::Duration::from_millis(50), limits.acquire("a:80"));
        assert!(third.await.is_err(), "a third request to a:80 must wait");
        drop(a1);
        let _a3 = limits.acquire("a:80").await;
        drop((_a2, _a3, _b));
        assert!(limits.lock().is_empty());
    }
}
