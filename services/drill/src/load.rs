//! Steady load: tasks from the mix at a fixed rate, each submitted with its own
//! `Idempotency-Key` and retried with the same key after a 503, a 409 or no answer,
//! as the API documents for clients. Bounded: at most `in_flight` submissions at once,
//! each retried for at most `retry_for`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::gateway::{Gateways, Submitted};
use crate::mix::{self, TaskSpec};
use crate::run_log::RunLog;

#[derive(Debug, Clone, Copy)]
pub struct LoadSettings {
    /// Tasks per second.
    pub rate: f64,
    pub in_flight: usize,
    pub retry_for: Duration,
}

/// Submits one task until it is accepted or `retry_for` is spent. Returns the id.
pub async fn submit(
    gateways: &Gateways,
    log: &RunLog,
    key: &str,
    spec: TaskSpec,
    retry_for: Duration,
) -> Option<String> {
    let started = tokio::time::Instant::now();
    let mut backoff = Duration::from_millis(100);
    loop {
        let submitted = gateways.submit(key, &spec.body).await;
        log.attempt(&submitted);
        match submitted {
            Submitted::Accepted { id } => {
                log.accepted(&id, spec);
                return Some(id);
            }
            Submitted::Refused(_) => break,
            Submitted::Unavailable | Submitted::InFlight | Submitted::NoAnswer => {}
        }
        if started.elapsed() + backoff > retry_for {
            break;
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
    log.gave_up();
    None
}

/// Starts submitting at once; `run_id` makes the keys unique to this run. Stopping
/// waits for the submissions under way.
pub fn start(
    gateways: Arc<Gateways>,
    log: Arc<RunLog>,
    settings: LoadSettings,
    run_id: String,
) -> Background {
    Background::spawn(move |stop| drive(gateways, log, settings, run_id, stop))
}

async fn drive(
    gateways: Arc<Gateways>,
    log: Arc<RunLog>,
    settings: LoadSettings,
    run_id: String,
    stop: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(settings.in_flight));
    let mut submissions = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / settings.rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sequence = 0u64;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // At the in-flight bound the schedule slips instead of queueing without end.
        let permit = tokio::select! {
            _ = stop.cancelled() => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore open"),
        };
        sequence += 1;
        let spec = mix::next_task(sequence, &mut rand::rng());
        let key = format!("drill-{run_id}-{sequence}");
        let (gateways, log) = (gateways.clone(), log.clone());
        submissions.spawn(async move {
            submit(&gateways, &log, &key, spec, settings.retry_for).await;
            drop(permit);
        });
        while submissions.try_join_next().is_some() {}
    }
    while submissions.join_next().await.is_some() {}
}
