//! Every branch of both decisions, and the jitter retries use.

use super::*;

const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    max: Duration::from_secs(60),
};

fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.into()).unwrap()
}

fn retryable(error: &str) -> AttemptResult {
    AttemptResult::Failed(HandlerError::Retryable(error.into()))
}

fn permanent(error: &str) -> AttemptResult {
    AttemptResult::Failed(HandlerError::Permanent(error.into()))
}

fn retry_asked(seconds: u64) -> AttemptResult {
    AttemptResult::Failed(HandlerError::RetryableAfter {
        error: "busy".into(),
        after: Duration::from_secs(seconds),
    })
}

fn deferred(seconds: u64) -> AttemptResult {
    AttemptResult::Failed(HandlerError::Deferred {
        reason: "circuit open".into(),
        after: Duration::from_secs(seconds),
    })
}

fn defer(seconds: u64, reason: &str) -> Decision {
    Decision::Defer {
        delay: Duration::from_secs(seconds),
        reason: reason.into(),
    }
}

fn retry(delay_ms: u64, error: &str) -> Decision {
    Decision::RetryAfter {
        delay: Duration::from_millis(delay_ms),
        error: error.into(),
    }
}

fn dead(attempts: u32, error: &str, reason: DeadReason) -> Decision {
    Decision::DeadLetter {
        attempts,
        error: error.into(),
        reason,
    }
}

#[test]
fn admit_runs_fresh_attempts_and_stops_duplicates_exhausted_and_overdelivered_tasks() {
    let exhausted = |attempts, last_error: Option<&str>| AttemptStart::Exhausted {
        attempts,
        last_error: last_error.map(str::to_string),
    };
    let started = |attempt| AttemptStart::Started { attempt };
    let cases = [
        ("first delivery", started(1), 1, Ok(1)),
        ("a redelivery with attempts left", started(3), 7, Ok(3)),
        ("at the delivery limit", started(2), DELIVERY_LIMIT, Ok(2)),
        (
            "over the delivery limit",
            started(2),
            DELIVERY_LIMIT + 1,
            Err(dead(
                2,
                "delivered 251 times without an outcome",
                DeadReason::DeliveryLimit,
            )),
        ),
        (
            "a duplicate of a finished task",
            AttemptStart::AlreadyFinished(TaskStatus::Succeeded),
            2,
            Err(Decision::AlreadyFinished(TaskStatus::Succeeded)),
        ),
        (
            "a duplicate is acknowledged even over the delivery limit",
            AttemptStart::AlreadyFinished(TaskStatus::Dead),
            DELIVERY_LIMIT + 1,
            Err(Decision::AlreadyFinished(TaskStatus::Dead)),
        ),
        (
            "a cancelled task is only acknowledged",
            AttemptStart::Cancelled,
            1,
            Err(Decision::Cancelled),
        ),
        (
            "a cancelled task is acknowledged even over the delivery limit",
            AttemptStart::Cancelled,
            DELIVERY_LIMIT + 1,
            Err(Decision::Cancelled),
        ),
        (
            "a late redelivery of a task whose finished record expired",
            AttemptStart::RecordExpired,
            3,
            Err(Decision::FinishedLongAgo),
        ),
        (
            "attempts exhausted, with the last error recorded",
            exhausted(5, Some("boom")),
            6,
            Err(dead(5, "boom", DeadReason::AttemptsExhausted)),
        ),
        (
            "attempts exhausted by workers that died",
            exhausted(2, None),
            3,
            Err(dead(
                2,
                "no outcome after 2 attempts: the worker stopped while running them",
                DeadReason::AttemptsExhausted,
            )),
        ),
    ];
    for (case, start, deliveries, expected) in cases {
        assert_eq!(admit(start, deliveries), expected, "{case}");
    }
}

