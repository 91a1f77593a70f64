//! Copies a task that will never succeed to the dead-letter stream, with why and how
//! often it was tried, so an operator can inspect and replay it.

use async_nats::HeaderMap;
use async_nats::jetstream::Message;
use tasklane_core::names::{dead_letter_subject, headers};
use tasklane_core::queue::{Queue, QueueError};
use tasklane_core::task::bounded_error;

pub async fn publish(
    queue: &Queue,
    message: &Message,
    id: &str,
    task_type: &str,
    sequence: u64,
    attempts: u32,
    error: &str,
) -> Result<(), QueueError> {
    let mut dead_headers = HeaderMap::new();
    if let Some(original) = &message.headers {
        for (name, values) in original.iter() {
            // JetStream's own headers describe the original publish, not this one.
            let name: &str = name.as_ref();
            if name.starts_with("Nats-") {
                continue;
            }
            for value in values {
                dead_headers.append(name, value.as_str());
            }
        }
    }
    dead_headers.insert(headers::TASK_ID, id);
    dead_headers.insert(headers::ERROR, header_safe(error).as_str());
    dead_headers.insert(headers::ATTEMPTS, attempts.to_string().as_str());
    dead_headers.insert(headers::ORIGINAL_SUBJECT, message.subject.as_str());
    dead_headers.insert(headers::ORIGINAL_SEQUENCE, sequence.to_string().as_str());
    // The task id as message id: a worker that dies between this publish and its ack
    // publishes again on redelivery, and JetStream drops the duplicate.
    queue
        .publish(
            dead_letter_subject(id, task_type),
            id,
            dead_headers,
            message.payload.clone(),
        )
        .await
}

fn header_safe(text: &str) -> String {
    bounded_error(
        text.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::header_safe;

    #[test]
    fn error_headers_are_single_line_and_bounded() {
        assert_eq!(header_safe("a\r\nb\tc"), "a  b c");
        let long = "é".repeat(2000);
        let clean = header_safe(&long);
        assert!(clean.len() <= 1024 && clean.trim_end_matches('…').chars().all(|c| c == 'é'));
    }
}
