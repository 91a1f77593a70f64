//! What follows from a delivery: the retry policy as pure functions, without I/O.
//!
//! Two points decide. Before the handler runs, [`admit`] reads Valkey's answer to
//! "start an attempt" and the delivery count: a duplicate of a finished task and a
//! cancelled task are only acknowledged, a task whose attempts all died with their
//! worker is dead-lettered, and so is a message redelivered beyond
//! [`DELIVERY_LIMIT`], without running it
//! again. After the handler ran, [`decide`] turns what it returned into one
//! [`Decision`]: finish, retry after a delay, dead-letter, defer, hand back, or
//! (the task was cancelled meanwhile) only acknowledge.

use std::fmt;
use std::time::Duration;

use serde_json::value::RawValue;
use tasklane_core::store::AttemptStart;
use tasklane_core::task::{TaskStatus, bounded_error};
use tasklane_tasks::HandlerError;

/// More deliveries than any task can legitimately need (100 attempts plus hand-backs
/// at shutdown). Beyond it a message is dead-lettered whatever Valkey says, so no
/// message can cycle forever, even if its attempt counter were lost.
pub const DELIVERY_LIMIT: i64 = 250;

/// How an attempt ended.
#[derive(Debug)]
pub enum AttemptResult {
    /// The handler's result.
    Succeeded(Box<RawValue>),
    /// The handler's error, or a permanent one when no handler runs the type.
    Failed(HandlerError),
    /// The handler ran past the task's timeout.
    TimedOut(Duration),
    /// The handler panicked, with this message.
    Panicked(String),
    /// The shutdown grace period ended the attempt before the handler did.
    HandedBack,
    /// The task was cancelled while the handler ran; the handler was stopped.
    Cancelled,
}

/// What to do with a delivery; `settle` carries it out.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// The task already has an outcome: this delivery is a duplicate. Only ack.
    AlreadyFinished(TaskStatus),
    /// A late redelivery of a task whose finished record has expired: a duplicate
    /// too. Only ack.
    FinishedLongAgo,
    /// The task was cancelled, before this delivery or while it ran: it has its
    /// final status already and is not retried. Only ack.
    Cancelled,
    /// Store the task's outcome, then ack.
    Finish(Finish),
    /// Store the error, then nak so that JetStream redelivers after `delay`.
    RetryAfter { delay: Duration, error: String },
    /// Copy the message to the dead-letter stream, store `dead`, then ack.
    DeadLetter {
        attempts: u32,
        error: String,
        reason: DeadReason,
    },
    /// The attempt was cut short by shutdown and does not count: release it, then
    /// nak for immediate redelivery.
    HandBack,
    /// The handler tried nothing (its destination's circuit is open): release the
    /// attempt, then nak so that JetStream redelivers after `delay`. The worker slot
    /// is free meanwhile, and no attempt is used however often this happens.
    Defer { delay: Duration, reason: String },
}

/// The outcome of a task that is not retried.
#[derive(Debug)]
pub enum Finish {
    Succeeded(Box<RawValue>),
    /// A permanent failure: bad payload, unknown type, or the handler says so.
    Failed(String),
}

impl PartialEq for Finish {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Succeeded(a), Self::Succeeded(b)) => a.get() == b.get(),
            (Self::Failed(a), Self::Failed(b)) => a == b,
            _ => false,
        }
    }
}

/// Why a task is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeadReason {
    /// Every allowed attempt was started and none ended with an outcome: the worker
    /// died while running them (the task may be what kills it).
    AttemptsExhausted,
    /// The last allowed attempt failed.
    LastAttemptFailed,
    /// Delivered more than [`DELIVERY_LIMIT`] times.
    DeliveryLimit,
}

impl fmt::Display for DeadReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::AttemptsExhausted => "attempts exhausted without an outcome",
            Self::LastAttemptFailed => "last attempt failed",
            Self::DeliveryLimit => "delivered too often without an outcome",
        })
    }
}

/// Before running: the attempt number to run, or what to do instead.
pub fn admit(start: AttemptStart, deliveries: i64) -> Result<u32, Decision> {
    match start {
        AttemptStart::AlreadyFinished(status) => Err(Decision::AlreadyFinished(status)),
        AttemptStart::RecordExpired => Err(Decision::FinishedLongAgo),
        AttemptStart::Cancelled => Err(Decision::Cancelled),
        AttemptStart::Exhausted {
            attempts,
            last_error,
        } => Err(Decision::DeadLetter {
            attempts,
            error: last_error.unwrap_or_else(|| {
                format!(
                    "no outcome after {attempts} attempts: the worker stopped while running them"
                )
            }),
            reason: DeadReason::AttemptsExhausted,
        }),
        AttemptStart::Started { attempt } if deliveries > DELIVERY_LIMIT => {
            Err(Decision::DeadLetter {
                attempts: attempt,
                error: format!("delivered {deliveries} times without an outcome"),
                reason: DeadReason::DeliveryLimit,
            })
        }
        AttemptStart::Started { attempt } => Ok(attempt),
    }
}

/// After running attempt `attempt` of `max_attempts`: what follows from `result`.
/// `jitter` is drawn only for a retry (see [`Backoff::delay`]).
pub fn decide(
    attempt: u32,
    max_attempts: u32,
    result: AttemptResult,
    backoff: &Backoff,
    jitter: impl FnOnce() -> f64,
) -> Decision {
    let error = match result {
        AttemptResult::Succeeded(result) => return Decision::Finish(Finish::Succeeded(result)),
        AttemptResult::HandedBack => return Decision::HandBack,
        AttemptResult::Cancelled => return Decision::Cancelled,
        AttemptResult::Failed(HandlerError::Permanent(error)) => {
            return Decision::Finish(Finish::Failed(bounded_error(error)));
        }
        AttemptResult::Failed(HandlerError::Deferred { reason, after }) => {
            return Decision::Defer {
                delay: after,
                reason: bounded_error(reason),
            };
        }
        AttemptResult::Failed(HandlerError::Retryable(error)) => (error, None),
        AttemptResult::Failed(HandlerError::RetryableAfter { error, after }) => {
            (error, Some(after))
        }
        AttemptResult::TimedOut(limit) => {
            (format!("timed out after {}ms", limit.as_millis()), None)
        }
        AttemptResult::Panicked(message) => (format!("handler panicked: {message}"), None),
    };
    let (error, asked_delay) = error;
    // A handler's error can echo its whole input; only a bounded part is stored,
    // logged and put in the dead letter's headers.
    let error = bounded_error(error);
    if attempt >= max_attempts {
        return Decision::DeadLetter {
            attempts: attempt,
            error,
            reason: DeadReason::LastAttemptFailed,
        };
    }
    // The other side said when (`Retry-After`): that, within the same cap.
    let delay = match asked_delay {
        Some(after) => after.min(backoff.max),
        None => backoff.delay(attempt, jitter()),
    };
    Decision::RetryAfter { delay, error }
}

/// Delay before the next attempt: exponential from `base`, capped at `max`.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// Delay after failed attempt number `attempt` (1-based), with "equal jitter":
    /// half of it is fixed and the other half scaled by `jitter` (from 0 to 1), so a
    /// burst of failures does not come back as a synchronized burst of retries.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let exponent = attempt.saturating_sub(1).min(30);
        let full = self.base.saturating_mul(1u32 << exponent).min(self.max);
        let half = full / 2;
        half + half.mul_f64(jitter.clamp(0.0, 1.0))
    }
}

/// The jitter retries use: uniform from 0 to 1.
pub fn random_jitter() -> f64 {
    rand::random()
}

#[cfg(test)]
mod tests;
