//! One delivery, from message to ack decision:
//! parse → count the attempt in Valkey → run the handler (timeout, panic guard,
//! progress acks) → write the outcome to Valkey → ack, nak with delay, or dead-letter
//! then ack. Nothing is acked before its outcome is durably stored.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{AckKind, Message};
use futures::FutureExt;
use tasklane_core::store::{AttemptStart, FinalOutcome, RecordIdentity, StoreError};
use tasklane_core::task::{TaskEnvelope, headers, now_millis};
use tasklane_core::trace_context::TraceParent;
use tasklane_tasks::{HandlerError, TaskInput};
use tracing::Instrument;

use crate::context::WorkerContext;
use crate::dead_letter;
use crate::progress;
use crate::retry;

/// More deliveries than any task can legitimately need (100 attempts plus hand-backs
/// at shutdown). Beyond it a message is dead-lettered whatever Valkey says, so no
/// message can cycle forever, even if its attempt counter were lost.
const DELIVERY_LIMIT: i64 = 250;

/// How a failed attempt ended.
enum AttemptFailure {
    Handler(HandlerError),
    TimedOut(Duration),
    Panicked(String),
}

impl AttemptFailure {
    fn is_permanent(&self) -> bool {
        matches!(self, Self::Handler(HandlerError::Permanent(_)))
    }

    fn describe(&self) -> String {
        match self {
            Self::Handler(e) => e.to_string(),
            Self::TimedOut(limit) => format!("timed out after {}ms", limit.as_millis()),
            Self::Panicked(message) => format!("handler panicked: {message}"),
        }
    }
}

pub async fn process(ctx: Arc<WorkerContext>, message: Message) {
    let (delivered, published_ms, sequence) = match message.info() {
        Ok(info) => (
            info.delivered,
            (info.published.unix_timestamp_nanos() / 1_000_000) as u64,
            info.stream_sequence,
        ),
        Err(_) => (1, now_millis(), 0),
    };
    let envelope = match serde_json::from_slice::<TaskEnvelope>(&message.payload) {
        Ok(envelope) if message.subject.as_str() == envelope.task_type.subject() => envelope,
        Ok(envelope) => {
            let reason = format!(
                "task type `{}` does not match subject `{}`",
                envelope.task_type, message.subject
            );
            return dead_letter_malformed(&ctx, &message, sequence, reason).await;
        }
        Err(e) => {
            return dead_letter_malformed(&ctx, &message, sequence, format!("malformed task: {e}"))
                .await;
        }
    };
    let trace = message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::TRACEPARENT))
        .and_then(|v| TraceParent::parse(v.as_str()))
        .unwrap_or_else(TraceParent::new_root);
    let request_id = message
        .headers
        .as_ref()
        .and_then(|h| h.get(headers::REQUEST_ID))
        .map(|v| v.as_str().to_string())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "task",
        task_id = %envelope.id,
        task_type = %envelope.task_type,
        attempt = tracing::field::Empty,
        delivery = delivered,
        trace_id = %trace.trace_id,
        request_id = %request_id,
    );
    let delivery = Delivery {
        ctx: &ctx,
        message: &message,
        envelope: &envelope,
        id: envelope.id.to_string(),
        delivered,
        published_ms,
        sequence,
    };
    progress::while_held(
        &message,
        ctx.settings.worker.ack_wait,
        delivery.run().instrument(span),
    )
    .await
}

struct Delivery<'a> {
    ctx: &'a WorkerContext,
    message: &'a Message,
    envelope: &'a TaskEnvelope,
    id: String,
    delivered: i64,
    published_ms: u64,
    sequence: u64,
}

