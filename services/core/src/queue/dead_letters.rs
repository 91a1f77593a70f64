//! Reading the dead-letter stream: one message at a time through JetStream's
//! message-get API (`$JS.API.STREAM.MSG.GET.<stream>_DLQ`, the one request the
//! gateway's NATS user may send about that stream), by stream sequence and subject
//! filter. The stream sequence only grows, so it is a cursor that visits every dead
//! letter once, also while new ones arrive behind it.

use std::time::{Duration, UNIX_EPOCH};

use async_nats::jetstream::message::StreamMessage;
use async_nats::jetstream::stream::RawMessageErrorKind;
use bytes::Bytes;

use super::{BoxError, Queue, QueueError};
use crate::names::{self, DEAD_LETTER_SUBJECT_PREFIX, TASK_SUBJECT_PREFIX, headers};
use crate::task::{TaskId, TaskType};
use crate::tenant::{DEFAULT_TENANT, is_valid_tenant};

/// Which dead letters to read.
#[derive(Debug, Clone, Copy)]
pub enum DeadLetterFilter<'a> {
    /// Every one.
    All,
    /// Task `id`'s.
    Task(&'a TaskId),
    /// Those of one task type.
    Type(&'a TaskType),
}

impl DeadLetterFilter<'_> {
    fn subject(&self) -> String {
        let prefix = DEAD_LETTER_SUBJECT_PREFIX;
        match self {
            Self::All => format!("{prefix}.>"),
            Self::Task(id) => format!("{prefix}.{id}.>"),
            Self::Type(task_type) => format!("{prefix}.*.{task_type}"),
        }
    }
}

/// One dead letter: the original task message and why it died.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Its sequence in the dead-letter stream.
    pub sequence: u64,
    /// The task id (a malformed message's own id, which may be no task id).
    pub id: String,
    /// The type of the task, from the subject it was published to.
    pub task_type: String,
    /// The tenant the task belonged to.
    pub tenant: String,
    /// Why it died.
    pub error: String,
    /// Attempts started.
    pub attempts: u32,
    /// When it was dead-lettered (RFC 3339 UTC, milliseconds).
    pub dead_at: String,
    /// The original message body (a task envelope, unless the message was malformed).
    pub body: Bytes,
}

impl DeadLetter {
    fn from_message(message: StreamMessage) -> Self {
        let header = |name: &str| {
            message
                .headers
                .get(name)
                .map(|value| value.as_str().to_string())
        };
        let original_subject = header(headers::ORIGINAL_SUBJECT).unwrap_or_default();
        let task_type = original_subject
            .strip_prefix(TASK_SUBJECT_PREFIX)
            .and_then(|rest| rest.strip_prefix('.'))
            .unwrap_or(&original_subject)
            .to_string();
        let nanos = message.time.unix_timestamp_nanos().max(0) as u64;
        let dead_at = UNIX_EPOCH + Duration::from_nanos(nanos);
        Self {
            sequence: message.sequence,
            id: header(headers::TASK_ID).unwrap_or_default(),
            task_type,
            tenant: header(headers::TENANT)
                .filter(|tenant| is_valid_tenant(tenant))
                .unwrap_or_else(|| DEFAULT_TENANT.to_string()),
            error: header(headers::ERROR).unwrap_or_default(),
            attempts: header(headers::ATTEMPTS)
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            dead_at: humantime::format_rfc3339_millis(dead_at).to_string(),
            body: message.payload,
        }
    }
}

impl Queue {
    /// The first dead letter matching `filter` at or after stream sequence `from`;
    /// `None` when there is none (yet).
    pub async fn dead_letter_from(
        &self,
        from: u64,
        filter: DeadLetterFilter<'_>,
    ) -> Result<Option<DeadLetter>, QueueError> {
        let stream = self
            .js
            .get_stream_no_info(names::dead_letter_stream(&self.stream_name))
            .await
            .map_err(|e| QueueError::DeadLetters(Box::new(e)))?;
        let found = stream
            .raw_message_builder()
            .sequence(from.max(1))
            .next_by_subject(filter.subject())
            .send()
            .await;
        match found {
            Ok(message) => Ok(Some(DeadLetter::from_message(message))),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(QueueError::DeadLetters(Box::new(e) as BoxError)),
        }
    }

    /// Up to `limit` dead letters matching `filter`, oldest first, starting at stream
    /// sequence `from`.
    pub async fn dead_letters(
        &self,
        from: u64,
        limit: usize,
        filter: DeadLetterFilter<'_>,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let mut found = Vec::with_capacity(limit.min(1024));
        let mut next = from.max(1);
        while found.len() < limit {
            let Some(letter) = self.dead_letter_from(next, filter).await? else {
                break;
            };
            next = letter.sequence + 1;
            found.push(letter);
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_select_by_the_subject_layout_the_worker_writes() {
        let id: TaskId = "0192f0c8-7a7b-7c3e-8f00-000000000001".parse().unwrap();
        let task_type = TaskType::parse("img.resize").unwrap();
        let written = names::dead_letter_subject(&id.to_string(), task_type.as_str());
        assert_eq!(
            written,
            "dlq.0192f0c8-7a7b-7c3e-8f00-000000000001.img.resize"
        );
        assert_eq!(
            DeadLetterFilter::Task(&id).subject(),
            "dlq.0192f0c8-7a7b-7c3e-8f00-000000000001.>"
        );
        assert_eq!(
            DeadLetterFilter::Type(&task_type).subject(),
            "dlq.*.img.resize"
        );
        assert_eq!(DeadLetterFilter::All.subject(), "dlq.>");
        // A malformed message's id may hold any character: it is not put in a subject.
        assert_eq!(
            names::dead_letter_subject("a.b *", "malformed"),
            "dlq.malformed"
        );
    }
}
