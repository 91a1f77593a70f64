//! The verdict of one run, task by task: every task that got a 202 must reach the final
//! status its body asks for, no outcome once shown may disappear, and the `/stats`
//! counters must match the finished tasks exactly (no task counted twice, none
//! missing). Plus what clients saw: 503s, requests without an answer, and how long
//! service took to come back.

use std::collections::HashMap;

use serde::Serialize;

use crate::gateway::{Counters, TaskView};
use crate::mix::Final;
use crate::run_log::{Attempt, AttemptOutcome, Tracked};

/// When the fault started and (for faults with a duration) ended, in run seconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Window {
    pub fault_at: Option<f64>,
    pub healed_at: Option<f64>,
}

pub struct Evidence<'a> {
    pub tasks: &'a [Tracked],
    /// The final re-read: `None` for 404, absent when it could not be read at all.
    pub reread: &'a HashMap<String, Option<TaskView>>,
    pub attempts: &'a [Attempt],
    pub gave_up: u64,
    pub before: Counters,
    pub after: Counters,
    /// Messages the work stream stored during the run (local drills only).
    pub enqueued: Option<u64>,
    pub window: Window,
}

/// One row of the drill table.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub accepted: u64,
    /// Submissions that never got a 202 (outcome unknown to the client).
    pub gave_up: u64,
    /// Accepted, never seen final, not final now.
    pub lost: u64,
    /// Seen final once, and now missing, not final, or final with another status.
    pub acknowledged_outcomes_lost: u64,
    /// Final, but not the status the task asked for.
    pub wrong_status: u64,
    /// Counter increments beyond the finished tasks (per status, summed).
    pub counted_twice: u64,
    /// Finished tasks the counters miss (per status, summed).
    pub uncounted: u64,
    /// Finished with fewer attempts than its status needs or more than allowed.
    pub attempts_out_of_bounds: u64,
    /// Attempts beyond the fewest needed (re-runs after crashes; not a failure).
    pub extra_attempts: u64,
    /// Could not be read back at the end.
    pub unreadable: u64,
    /// Stored in the work stream without a 202 that refers to them.
    pub enqueued_without_202: Option<u64>,
    pub backlog_after: u64,
    pub unavailable_503_after_fault: u64,
    pub unavailable_503_total: u64,
    pub no_answer_total: u64,
    pub in_flight_409_total: u64,
    pub refused_total: u64,
    /// Fault to the first task accepted after the fault and then seen final.
    pub rto_s: Option<f64>,
    /// End of the fault to the first task accepted after it and seen final.
    pub recovery_after_heal_s: Option<f64>,
    /// Fault to the last submission attempt that failed.
    pub degraded_s: Option<f64>,
    pub failures: Vec<String>,
    /// A few of the tasks behind the failures, to look up in the logs.
    pub examples: Vec<String>,
}

/// Examples kept of each kind of failure.
const EXAMPLES: usize = 3;

impl Verdict {
    fn example(&mut self, what: &str, task: &Tracked, now: Option<&TaskView>) {
        let prefix = format!("{what}: ");
        if self
            .examples
            .iter()
            .filter(|e| e.starts_with(&prefix))
            .count()
            < EXAMPLES
        {
            let now = now.map_or("missing (404)".to_string(), |v| {
                format!("{} after {} attempt(s)", v.status, v.attempts)
            });
            let seen = task
                .first_final
                .as_ref()
                .map_or(String::new(), |(s, at)| format!(", seen {s} at {at:.1} s"));
            self.examples.push(format!(
                "{prefix}{} ({:?}, accepted at {:.1} s{seen}, now {now})",
                task.id, task.spec.kind, task.accepted_at
            ));
        }
    }
}

