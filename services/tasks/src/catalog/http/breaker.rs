//! Per-host circuit breakers, shared by every task of a worker: `threshold`
//! consecutive failures open a host's circuit; while open nothing is sent to it;
//! after `cooldown` one probe is let through, which closes the circuit on success
//! and opens it again on failure. Every change of state is a log event.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::metrics::HttpMetrics;

pub struct Breakers {
    threshold: u32,
    cooldown: Duration,
    /// Hosts with failures or a circuit that is not closed; a host that answers
    /// again is removed, so the map holds only troubled hosts.
    hosts: Mutex<HashMap<String, Circuit>>,
    metrics: HttpMetrics,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Circuit {
    Closed { failures: u32 },
    Open { until: Instant },
    /// The one probe is under way.
    HalfOpen,
}

/// Whether a request may go to a host now.
pub enum Admission {
    Go(Ticket),
    /// The circuit is open (or its probe is under way): come back after this.
    Wait(Duration),
}

/// One request let through; it must report how it went. Dropped without a report
/// (the attempt timed out or was cut short), it counts as a failure.
pub struct Ticket {
    breakers: Arc<Breakers>,
    host: String,
    reported: bool,
}

/// How a request went, for the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The host answered with something other than a retryable status.
    Answered,
    /// Connection error, timeout, 408, 429 or 5xx.
    Failed,
    /// Nothing was sent (the destination was refused): says nothing about the host.
    NotSent,
}

impl Breakers {
    pub fn new(threshold: u32, cooldown: Duration, metrics: HttpMetrics) -> Arc<Self> {
        Arc::new(Self {
            threshold,
            cooldown,
            hosts: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    pub fn admit(self: &Arc<Self>, host: &str) -> Admission {
        let now = Instant::now();
        let mut hosts = self.lock();
        match hosts.get(host).copied() {
            Some(Circuit::Open { until }) if now < until => {
                return Admission::Wait(until - now);
            }
            Some(Circuit::Open { .. }) => {
                hosts.insert(host.to_string(), Circuit::HalfOpen);
                self.changed(host, "half_open");
            }
            Some(Circuit::HalfOpen) => return Admission::Wait(self.cooldown),
            Some(Circuit::Closed { .. }) | None => {}
        }
        Admission::Go(Ticket {
            breakers: self.clone(),
            host: host.to_string(),
            reported: false,
        })
    }

    fn report(&self, host: &str, report: Report) {
        let mut hosts = self.lock();
        let state = hosts.get(host).copied();
        match (report, state) {
            (Report::Answered, Some(Circuit::HalfOpen)) => {
                hosts.remove(host);
                self.metrics.circuits_open.dec();
                self.changed(host, "closed");
            }
            (Report::Answered, _) => {
                // A request let through before the circuit opened says nothing
                // about now; an open circuit waits for its probe.
                if matches!(state, Some(Circuit::Closed { .. })) {
                    hosts.remove(host);
                }
            }
            (Report::Failed, None | Some(Circuit::Closed { .. })) => {
                let failures = match state {
                    Some(Circuit::Closed { failures }) => failures + 1,
                    _ => 1,
                };
                if failures >= self.threshold {
                    let until = Instant::now() + self.cooldown;
                    hosts.insert(host.to_string(), Circuit::Open { until });
                    self.metrics.circuits_open.inc();
                    self.changed(host, "open");
                } else {
                    hosts.insert(host.to_string(), Circuit::Closed { failures });
                }
            }
            (Report::Failed, Some(Circuit::HalfOpen)) => {
                let until = Instant::now() + self.cooldown;
                hosts.insert(host.to_string(), Circuit::Open { until });
                self.changed(host, "open");
            }
            (Report::Failed, Some(Circuit::Open { .. })) => {}
            (Report::NotSent, Some(Circuit::HalfOpen)) => {
                // The probe never reached the host: the next request probes.
                hosts.insert(host.to_string(), Circuit::Open { until: Instant::now() });
            }
            (Report::NotSent, _) => {}
        }
    }

    fn changed(&self, host: &str, state: &'static str) {
        self.metrics
            .circuit_transitions
            .with_label_values(&[state])
            .inc();
        match state {
            "open" => tracing::warn!(
                host,
                state,
                cooldown_ms = self.cooldown.as_millis() as u64,
                "http circuit opened; tasks for this host wait for the cooldown"
            ),
            _ => tracing::info!(host, state, "http circuit changed state"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Circuit>> {
        // The map is consistent after every statement; a panic elsewhere cannot
        // leave it half-written.
        self.hosts.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Ticket {
    pub fn report(mut self, report: Report) {
        self.reported = true;
        self.breakers.report(&self.host, report);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.reported {
            self.breakers.report(&self.host, Report::Failed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_millis(50);

    fn breakers() -> Arc<Breakers> {
        Breakers::new(3, COOLDOWN, HttpMetrics::unregistered())
    }

    fn go(breakers: &Arc<Breakers>) -> Ticket {
        match breakers.admit("h:80") {
            Admission::Go(ticket) => ticket,
            Admission::Wait(after) => panic!("expected to go, told to wait {after:?}"),
        }
    }

    fn waits(breakers: &Arc<Breakers>) -> Duration {
        match breakers.admit("h:80") {
            Admission::Go(_) => panic!("expected to wait"),
            Admission::Wait(after) => after,
        }
    }

    #[test]
    fn opens_after_threshold_consecutive_failures_and_probes_once_after_cooldown() {
        let breakers = breakers();
        go(&breakers).report(Report::Failed);
        go(&breakers).report(Report::Failed);
        go(&breakers).report(Report::Answered); // resets the count
        go(&breakers).report(Report::Failed);
        go(&breakers).report(Report::Failed);
        assert!(matches!(breakers.admit("other:80"), Admission::Go(_)));
        go(&breakers).report(Report::Failed);
        assert!(waits(&breakers) <= COOLDOWN);
        assert_eq!(breakers.metrics.circuits_open.get(), 1);

        std::thread::sleep(COOLDOWN);
        let probe = go(&breakers);
        assert_eq!(waits(&breakers), COOLDOWN, "one probe at a time");
        probe.report(Report::Failed);
        assert!(waits(&breakers) <= COOLDOWN, "a failed probe opens it again");

        std::thread::sleep(COOLDOWN);
        go(&breakers).report(Report::Answered);
        assert_eq!(breakers.metrics.circuits_open.get(), 0);
        go(&breakers).report(Report::Failed);
        go(&breakers); // closed again, with a fresh count
        assert!(breakers.lock().get("h:80").is_none() || matches!(breakers.admit("h:80"), Admission::Go(_)));
    }

    #[test]
    fn a_dropped_ticket_is_a_failure_and_a_probe_that_sent_nothing_lets_the_next_probe() {
        let breakers = breakers();
        for _ in 0..3 {
            drop(go(&breakers));
        }
        waits(&breakers);
        std::thread::sleep(COOLDOWN);
        go(&breakers).report(Report::NotSent);
        go(&breakers).report(Report::Answered);
        assert!(breakers.lock().is_empty());
    }
}
