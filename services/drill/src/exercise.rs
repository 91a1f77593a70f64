//! One exercise of the system under load, the same locally and against a cluster:
//! start the observer and the load, let the caller inject its fault, then stop the
//! load, let everything settle, and collect the evidence the checker needs.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use crate::background::Background;
use crate::check::{self, Evidence, Verdict, Window};
use crate::gateway::{Counters, Gateways, TaskView};
use crate::load::{self, LoadSettings};
use crate::observe;
use crate::run_log::{Attempt, RunLog, Tracked};

#[derive(Debug, Clone, Copy)]
pub struct Timings {
    /// Load before the fault.
    pub warmup: Duration,
    /// Load after the fault has ended.
    pub after_heal: Duration,
    /// Longest wait for every accepted task to be seen final.
    pub settle: Duration,
    /// Wait after that before the final read: a redelivery that would count a task
    /// twice happens within it (it is longer than the worker's ack wait).
    pub quiet: Duration,
}

pub struct Collected {
    pub tasks: Vec<Tracked>,
    pub reread: HashMap<String, Option<TaskView>>,
    pub attempts: Vec<Attempt>,
    pub gave_up: u64,
    pub before: Counters,
    pub after: Counters,
    pub settled: bool,
}

impl Collected {
    /// The checker's verdict on this evidence.
    pub fn verdict(&self, enqueued: Option<u64>, window: Window) -> Verdict {
        check::evaluate(&Evidence {
            tasks: &self.tasks,
            reread: &self.reread,
            attempts: &self.attempts,
            gave_up: self.gave_up,
            before: self.before,
            after: self.after,
            enqueued,
            window,
        })
    }
}

pub struct Exercise {
    gateways: Arc<Gateways>,
    log: Arc<RunLog>,
    observer: Background,
    load: Background,
    before: Counters,
}

impl Exercise {
    pub async fn begin(
        gateways: Arc<Gateways>,
        load: LoadSettings,
        run_id: String,
    ) -> anyhow::Result<Self> {
        let before = gateways.counters_within(Duration::from_secs(30)).await?;
        let log = Arc::new(RunLog::new());
        let observer = observe::start(gateways.clone(), log.clone());
        let load = load::start(gateways.clone(), log.clone(), load, run_id);
        Ok(Self {
            gateways,
            log,
            observer,
            load,
            before,
        })
    }

    pub fn log(&self) -> &Arc<RunLog> {
        &self.log
    }

    pub fn gateways(&self) -> &Arc<Gateways> {
        &self.gateways
    }

    pub async fn finish(self, timings: Timings) -> anyhow::Result<Collected> {
        self.load.stop().await;
        let settled = observe::wait_all_final(&self.log, timings.settle).await;
        tokio::time::sleep(timings.quiet).await;
        self.observer.stop().await;
        let tasks = self.log.tasks();
        let reread = reread(&self.gateways, &tasks).await;
        let after = self
            .gateways
            .counters_within(Duration::from_secs(60))
            .await?;
        Ok(Collected {
            attempts: self.log.attempts(),
            gave_up: self.log.gave_up_count(),
            tasks,
            reread,
            before: self.before,
            after,
            settled,
        })
    }
}

/// Reads every task once more; a task is left out only if no gateway could answer
/// for it within a minute.
async fn reread(gateways: &Arc<Gateways>, tasks: &[Tracked]) -> HashMap<String, Option<TaskView>> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let ids: Vec<String> = tasks.iter().map(|t| t.id.clone()).collect();
    futures::stream::iter(ids)
        .map(|id| {
            let gateways = gateways.clone();
            async move {
                loop {
                    match gateways.task(&id).await {
                        Ok(view) => return Some((id, view)),
                        Err(_) if tokio::time::Instant::now() > deadline => return None,
                        Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
                    }
                }
            }
        })
        .buffer_unordered(8)
        .filter_map(std::future::ready)
        .collect()
        .await
}