pub fn evaluate(evidence: &Evidence) -> Verdict {
    let mut verdict = Verdict {
        accepted: evidence.tasks.len() as u64,
        gave_up: evidence.gave_up,
        backlog_after: evidence.after.backlog,
        ..Verdict::default()
    };
    let mut finished: HashMap<Final, u64> = HashMap::new();
    for task in evidence.tasks {
        let Some(now) = evidence.reread.get(&task.id) else {
            verdict.unreadable += 1;
            continue;
        };
        let now_final = now
            .as_ref()
            .and_then(|view| Final::parse(&view.status).map(|f| (f, view)));
        let seen = task.first_final.as_ref().map(|(status, _)| status.as_str());
        match (seen, now_final) {
            (Some(_), None) => {
                verdict.acknowledged_outcomes_lost += 1;
                verdict.example("outcome lost", task, now.as_ref());
            }
            (None, None) => {
                verdict.lost += 1;
                verdict.example("lost", task, now.as_ref());
            }
            (seen, Some((status, view))) => {
                if seen.is_some_and(|s| Final::parse(s) != Some(status)) {
                    verdict.acknowledged_outcomes_lost += 1;
                    verdict.example("outcome changed", task, Some(view));
                }
                *finished.entry(status).or_default() += 1;
                if status != task.spec.expected {
                    verdict.wrong_status += 1;
                    verdict.example("wrong status", task, Some(view));
                }
                if view.attempts < task.spec.min_attempts || view.attempts > task.spec.max_attempts
                {
                    verdict.attempts_out_of_bounds += 1;
                    verdict.example("attempts out of bounds", task, Some(view));
                }
                verdict.extra_attempts +=
                    view.attempts.saturating_sub(task.spec.min_attempts) as u64;
            }
        }
    }
    let (before, after) = (evidence.before, evidence.after);
    for (status, counted) in [
        (
            Final::Succeeded,
            after.succeeded.saturating_sub(before.succeeded),
        ),
        (Final::Failed, after.failed.saturating_sub(before.failed)),
        (Final::Dead, after.dead.saturating_sub(before.dead)),
    ] {
        let tasks = finished.get(&status).copied().unwrap_or(0);
        verdict.counted_twice += counted.saturating_sub(tasks);
        verdict.uncounted += tasks.saturating_sub(counted);
    }
    verdict.enqueued_without_202 = evidence
        .enqueued
        .map(|enqueued| enqueued.saturating_sub(verdict.accepted));
    summarize_attempts(&mut verdict, evidence);
    recovery_times(&mut verdict, evidence);
    verdict.failures = failures(&verdict);
    if evidence.window.fault_at.is_some() && verdict.rto_s.is_none() {
        verdict
            .failures
            .push("no task accepted after the fault finished: service did not resume".into());
    }
    verdict
}

fn summarize_attempts(verdict: &mut Verdict, evidence: &Evidence) {
    let fault_at = evidence.window.fault_at;
    for attempt in evidence.attempts {
        match attempt.outcome {
            AttemptOutcome::Accepted => {}
            AttemptOutcome::Unavailable => {
                verdict.unavailable_503_total += 1;
                if fault_at.is_some_and(|f| attempt.at >= f) {
                    verdict.unavailable_503_after_fault += 1;
                }
            }
            AttemptOutcome::NoAnswer => verdict.no_answer_total += 1,
            AttemptOutcome::InFlight => verdict.in_flight_409_total += 1,
            AttemptOutcome::Refused(_) => verdict.refused_total += 1,
        }
    }
    if let Some(fault_at) = fault_at {
        verdict.degraded_s = evidence
            .attempts
            .iter()
            .filter(|a| a.at >= fault_at && a.outcome != AttemptOutcome::Accepted)
            .map(|a| a.at - fault_at)
            .reduce(f64::max);
    }
}

/// The first task accepted at or after `since` and seen final: how long after `since`.
fn first_success_after(tasks: &[Tracked], since: f64) -> Option<f64> {
    tasks
        .iter()
        .filter(|t| t.accepted_at >= since)
        .filter_map(|t| t.first_final.as_ref().map(|(_, at)| at - since))
        .reduce(f64::min)
}

fn recovery_times(verdict: &mut Verdict, evidence: &Evidence) {
    if let Some(fault_at) = evidence.window.fault_at {
        verdict.rto_s = first_success_after(evidence.tasks, fault_at);
    }
    if let Some(healed_at) = evidence.window.healed_at {
        verdict.recovery_after_heal_s = first_success_after(evidence.tasks, healed_at);
    }
}

fn failures(v: &Verdict) -> Vec<String> {
    let mut failures = Vec::new();
    let mut check = |count: u64, what: &str| {
        if count > 0 {
            failures.push(format!("{count} {what}"));
        }
    };
    check(v.lost, "accepted tasks lost");
    check(
        v.acknowledged_outcomes_lost,
        "acknowledged outcomes lost (RPO)",
    );
    check(
        v.counted_twice,
        "counter increments without a task (counted twice)",
    );
    check(v.uncounted, "finished tasks missing from the counters");
    check(
        v.wrong_status,
        "tasks with a final status other than expected",
    );
    check(
        v.attempts_out_of_bounds,
        "tasks with attempts out of bounds",
    );
    check(v.unreadable, "tasks unreadable at the end");
    check(v.refused_total, "submissions refused (not 202/409/503)");
    check(v.backlog_after, "messages still in the backlog at the end");
    check(
        v.enqueued_without_202.unwrap_or(0),
        "messages enqueued without a 202 (duplicates or a 503 that was accepted)",
    );
    if v.accepted == 0 {
        failures.push("no task was accepted".into());
    }
    failures
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
