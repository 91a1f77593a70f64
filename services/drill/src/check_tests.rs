use std::collections::HashMap;

use serde_json::json;

use super::*;
use crate::mix::{Kind, TaskSpec};

fn spec(expected: Final, min_attempts: u32) -> TaskSpec {
    TaskSpec {
        kind: Kind::Echo,
        body: json!({}),
        expected,
        min_attempts,
        max_attempts: 5,
    }
}

fn tracked(id: &str, expected: Final, seen: Option<&str>, accepted_at: f64) -> Tracked {
    Tracked {
        id: id.into(),
        spec: spec(expected, 1),
        accepted_at,
        first_final: seen.map(|s| (s.to_string(), accepted_at + 0.5)),
    }
}

fn view(status: &str, attempts: u32) -> Option<TaskView> {
    Some(TaskView {
        status: status.into(),
        attempts,
    })
}

fn counters(succeeded: u64, failed: u64, dead: u64) -> Counters {
    Counters {
        processed: succeeded + failed + dead,
        succeeded,
        failed,
        dead,
        backlog: 0,
    }
}

struct Case {
    tasks: Vec<Tracked>,
    reread: HashMap<String, Option<TaskView>>,
    after: Counters,
    enqueued: Option<u64>,
}

impl Case {
    /// Three tasks, each finished as expected and counted once: a clean run.
    fn clean() -> Self {
        let tasks = vec![
            tracked("a", Final::Succeeded, Some("succeeded"), 1.0),
            tracked("b", Final::Failed, Some("failed"), 2.0),
            tracked("c", Final::Dead, None, 12.0),
        ];
        let reread = HashMap::from([
            ("a".to_string(), view("succeeded", 1)),
            ("b".to_string(), view("failed", 1)),
            ("c".to_string(), view("dead", 5)),
        ]);
        Self {
            tasks,
            reread,
            after: counters(1, 1, 1),
            enqueued: Some(3),
        }
    }

    fn verdict(&self) -> Verdict {
        evaluate(&Evidence {
            tasks: &self.tasks,
            reread: &self.reread,
            attempts: &[],
            gave_up: 0,
            before: Counters::default(),
            after: self.after,
            enqueued: self.enqueued,
            window: Window {
                fault_at: Some(1.5),
                healed_at: None,
            },
        })
    }
}

#[test]
fn a_clean_run_passes_and_measures_recovery() {
    let mut case = Case::clean();
    case.tasks[2].first_final = Some(("dead".into(), 14.0));
    let verdict = case.verdict();
    assert!(verdict.failures.is_empty(), "{:?}", verdict.failures);
    assert_eq!(verdict.accepted, 3);
    // Task b was accepted after the fault (2.0) and seen final at 2.5.
    assert_eq!(verdict.rto_s, Some(1.0));
}

#[test]
fn each_broken_promise_is_counted_and_fails_the_run() {
    type Breakage = fn(&mut Case);
    type Count = fn(&Verdict) -> u64;
    let cases: [(&str, Breakage, Count); 7] = [
        (
            "a task never finished",
            |c| {
                c.reread.insert("c".into(), view("queued", 0));
                c.after = counters(1, 1, 0);
            },
            |v| v.lost,
        ),
        (
            "an outcome seen once is gone",
            |c| {
                c.reread.insert("a".into(), view("running", 1));
                c.after = counters(0, 1, 1);
            },
            |v| v.acknowledged_outcomes_lost,
        ),
        (
            "an expired record reads 404",
            |c| {
                c.reread.insert("a".into(), None);
                c.after = counters(0, 1, 1);
            },
            |v| v.acknowledged_outcomes_lost,
        ),
        (
            "counted twice",
            |c| c.after = counters(2, 1, 1),
            |v| v.counted_twice,
        ),
        (
            "missing from the counters",
            |c| c.after = counters(1, 0, 1),
            |v| v.uncounted,
        ),
        (
            "wrong final status",
            |c| {
                c.reread.insert("a".into(), view("dead", 5));
                c.tasks[0].first_final = None;
                c.after = counters(0, 1, 2);
            },
            |v| v.wrong_status,
        ),
        (
            "a duplicate in the stream",
            |c| c.enqueued = Some(4),
            |v| v.enqueued_without_202.unwrap_or(0),
        ),
    ];
    for (what, breakage, count) in cases {
        let mut case = Case::clean();
        breakage(&mut case);
        let verdict = case.verdict();
        assert_eq!(count(&verdict), 1, "{what}: {verdict:?}");
        assert!(!verdict.failures.is_empty(), "{what} must fail the run");
    }
}

#[test]
fn attempts_beyond_the_minimum_are_reported_but_only_bounds_fail() {
    let mut case = Case::clean();
    let before = case.verdict().extra_attempts;
    case.reread.insert("a".into(), view("succeeded", 3));
    let verdict = case.verdict();
    assert_eq!(verdict.extra_attempts, before + 2);
    assert!(verdict.failures.is_empty(), "{:?}", verdict.failures);

    case.reread.insert("a".into(), view("succeeded", 6));
    assert_eq!(case.verdict().attempts_out_of_bounds, 1);
}

#[test]
fn no_success_after_the_fault_means_service_did_not_resume() {
    let mut case = Case::clean();
    case.tasks.retain(|t| t.accepted_at < 1.5);
    case.reread.remove("c");
    case.after = counters(1, 0, 0);
    case.tasks.truncate(1);
    case.enqueued = Some(1);
    let verdict = case.verdict();
    assert_eq!(verdict.rto_s, None);
    assert!(
        verdict
            .failures
            .iter()
            .any(|f| f.contains("did not resume")),
        "{:?}",
        verdict.failures
    );
}
