//! When a task may start: as soon as a worker is free, `delay_ms` after it was
//! accepted, or at `run_at`. A task that may start only later is published as a
//! JetStream schedule (see `tasklane_core::queue::TaskMessage::scheduled`), so it
//! waits in the stream and takes no worker and no consumer slot until then.

use std::time::{Duration, SystemTime};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::ApiError;

/// The furthest ahead a task may be scheduled: 30 days, in milliseconds.
pub(crate) const MAX_DELAY_MS: u64 = 2_592_000_000;

/// When a validated task may start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Start {
    /// As soon as a worker takes it.
    Now,
    /// This long after it was accepted (`delay_ms`).
    After(Duration),
    /// Not before this time (`run_at`).
    At(SystemTime),
}

impl Start {
    /// Checks `delay_ms` and `run_at` (one or neither), naming the field after `at`
    /// (an item's position in a batch) in the error.
    ///
    /// A `run_at` already past is accepted and the task runs now, as with
    /// `delay_ms: 0`: a client that computes "in one second" on a clock a little
    /// ahead of ours must not get a 422 for it, and refusing a time that has passed
    /// protects nothing.
    pub(crate) fn parse(
        delay_ms: Option<u64>,
        run_at: Option<&str>,
        at: &str,
    ) -> Result<Self, ApiError> {
        match (delay_ms, run_at) {
            (None, None) => Ok(Self::Now),
            (Some(_), Some(_)) => Err(ApiError::validation(format!(
                "{at}run_at: give either delay_ms or run_at, not both"
            ))),
            (Some(ms), None) if ms > MAX_DELAY_MS => Err(ApiError::validation(format!(
                "{at}delay_ms: must be 0 to {MAX_DELAY_MS} (30 days), got {ms}"
            ))),
            (Some(ms), None) => Ok(Self::After(Duration::from_millis(ms))),
            (None, Some(text)) => {
                let when = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
                    ApiError::validation(format!(
                        "{at}run_at: not an RFC 3339 date-time (like 2026-12-01T08:00:00Z): `{}`",
                        shortened(text)
                    ))
                })?;
                let when = SystemTime::from(when);
                let latest = SystemTime::now() + Duration::from_millis(MAX_DELAY_MS);
                if when > latest {
                    return Err(ApiError::validation(format!(
                        "{at}run_at: must be at most 30 days ahead, got {text}"
                    )));
                }
                Ok(Self::At(when))
            }
        }
    }

    /// When a task accepted at `accepted` may start; `None` when it was given no time.
    pub(crate) fn run_at(self, accepted: SystemTime) -> Option<SystemTime> {
        match self {
            Self::Now => None,
            Self::After(delay) => Some(accepted + delay),
            Self::At(when) => Some(when),
        }
    }
}

/// The time a task was accepted, from its `created_at` (which the gateway wrote, so
/// it parses; now if it somehow did not).
pub(crate) fn accepted_at(created_at: &str) -> SystemTime {
    OffsetDateTime::parse(created_at, &Rfc3339).map_or_else(|_| SystemTime::now(), SystemTime::from)
}

/// Enough of a bad value to recognize it, never a whole oversized one.
fn shortened(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_and_time_are_read_and_bounded() {
        assert_eq!(Start::parse(None, None, "").unwrap(), Start::Now);
        assert_eq!(
            Start::parse(Some(MAX_DELAY_MS), None, "").unwrap(),
            Start::After(Duration::from_millis(MAX_DELAY_MS))
        );
        let at = Start::parse(None, Some("2020-01-01T01:00:00.5+01:00"), "").unwrap();
        assert_eq!(
            at,
            Start::At(SystemTime::UNIX_EPOCH + Duration::from_millis(1_577_836_800_500))
        );
        let accepted = SystemTime::now();
        assert_eq!(
            Start::After(Duration::from_secs(5)).run_at(accepted),
            Some(accepted + Duration::from_secs(5))
        );
        assert_eq!(Start::Now.run_at(accepted), None);
    }

    #[test]
    fn each_bad_start_is_refused_naming_its_field() {
        let in_31_days = OffsetDateTime::now_utc() + time::Duration::days(31);
        let cases = [
            (Some(1), Some("2030-01-01T00:00:00Z".to_string()), "run_at"),
            (Some(MAX_DELAY_MS + 1), None, "delay_ms"),
            (None, Some("tomorrow".to_string()), "run_at"),
            (None, Some("2026-13-01T00:00:00Z".to_string()), "run_at"),
            (None, Some("2026-12-01 08:00:00".to_string()), "run_at"),
            (None, Some(in_31_days.format(&Rfc3339).unwrap()), "run_at"),
        ];
        for (delay_ms, run_at, field) in cases {
            let error =
                Start::parse(delay_ms, run_at.as_deref(), "tasks[3].").expect_err("refused");
            let error = format!("{error:?}");
            assert!(error.contains(&format!("tasks[3].{field}:")), "{error}");
        }
    }
}
