//! The JetStream objects tasklane runs on: the work stream, the schedule stream, the
//! dead-letter stream, and the durable consumer the workers share.
//!
//! Delayed tasks wait in a stream of their own (`<work>_SCHEDULED`, subjects
//! `schedules.>` and `due.>`), because nats-server allows message schedules only in a
//! stream that discards old messages when full, and the work stream must refuse new
//! tasks instead (`discard: new`). At its time a schedule becomes a message on
//! `due.<type>`, which the work stream sources as `tasks.<type>`: the server moves it,
//! and retries while the work stream is full, so a due task is never dropped. No
//! consumer reads the schedule stream, so waiting tasks hold no ack-pending slot.
//!
//! Only the worker declares them (or, where the runtime users have no management
//! rights, `tasklane-worker --declare-topology` run once as a setup identity; the
//! runtime worker then only [`verify`]s them). The consumer's `ack_wait` is the worker's fact (it
//! sends progress acks every third of it), and the dead-letter stream is the worker's
//! to write; with one declaring side there is no second copy of those settings that
//! could overwrite the first. The gateway only checks that the work stream exists and
//! reports not-ready until it does.

use std::fmt::Debug;
use std::time::Duration;

use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind};
use async_nats::jetstream::{self, ErrorCode, consumer, stream};

use super::error::QueueError;
use crate::config::Settings;
use crate::names::{
    self, CONSUMER_NAME, DEAD_LETTER_SUBJECT_PREFIX, DUE_SUBJECT_PREFIX, SCHEDULE_SUBJECT_PREFIX,
    TASK_SUBJECT_PREFIX,
};

/// Upper bound on unacknowledged messages across all workers. Tasks waiting for a
/// delayed retry count against it, so it must be far above the total concurrency or
/// a burst of failing tasks would stall healthy ones.
const CONSUMER_MAX_ACK_PENDING: i64 = 100_000;

/// How long the schedule stream keeps a message: longer than the furthest a task may
/// be delayed (30 days), so no schedule ages out before it fires. A due copy, once
/// the work stream has it, is only kept until then.
const SCHEDULE_MAX_AGE: Duration = Duration::from_secs(31 * 24 * 3600);

