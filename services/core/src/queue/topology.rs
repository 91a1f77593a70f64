//! The JetStream objects tasklane runs on: the work stream, the dead-letter stream,
//! and the durable consumer the workers share.
//!
//! Only the worker declares them. The consumer's `ack_wait` is the worker's fact (it
//! sends progress acks every third of it), and the dead-letter stream is the worker's
//! to write; with one declaring side there is no second copy of those settings that
//! could overwrite the first. The gateway only checks that the work stream exists and
//! reports not-ready until it does.

use async_nats::jetstream::{self, consumer, stream};

use super::error::QueueError;
use crate::config::Settings;
use crate::names::{self, CONSUMER_NAME, DEAD_LETTER_SUBJECT_PREFIX, TASK_SUBJECT_PREFIX};

/// Upper bound on unacknowledged messages across all workers. Tasks waiting for a
/// delayed retry count against it, so it must be far above the total concurrency or
/// a burst of failing tasks would stall healthy ones.
const CONSUMER_MAX_ACK_PENDING: i64 = 100_000;

/// The streams and the consumer, as configured.
#[derive(Debug, Clone)]
pub struct Topology {
    work: stream::Config,
    dead_letters: stream::Config,
    consumer: consumer::pull::Config,
}

impl Topology {
    /// The topology `settings` describe (`stream.*`, `dlq.*` and `worker.ack_wait`).
    pub fn new(settings: &Settings) -> Self {
        let stream = &settings.stream;
        let work = stream::Config {
            name: stream.name.clone(),
            subjects: vec![names::all_subjects(TASK_SUBJECT_PREFIX)],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: stream.replicas,
            duplicate_window: stream.duplicate_window,
            max_bytes: unlimited_if_zero(stream.max_bytes),
            max_messages: unlimited_if_zero(stream.max_msgs),
            // A full work queue refuses new tasks (the gateway answers 503
            // `/queue-full`); the default, discarding the oldest, would silently drop
            // tasks that were already accepted.
            discard: stream::DiscardPolicy::New,
            description: Some("tasklane work queue".into()),
            ..Default::default()
        };
        let dead_letters = stream::Config {
            name: stream.dead_letter_name(),
            subjects: vec![names::all_subjects(DEAD_LETTER_SUBJECT_PREFIX)],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: stream.replicas,
            duplicate_window: stream.duplicate_window,
            max_age: settings.dlq.max_age,
            max_bytes: unlimited_if_zero(settings.dlq.max_bytes),
            // When full, the worker's dead-letter publish is refused and the task is
            // held and retried, so no dead letter is dropped to make room.
            discard: stream::DiscardPolicy::New,
            description: Some("tasklane dead letters".into()),
            ..Default::default()
        };
        let consumer = consumer::pull::Config {
            durable_name: Some(CONSUMER_NAME.to_string()),
            description: Some("tasklane workers".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: settings.worker.ack_wait,
            // Attempts are counted in Valkey, where a crash mid-attempt still counts;
            // the worker dead-letters from there, so the server must never drop a
            // message on its own.
            max_deliver: -1,
            max_ack_pending: CONSUMER_MAX_ACK_PENDING,
            filter_subject: names::all_subjects(TASK_SUBJECT_PREFIX),
            ..Default::default()
        };
        Self {
            work,
            dead_letters,
            consumer,
        }
    }
}

/// JetStream's "no limit" is -1; the configuration says 0.
fn unlimited_if_zero(limit: u64) -> i64 {
    match limit {
        0 => -1,
        n => i64::try_from(n).unwrap_or(i64::MAX),
    }
}

/// Creates or updates both streams and the consumer so they match `topology`. Safe
/// to run from any number of replicas at once.
pub(crate) async fn declare(
    js: &jetstream::Context,
    topology: &Topology,
) -> Result<(), QueueError> {
    for config in [&topology.work, &topology.dead_letters] {
        js.create_or_update_stream(config.clone())
            .await
            .map_err(|source| QueueError::DeclareStream {
                stream: config.name.clone(),
                source,
            })?;
    }
    let work =
        js.get_stream(&topology.work.name)
            .await
            .map_err(|source| QueueError::GetStream {
                stream: topology.work.name.clone(),
                source,
            })?;
    work.create_consumer(topology.consumer.clone())
        .await
        .map_err(|source| QueueError::DeclareConsumer {
            consumer: CONSUMER_NAME,
            source,
        })?;
    Ok(())
}