impl Delivery<'_> {
    fn who(&self) -> RecordIdentity<'_> {
        RecordIdentity {
            id: &self.id,
            task_type: self.envelope.task_type.as_str(),
            created_at: &self.envelope.created_at,
        }
    }

    fn task_type(&self) -> &str {
        self.envelope.task_type.as_str()
    }

    async fn run(self) {
        let ctx = self.ctx;
        let task_type = self.task_type().to_string();
        if self.delivered > 1 {
            ctx.metrics
                .redelivered
                .with_label_values(&[&task_type])
                .inc();
        }
        let max_attempts = self
            .envelope
            .max_attempts
            .unwrap_or(ctx.settings.worker.max_attempts);

        let Some(start) = self
            .store_op(|| ctx.store.start_attempt(self.who(), max_attempts))
            .await
        else {
            return self.hand_back().await;
        };
        let attempt = match start {
            AttemptStart::AlreadyFinished(status) => {
                tracing::info!(
                    status = status.as_str(),
                    "duplicate delivery of a finished task; acknowledging"
                );
                return self.ack().await;
            }
            AttemptStart::Exhausted {
                attempts,
                last_error,
            } => {
                let error = last_error.unwrap_or_else(|| {
                    format!("no outcome after {attempts} attempts: the worker stopped while running them")
                });
                tracing::warn!(attempts, error = %error, "attempts exhausted without an outcome; dead-lettering");
                return self.dead_letter(attempts, &error).await;
            }
            AttemptStart::Started { attempt } => attempt,
        };
        tracing::Span::current().record("attempt", attempt);

        if self.delivered > DELIVERY_LIMIT {
            let error = format!("delivered {} times without an outcome", self.delivered);
            return self.dead_letter(attempt, &error).await;
        }

        let Some(handler) = ctx.registry.get(&task_type) else {
            let error = format!("unknown task type `{task_type}`");
            return self
                .finish(attempt, FinalOutcome::Failed { error: &error })
                .await;
        };

        let wait = now_millis().saturating_sub(self.published_ms) as f64 / 1000.0;
        ctx.metrics
            .queue_wait
            .with_label_values(&[&task_type])
            .observe(wait);
        let timeout = self
            .envelope
            .timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(ctx.settings.worker.task_timeout);
        let input = TaskInput {
            id: &self.id,
            attempt,
            max_attempts,
            payload: &self.envelope.payload,
        };

        let started = Instant::now();
        let run =
            AssertUnwindSafe(tokio::time::timeout(timeout, handler.run(&input))).catch_unwind();
        let outcome = tokio::select! {
            outcome = run => outcome,
            _ = ctx.handback.cancelled() => {
                tracing::info!("shutdown grace period over; handing the task back");
                if let Err(e) = ctx.store.release_attempt(&self.id).await {
                    tracing::warn!(error = %e, "interrupted attempt could not be released; it counts");
                }
                return self.hand_back().await;
            }
        };
        ctx.metrics
            .duration
            .with_label_values(&[&task_type])
            .observe(started.elapsed().as_secs_f64());

        let failure = match outcome {
            Ok(Ok(Ok(result))) => {
                return self
                    .finish(
                        attempt,
                        FinalOutcome::Succeeded {
                            result: result.get(),
                        },
                    )
                    .await;
            }
            Ok(Ok(Err(error))) => AttemptFailure::Handler(error),
            Ok(Err(_elapsed)) => AttemptFailure::TimedOut(timeout),
            Err(panic) => AttemptFailure::Panicked(panic_message(panic.as_ref())),
        };
        ctx.metrics.errors.with_label_values(&[&task_type]).inc();
        let error = failure.describe();
        if failure.is_permanent() {
            tracing::warn!(error = %error, "attempt failed permanently");
            return self
                .finish(attempt, FinalOutcome::Failed { error: &error })
                .await;
        }
        if attempt >= max_attempts {
            tracing::warn!(error = %error, max_attempts, "last attempt failed; dead-lettering");
            return self.dead_letter(attempt, &error).await;
        }
        self.retry_later(attempt, &error).await
    }

    async fn retry_later(&self, attempt: u32, error: &str) {
        let ctx = self.ctx;
        if self
            .store_op(|| ctx.store.record_error(&self.id, error))
            .await
            .is_none()
        {
            return self.hand_back().await;
        }
        let delay = retry::delay(
            attempt,
            ctx.settings.worker.retry_base_delay,
            ctx.settings.worker.retry_max_delay,
        );
        tracing::info!(error = %error, retry_in_ms = delay.as_millis() as u64, "attempt failed; retrying later");
        ctx.metrics
            .retried
            .with_label_values(&[self.task_type()])
            .inc();
        if let Err(e) = self.message.ack_with(AckKind::Nak(Some(delay))).await {
            // Without the nak the task is redelivered after ack_wait instead: later
            // than planned, but not lost.
            tracing::warn!(error = %e, "nak not sent");
        }
    }

    async fn dead_letter(&self, attempts: u32, error: &str) {
        let ctx = self.ctx;
        let published = self
            .retry_until_handback(|| {
                dead_letter::publish(
                    &ctx.queue,
                    self.message,
                    &self.id,
                    self.task_type(),
                    self.sequence,
                    attempts,
                    error,
                )
            })
            .await;
        if published.is_none() {
            return self.hand_back().await;
        }
        ctx.metrics
            .dead_lettered
            .with_label_values(&[self.task_type()])
            .inc();
        self.finish(attempts, FinalOutcome::Dead { error }).await
    }

    async fn finish(&self, attempt: u32, outcome: FinalOutcome<'_>) {
        let ctx = self.ctx;
        let Some(changed) = self
            .store_op(|| ctx.store.finish(self.who(), &outcome))
            .await
        else {
            return self.hand_back().await;
        };
        let status = outcome.status().as_str();
        if changed {
            ctx.metrics
                .processed
                .with_label_values(&[self.task_type(), status])
                .inc();
            tracing::debug!(status, attempt, "task finished");
        }
        self.ack().await
    }

    async fn ack(&self) {
        if let Err(e) = self.message.ack().await {
            // The outcome is stored; a redelivery will find it and only ack.
            tracing::warn!(error = %e, "ack not sent; the task will be redelivered and acknowledged then");
        }
    }

    /// Returns the message for immediate redelivery (shutdown).
    async fn hand_back(&self) {
        if let Err(e) = self.message.ack_with(AckKind::Nak(None)).await {
            tracing::warn!(error = %e, "hand-back not sent; redelivery after ack_wait");
        }
    }

    /// Runs a Valkey operation until it succeeds. While Valkey is unreachable the task
    /// is held (progress acks keep it ours) rather than acked or burned as an attempt;
    /// `None` once the shutdown grace period is over.
    async fn store_op<T, F, Fut>(&self, op: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        let metrics = &self.ctx.metrics;
        self.retry_until_handback(|| async {
            op().await.inspect_err(|_| metrics.store_errors.inc())
        })
        .await
    }

    async fn retry_until_handback<T, E, F, Fut>(&self, op: F) -> Option<T>
    where
        E: std::fmt::Display,
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut delay = Duration::from_millis(50);
        loop {
            match op().await {
                Ok(value) => return Some(value),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "dependency unavailable; holding the task")
                }
            }
            tokio::select! {
                _ = self.ctx.handback.cancelled() => return None,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(2));
        }
    }
}