/// The streams and the consumer, as configured.
#[derive(Debug, Clone)]
pub struct Topology {
    work: stream::Config,
    schedules: stream::Config,
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
            sources: Some(vec![stream::Source {
                name: stream.schedule_name(),
                subject_transforms: vec![stream::SubjectTransform {
                    source: names::all_subjects(DUE_SUBJECT_PREFIX),
                    destination: names::all_subjects(TASK_SUBJECT_PREFIX),
                }],
                ..Default::default()
            }]),
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
        let schedules = stream::Config {
            name: stream.schedule_name(),
            subjects: vec![
                names::all_subjects(SCHEDULE_SUBJECT_PREFIX),
                names::all_subjects(DUE_SUBJECT_PREFIX),
            ],
            allow_message_schedules: true,
            // The server turns these on with schedules; declared so that a later
            // update does not read as a change.
            allow_rollup: true,
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: stream.replicas,
            duplicate_window: stream.duplicate_window,
            max_age: SCHEDULE_MAX_AGE,
            description: Some("tasklane delayed tasks".into()),
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
            schedules,
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

/// Creates or updates the streams and the consumer so they match `topology`; a work
/// stream of an older release gains its source in place, keeping its messages. Safe
/// to run from any number of replicas at once.
pub(crate) async fn declare(
    js: &jetstream::Context,
    topology: &Topology,
) -> Result<(), QueueError> {
    // The schedule stream first, so the work stream's source exists when it is added.
    for config in [&topology.schedules, &topology.work, &topology.dead_letters] {
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

/// Checks that the streams and the consumer exist with the settings `topology`
/// describes, without changing anything: what a worker whose NATS user may not
/// manage streams does on start. The error names what is missing or which settings
/// differ.
pub(crate) async fn verify(js: &jetstream::Context, topology: &Topology) -> Result<(), QueueError> {
    let mut work = None;
    for expected in [&topology.work, &topology.schedules, &topology.dead_letters] {
        let stream = match js.get_stream(&expected.name).await {
            Ok(stream) => stream,
            Err(error) => match error.kind() {
                GetStreamErrorKind::JetStream(e)
                    if e.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    return Err(QueueError::TopologyMissing(format!(
                        "stream {}",
                        expected.name
                    )));
                }
                _ => {
                    return Err(QueueError::GetStream {
                        stream: expected.name.clone(),
                        source: error,
                    });
                }
            },
        };
        let differences = stream_differences(&stream.cached_info().config, expected);
        if !differences.is_empty() {
            return Err(QueueError::TopologyDiffers {
                what: format!("stream {}", expected.name),
                differences: differences.join(", "),
            });
        }
        work.get_or_insert(stream);
    }
    let work = work.expect("the work stream was read first");
    let actual = match work.consumer_info(CONSUMER_NAME).await {
        Ok(info) => info.config.clone(),
        Err(error) if error.kind() == ConsumerInfoErrorKind::NotFound => {
            return Err(QueueError::TopologyMissing(format!(
                "consumer {CONSUMER_NAME} of stream {}",
                topology.work.name
            )));
        }
        Err(error) => {
            return Err(QueueError::GetConsumer {
                consumer: CONSUMER_NAME,
                source: error.into(),
            });
        }
    };
    let differences = consumer_differences(&actual, &topology.consumer);
    if differences.is_empty() {
        Ok(())
    } else {
        Err(QueueError::TopologyDiffers {
            what: format!("consumer {CONSUMER_NAME} of stream {}", topology.work.name),
            differences: differences.join(", "),
        })
    }
}

/// The settings tasklane declares that `actual` has otherwise, as
/// `field is actual, configured expected`.
fn stream_differences(actual: &stream::Config, expected: &stream::Config) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = Differences(&mut found);
    check.field("subjects", &actual.subjects, &expected.subjects);
    check.field("retention", &actual.retention, &expected.retention);
    check.field("storage", &actual.storage, &expected.storage);
    check.field("num_replicas", &actual.num_replicas, &expected.num_replicas);
    check.field(
        "duplicate_window",
        &actual.duplicate_window,
        &expected.duplicate_window,
    );
    check.field(
        "max_bytes",
        &limit(actual.max_bytes),
        &limit(expected.max_bytes),
    );
    check.field(
        "max_messages",
        &limit(actual.max_messages),
        &limit(expected.max_messages),
    );
    check.field("max_age", &actual.max_age, &expected.max_age);
    check.field("discard", &actual.discard, &expected.discard);
    check.field(
        "allow_msg_schedules",
        &actual.allow_message_schedules,
        &expected.allow_message_schedules,
    );
    check.field(
        "sources",
        &source_transforms(actual),
        &source_transforms(expected),
    );
    found
}

fn consumer_differences(
    actual: &consumer::Config,
    expected: &consumer::pull::Config,
) -> Vec<String> {
    let mut found = Vec::new();
    let mut check = Differences(&mut found);
    check.field("ack_policy", &actual.ack_policy, &expected.ack_policy);
    check.field("ack_wait", &actual.ack_wait, &expected.ack_wait);
    check.field("max_deliver", &actual.max_deliver, &expected.max_deliver);
    check.field(
        "max_ack_pending",
        &actual.max_ack_pending,
        &expected.max_ack_pending,
    );
    check.field(
        "filter_subject",
        &actual.filter_subject,
        &expected.filter_subject,
    );
    found
}

/// A stream's sources as `name: from > to` (what tasklane sets of them), in order.
fn source_transforms(config: &stream::Config) -> Vec<String> {
    let sources = config.sources.iter().flatten();
    sources
        .map(|source| {
            let transforms: Vec<String> = source
                .subject_transforms
                .iter()
                .map(|t| format!("{} > {}", t.source, t.destination))
                .collect();
            format!("{}: {}", source.name, transforms.join(", "))
        })
        .collect()
}

/// JetStream reports an unset limit (0 in a config) as -1.
fn limit(value: i64) -> i64 {
    if value <= 0 { -1 } else { value }
}

struct Differences<'a>(&'a mut Vec<String>);

impl Differences<'_> {
    fn field<T: PartialEq + Debug>(&mut self, name: &str, actual: &T, expected: &T) {
        if actual != expected {
            self.0
                .push(format!("{name} is {actual:?}, configured {expected:?}"));
        }
    }
}
