//! Carries out a [`Decision`] for one message: the Valkey write first (held and
//! retried while Valkey is away), then the ack, the nak with a delay, or the dead
//! letter followed by the ack. Nothing is acked before its outcome is stored.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tasklane_core::store::{FinalOutcome, RecordIdentity};

use super::outcome::{Decision, Finish};
use super::{dead_letter, hold};
use crate::state::AppState;

/// One message and the task record it settles.
pub struct Settle<'a> {
    state: &'a AppState,
    message: &'a Message,
    record: RecordIdentity<'a>,
    /// The message's position in the work stream, for the dead letter.
    sequence: u64,
    /// The attempt this delivery runs, once admitted (0 before).
    attempt: u32,
}

impl<'a> Settle<'a> {
    pub fn new(
        state: &'a AppState,
        message: &'a Message,
        record: RecordIdentity<'a>,
        sequence: u64,
    ) -> Self {
        Self {
            state,
            message,
            record,
            sequence,
            attempt: 0,
        }
    }

    /// Records the attempt this delivery runs; the outcome write carries it.
    pub fn running(&mut self, attempt: u32) {
        self.attempt = attempt;
    }

    pub async fn apply(&self, decision: Decision) {
        match decision {
            Decision::AlreadyFinished(status) => {
                tracing::info!(
                    status = status.as_str(),
                    "duplicate delivery of a finished task; acknowledging"
                );
                self.ack().await
            }
            Decision::FinishedLongAgo => {
                tracing::info!(
                    "redelivery of a task finished longer ago than results.ttl; acknowledging"
                );
                self.ack().await
            }
            Decision::Cancelled => {
                // The record is final already: nothing is written, counted as
                // processed or retried.
                tracing::info!("task cancelled; acknowledging without an outcome");
                self.state
                    .metrics
                    .cancelled
                    .with_label_values(&[self.record.task_type])
                    .inc();
                self.ack().await
            }
            Decision::Finish(Finish::Succeeded(result)) => {
                self.finish(FinalOutcome::Succeeded {
                    result: result.get(),
                })
                .await
            }
            Decision::Finish(Finish::Failed(error)) => {
                tracing::warn!(error = %error, "attempt failed permanently");
                self.finish(FinalOutcome::Failed { error: &error }).await
            }
            Decision::RetryAfter { delay, error } => self.retry_after(delay, &error).await,
            Decision::DeadLetter {
                attempts,
                error,
                reason,
            } => {
                tracing::warn!(attempts, error = %error, "{reason}; dead-lettering");
                self.dead_letter(attempts, &error).await
            }
            Decision::Defer { delay, reason } => self.defer(delay, &reason).await,
            Decision::HandBack => {
                tracing::info!("shutdown grace period over; handing the task back");
                if let Err(e) = self.state.store.release_attempt(self.record.id).await {
                    tracing::warn!(error = %e, "interrupted attempt could not be released; it counts");
                }
                self.hand_back().await
            }
        }
    }

    /// Copies the message to the dead-letter stream, then stores `dead` and acks.
    pub async fn dead_letter(&self, attempts: u32, error: &str) {
        let state = self.state;
        let published = hold::until_ok(&state.grace_over, || {
            dead_letter::publish(
                &state.queue,
                self.message,
                self.record.id,
                self.record.task_type,
                self.sequence,
                attempts,
                error,
            )
        })
        .await;
        if published.is_none() {
            return self.hand_back().await;
        }
        state
            .metrics
            .dead_lettered
            .with_label_values(&[self.record.task_type])
            .inc();
        self.finish_after(FinalOutcome::Dead { error }, attempts.max(self.attempt))
            .await
    }

    /// Returns the message for immediate redelivery.
    pub async fn hand_back(&self) {
        if let Err(e) = self.message.ack_with(AckKind::Nak(None)).await {
            tracing::warn!(error = %e, "hand-back not sent; redelivery after ack_wait");
        }
    }

    /// Gives the attempt back (it tried nothing) and has the task redelivered after
    /// `delay`; until then it holds no worker slot.
    async fn defer(&self, delay: Duration, reason: &str) {
        let state = self.state;
        let released =
            hold::store_write(state, || state.store.release_attempt(self.record.id)).await;
        if released.is_none() {
            return self.hand_back().await;
        }
        tracing::info!(
            reason,
            retry_in_ms = delay.as_millis() as u64,
            "nothing tried; the task comes back later without using an attempt"
        );
        self.nak_after(delay).await
    }

    async fn nak_after(&self, delay: Duration) {
        if let Err(e) = self.message.ack_with(AckKind::Nak(Some(delay))).await {
            // Without the nak the task is redelivered after ack_wait instead: later
            // than planned, but not lost.
            tracing::warn!(error = %e, "nak not sent");
        }
    }

    async fn retry_after(&self, delay: Duration, error: &str) {
        let state = self.state;
        let recorded =
            hold::store_write(state, || state.store.record_error(self.record.id, error)).await;
        if recorded.is_none() {
            return self.hand_back().await;
        }
        tracing::info!(error = %error, retry_in_ms = delay.as_millis() as u64, "attempt failed; retrying later");
        state
            .metrics
            .retried
            .with_label_values(&[self.record.task_type])
            .inc();
        self.nak_after(delay).await
    }

    async fn finish(&self, outcome: FinalOutcome<'_>) {
        self.finish_after(outcome, self.attempt).await
    }

    async fn finish_after(&self, outcome: FinalOutcome<'_>, attempts: u32) {
        let state = self.state;
        let Some(changed) = hold::store_write(state, || {
            state.store.finish(self.record, &outcome, attempts)
        })
        .await
        else {
            return self.hand_back().await;
        };
        let status = outcome.status().as_str();
        if changed {
            state
                .metrics
                .processed
                .with_label_values(&[self.record.task_type, status])
                .inc();
            tracing::debug!(status, "task finished");
        }
        self.ack().await
    }

    async fn ack(&self) {
        if let Err(e) = self.message.ack().await {
            // The outcome is stored; a redelivery will find it and only ack.
            tracing::warn!(error = %e, "ack not sent; the task will be redelivered and acknowledged then");
        }
    }
}
