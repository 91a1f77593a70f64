//! The task mix the drill submits, and what each task must end as. Every task's
//! expectation follows from its own body, so the checker needs nothing else.

use rand::Rng;
use serde::Serialize;
use serde_json::{Value, json};

/// How a task ends when nothing is lost (SPEC: "Worker semantics").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Final {
    Succeeded,
    Failed,
    Dead,
}

impl Final {
    pub fn parse(status: &str) -> Option<Self> {
        match status {
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            "dead" => Some(Self::Dead),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Echo,
    Sleep,
    /// Fails its first attempts, then succeeds.
    Retry,
    /// Fails permanently on the first attempt.
    Permanent,
    /// Fails more often than it may be attempted: dead-lettered.
    Exhaust,
    /// Panics in the handler on every attempt: dead-lettered, the worker survives.
    Poison,
}

#[derive(Debug, Clone)]
pub struct TaskSpec {
    pub kind: Kind,
    pub body: Value,
    pub expected: Final,
    /// Fewest attempts the final status needs.
    pub min_attempts: u32,
    /// Most attempts allowed (the task's `max_attempts`).
    pub max_attempts: u32,
}

/// Attempts every task of the mix may use.
const MAX_ATTEMPTS: u32 = 5;
/// Attempts of the tasks that must be dead-lettered: few, so they finish quickly.
const SHORT_ATTEMPTS: u32 = 3;

impl TaskSpec {
    fn new(kind: Kind, task_type: &str, payload: Value, max_attempts: u32) -> Self {
        let (expected, min_attempts) = match kind {
            Kind::Echo | Kind::Sleep => (Final::Succeeded, 1),
            Kind::Retry => {
                let fails = payload["fail_times"].as_u64().unwrap_or(0) as u32;
                (Final::Succeeded, fails + 1)
            }
            Kind::Permanent => (Final::Failed, 1),
            Kind::Exhaust | Kind::Poison => (Final::Dead, max_attempts),
        };
        Self {
            kind,
            body: json!({"type": task_type, "payload": payload, "max_attempts": max_attempts}),
            expected,
            min_attempts,
            max_attempts,
        }
    }

    pub fn poison() -> Self {
        Self::new(Kind::Poison, "fail", json!({"panic": true}), SHORT_ATTEMPTS)
    }
}

/// The steady mix: mostly work that succeeds, some retries, some permanent failures and
/// some dead letters, so every final status and every counter is exercised.
pub fn next_task(sequence: u64, rng: &mut impl Rng) -> TaskSpec {
    let roll = rng.random_range(0..100);
    match roll {
        0..45 => TaskSpec::new(Kind::Echo, "echo", json!({"seq": sequence}), MAX_ATTEMPTS),
        45..70 => TaskSpec::new(
            Kind::Sleep,
            "sleep",
            json!({"ms": rng.random_range(50..400)}),
            MAX_ATTEMPTS,
        ),
        70..85 => TaskSpec::new(
            Kind::Retry,
            "fail",
            json!({"fail_times": rng.random_range(1..=2)}),
            MAX_ATTEMPTS,
        ),
        85..93 => TaskSpec::new(
            Kind::Permanent,
            "fail",
            json!({"permanent": true}),
            MAX_ATTEMPTS,
        ),
        _ => TaskSpec::new(
            Kind::Exhaust,
            "fail",
            json!({"fail_times": 100}),
            SHORT_ATTEMPTS,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expectations_follow_from_the_body() {
        let mut rng = rand::rng();
        let mut kinds = std::collections::HashSet::new();
        for seq in 0..2000 {
            let spec = next_task(seq, &mut rng);
            kinds.insert(format!("{:?}", spec.kind));
            assert!(spec.min_attempts <= spec.max_attempts, "{spec:?}");
            assert_eq!(spec.body["max_attempts"], spec.max_attempts);
            match spec.kind {
                Kind::Retry => {
                    let fails = spec.body["payload"]["fail_times"].as_u64().unwrap() as u32;
                    assert!(fails < spec.max_attempts);
                    assert_eq!(spec.min_attempts, fails + 1);
                }
                Kind::Exhaust => assert_eq!(spec.expected, Final::Dead),
                Kind::Permanent => assert_eq!(spec.expected, Final::Failed),
                _ => {}
            }
        }
        assert_eq!(kinds.len(), 5, "every kind of the mix appears: {kinds:?}");
        assert_eq!(TaskSpec::poison().expected, Final::Dead);
    }
}
