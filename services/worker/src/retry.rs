//! Delay before the next attempt: exponential from `base`, capped at `max`, with
//! "equal jitter" (half fixed, half random) so a burst of failures does not come back
//! as a synchronized burst of retries.

use std::time::Duration;

use rand::Rng;

/// Delay after failed attempt number `attempt` (1-based).
pub fn delay(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    let jitter_ms = rand::rng().random_range(0..=half.as_millis() as u64);
    half + Duration::from_millis(jitter_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let base = Duration::from_secs(1);
        let max = Duration::from_secs(60);
        for (attempt, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (7, 60), (40, 60)] {
            for _ in 0..50 {
                let d = delay(attempt, base, max);
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
        let delays: std::collections::HashSet<_> = (0..20)
            .map(|_| delay(5, Duration::from_secs(1), Duration::from_secs(600)))
            .collect();
        assert!(delays.len() > 5, "retries are not spread: {delays:?}");
    }
}
