//! One delivery, from message to ack decision:
//! [`decode`] the message → count the attempt in Valkey and [`outcome::admit`] it →
//! run the handler ([`dispatch`]) → [`outcome::decide`] what follows → [`settle`]:
//! write the outcome to Valkey, then ack, nak with a delay, or dead-letter then ack.
//! A message that is not a task goes from [`decode`] straight to its dead letter.
//! The message is held by in-progress acks throughout ([`progress`]).

mod dead_letter;
mod decode;
mod dispatch;
mod hold;
mod outcome;
mod progress;
mod settle;

use std::sync::Arc;

use async_nats::jetstream::Message;
use tasklane_core::store::RecordIdentity;
use tasklane_core::task::now_rfc3339;
use tasklane_core::tenant::DEFAULT_TENANT;
use tracing::Instrument;

use self::decode::{MALFORMED_TYPE, Malformed, Task};
use self::outcome::Backoff;
use self::settle::Settle;
use crate::state::AppState;

/// Handles one message until it is acked, nak'ed or handed back.
pub async fn handle(state: Arc<AppState>, message: Message) {
    let work = async {
        match decode::decode(&message) {
            Ok(task) => {
                let span = task.span();
                run(&state, &message, &task).instrument(span).await
            }
            Err(malformed) => dead_letter_malformed(&state, &message, malformed).await,
        }
    };
    progress::while_held(&message, state.settings.worker.ack_wait, work).await
}

async fn run(state: &AppState, message: &Message, task: &Task) {
    let worker = &state.settings.worker;
    if task.deliveries > 1 {
        state
            .metrics
            .redelivered
            .with_label_values(&[task.task_type()])
            .inc();
    }
    let mut settle = Settle::new(state, message, task.record(), task.sequence);
    // The gateway refuses more than `limits.max_attempts`; a task published to NATS
    // directly is capped here, so no path keeps a task cycling longer.
    let max_attempts = task
        .envelope
        .max_attempts
        .unwrap_or(worker.max_attempts)
        .min(state.settings.limits.max_attempts);
    let Some(start) = hold::store_write(state, || {
        state.store.start_attempt(
            task.record(),
            max_attempts,
            task.deliveries,
            task.published_ms,
        )
    })
    .await
    else {
        return settle.hand_back().await;
    };
    let attempt = match outcome::admit(start, task.deliveries) {
        Ok(attempt) => attempt,
        Err(decision) => return settle.apply(decision).await,
    };
    tracing::Span::current().record("attempt", attempt);
    settle.running(attempt);

    let result = dispatch::run_attempt(state, task, attempt, max_attempts).await;
    let backoff = Backoff {
        base: worker.retry_base_delay,
        max: worker.retry_max_delay,
    };
    let decision = outcome::decide(
        attempt,
        max_attempts,
        result,
        &backoff,
        outcome::random_jitter,
    );
    settle.apply(decision).await
}

/// A message that is not a task: kept in the dead-letter stream for inspection and
/// counted as dead, once, under the id it carries.
async fn dead_letter_malformed(state: &AppState, message: &Message, malformed: Malformed) {
    tracing::warn!(task_id = %malformed.id, subject = %message.subject, reason = %malformed.reason, "dead-lettering malformed message");
    let created_at = now_rfc3339();
    let record = RecordIdentity {
        id: &malformed.id,
        task_type: MALFORMED_TYPE,
        created_at: &created_at,
        // Never counted as outstanding: the record is created already finished.
        tenant: DEFAULT_TENANT,
    };
    Settle::new(state, message, record, malformed.sequence)
        .dead_letter(0, &malformed.reason)
        .await
}