/// A message that is not a task: keep it for inspection and count it as dead,
/// once, under the id it carries or its stream sequence.
async fn dead_letter_malformed(
    ctx: &WorkerContext,
    message: &Message,
    sequence: u64,
    reason: String,
) {
    let id = message
        .headers
        .as_ref()
        .and_then(|h| h.get("Nats-Msg-Id"))
        .map(|v| v.as_str().to_string())
        .unwrap_or_else(|| format!("seq-{sequence}"));
    tracing::warn!(task_id = %id, subject = %message.subject, reason = %reason, "dead-lettering malformed message");
    let created_at = tasklane_core::task::now_rfc3339();
    let envelope = MalformedTask { id, created_at };
    let delivery = Delivery {
        ctx,
        message,
        envelope: &envelope.as_envelope(),
        id: envelope.id.clone(),
        delivered: 1,
        published_ms: now_millis(),
        sequence,
    };
    delivery.dead_letter(0, &reason).await;
}

struct MalformedTask {
    id: String,
    created_at: String,
}

impl MalformedTask {
    fn as_envelope(&self) -> TaskEnvelope {
        TaskEnvelope {
            id: tasklane_core::task::TaskId::new(),
            task_type: tasklane_core::task::TaskType::parse("malformed").expect("valid name"),
            payload: serde_json::value::RawValue::from_string("null".into()).expect("valid JSON"),
            max_attempts: Some(1),
            timeout_ms: None,
            created_at: self.created_at.clone(),
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