#[test]
fn decide_finishes_retries_dead_letters_or_hands_back() {
    // (case, attempt, max_attempts, result, jitter, expected)
    let cases = [
        (
            "success",
            1,
            3,
            AttemptResult::Succeeded(raw(r#"{"ok":1}"#)),
            0.0,
            Decision::Finish(Finish::Succeeded(raw(r#"{"ok":1}"#))),
        ),
        (
            "success on the last attempt",
            3,
            3,
            AttemptResult::Succeeded(raw("7")),
            0.0,
            Decision::Finish(Finish::Succeeded(raw("7"))),
        ),
        (
            "permanent failure with attempts left is not retried",
            1,
            3,
            permanent("bad payload"),
            0.0,
            Decision::Finish(Finish::Failed("bad payload".into())),
        ),
        (
            "permanent failure on the last attempt fails, not dead",
            3,
            3,
            permanent("bad payload"),
            0.0,
            Decision::Finish(Finish::Failed("bad payload".into())),
        ),
        (
            "retryable failure, no jitter: half the first step",
            1,
            3,
            retryable("busy"),
            0.0,
            retry(500, "busy"),
        ),
        (
            "retryable failure, full jitter: the whole step",
            1,
            3,
            retryable("busy"),
            1.0,
            retry(1000, "busy"),
        ),
        (
            "the step doubles per attempt",
            3,
            5,
            retryable("busy"),
            0.5,
            retry(3000, "busy"),
        ),
        (
            "the step is capped",
            20,
            100,
            retryable("busy"),
            1.0,
            retry(60_000, "busy"),
        ),
        (
            "retryable failure on the last attempt",
            3,
            3,
            retryable("busy"),
            0.0,
            dead(3, "busy", DeadReason::LastAttemptFailed),
        ),
        (
            "past the last attempt (max_attempts lowered since)",
            4,
            3,
            retryable("busy"),
            0.0,
            dead(4, "busy", DeadReason::LastAttemptFailed),
        ),
        (
            "timeout with attempts left",
            1,
            2,
            AttemptResult::TimedOut(Duration::from_millis(50)),
            0.0,
            retry(500, "timed out after 50ms"),
        ),
        (
            "timeout on the last attempt",
            2,
            2,
            AttemptResult::TimedOut(Duration::from_millis(50)),
            0.0,
            dead(2, "timed out after 50ms", DeadReason::LastAttemptFailed),
        ),
        (
            "panic with attempts left",
            1,
            2,
            AttemptResult::Panicked("boom".into()),
            0.0,
            retry(500, "handler panicked: boom"),
        ),
        (
            "stopped by a cancellation with attempts left: not retried",
            1,
            3,
            AttemptResult::Cancelled,
            0.0,
            Decision::Cancelled,
        ),
        (
            "stopped by a cancellation on the last attempt: not dead",
            3,
            3,
            AttemptResult::Cancelled,
            0.0,
            Decision::Cancelled,
        ),
        (
            "panic on the last attempt",
            2,
            2,
            AttemptResult::Panicked("boom".into()),
            0.0,
            dead(2, "handler panicked: boom", DeadReason::LastAttemptFailed),
        ),
        (
            "retryable with a time asked for: that time, not the backoff",
            1,
            3,
            retry_asked(7),
            0.0,
            retry(7000, "busy"),
        ),
        (
            "a time asked for is capped like the backoff",
            1,
            3,
            retry_asked(3600),
            1.0,
            retry(60_000, "busy"),
        ),
        (
            "a time asked for on the last attempt still dead-letters",
            3,
            3,
            retry_asked(1),
            0.0,
            dead(3, "busy", DeadReason::LastAttemptFailed),
        ),
        (
            "deferred: comes back after the delay, the attempt not used",
            1,
            3,
            deferred(30),
            0.0,
            defer(30, "circuit open"),
        ),
        (
            "deferred on the last attempt: not dead, it was never tried",
            3,
            3,
            deferred(2),
            0.0,
            defer(2, "circuit open"),
        ),
        (
            "deferred past the last attempt",
            4,
            3,
            deferred(2),
            0.0,
            defer(2, "circuit open"),
        ),
        (
            "handed back at shutdown, even on the last attempt",
            3,
            3,
            AttemptResult::HandedBack,
            0.0,
            Decision::HandBack,
        ),
    ];
    for (case, attempt, max_attempts, result, jitter, expected) in cases {
        let decision = decide(attempt, max_attempts, result, &BACKOFF, || jitter);
        assert_eq!(decision, expected, "{case}");
    }
}

#[test]
fn grows_exponentially_within_jitter_bounds_and_caps() {
    for (attempt, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (40, 60)] {
        for _ in 0..50 {
            let d = BACKOFF.delay(attempt, random_jitter());
            let full = Duration::from_secs(full);
            assert!(
                d >= full / 2 && d <= full,
                "attempt {attempt}: {d:?} outside [{:?}, {full:?}]",
                full / 2
            );
        }
    }
}

#[test]
fn jitter_spreads_retries() {
    let backoff = Backoff {
        base: Duration::from_secs(1),
        max: Duration::from_secs(600),
    };
    let delays: std::collections::HashSet<_> =
        (0..20).map(|_| backoff.delay(5, random_jitter())).collect();
    assert!(delays.len() > 5, "retries are not spread: {delays:?}");
}

#[test]
fn error_text_is_bounded_whatever_the_outcome() {
    let huge = "x".repeat(64 * 1024);
    let bounded = |decision: Decision| match decision {
        Decision::RetryAfter { error, .. } | Decision::DeadLetter { error, .. } => error,
        Decision::Finish(Finish::Failed(error)) => error,
        other => panic!("unexpected {other:?}"),
    };
    for (attempt, result) in [
        (1, retryable(&huge)),
        (3, retryable(&huge)),
        (1, permanent(&huge)),
        (1, AttemptResult::Panicked(huge.clone())),
    ] {
        let error = bounded(decide(attempt, 3, result, &BACKOFF, || 0.0));
        assert!(
            error.len() <= tasklane_core::task::MAX_ERROR_BYTES,
            "{}",
            error.len()
        );
        assert!(error.ends_with('…'));
    }
}
