//! Submission, for one task and for a batch alike, in one order:
//! validate → claim the idempotency key → publish → record `queued` → complete the
//! key with the answer, or release it when nothing was accepted.
//!
//! The task id is fixed before the publish ([`publish::Outgoing`]) and every key is
//! held through a claim that knows whether a publish may be in flight, so that a
//! retry after an unknown publish outcome can later re-publish the same id, and so
//! that keys can be scoped (per tenant) in one place: [`IdempotencyKey`].

mod answer;
mod idempotency;
mod publish;
mod request;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use serde_json::value::RawValue;
use tasklane_core::queue::Queue;
use tasklane_core::store::{Claim, Store};

pub(crate) use answer::{Accepted, Answer, Replay};
use answer::{Item, render_batch};
use idempotency::{Claimed, Claims};
pub use idempotency::{IdempotencyKey, canonical_json};
use publish::{Outgoing, Publisher};
use request::ValidTask;
pub(crate) use request::{BatchRequest, Rules, TaskRequest};

use crate::error::ApiError;
use crate::extract::{Submission, parse_json_at};
use crate::headers::Origin;
use crate::metrics::IntakeMetrics;

/// Takes tasks in.
pub(crate) struct Intake {
    rules: Rules,
    claims: Claims,
    publisher: Publisher,
}

/// A batch item after its key was claimed.
// Nearly every item is fresh; boxing them would add an allocation per task to make
// the rare replayed ones smaller.
#[allow(clippy::large_enum_variant)]
enum Slot {
    Replayed(String),
    Fresh(Outgoing, Option<Claim>),
}

impl Intake {
    /// Intake publishing to `queue`, keeping records and keys in `store`.
    /// `request_timeout` bounds how long a key stays reserved for a request.
    pub(crate) fn new(
        queue: Queue,
        store: Store,
        rules: Rules,
        metrics: IntakeMetrics,
        request_timeout: Duration,
    ) -> Self {
        Self {
            rules,
            claims: Claims::new(store.clone(), request_timeout, metrics.idempotent_replays),
            publisher: Publisher::new(queue, store, metrics.submitted, metrics.publish_errors),
        }
    }

    /// `POST /task`.
    pub(crate) async fn submit_one(
        &self,
        submission: Submission<TaskRequest>,
    ) -> Result<Answer, ApiError> {
        let Submission {
            body: mut request,
            raw,
            idempotency_key,
            origin,
            reserved: _body_bytes_held_until_answered,
        } = submission;
        if request.idempotency_key.take().is_some() {
            return Err(ApiError::validation(
                "idempotency_key: not allowed on POST /task; send the Idempotency-Key header",
            ));
        }
        let task = request.validate("", &self.rules)?;
        let mut claim = match self
            .claim_header_key(idempotency_key.as_ref(), &raw)
            .await?
        {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(replayed) => return Ok(replayed),
        };

        let task = Outgoing::new(task, &origin);
        if let Some(claim) = &mut claim {
            claim.publishing();
        }
        if let Err(error) = self.publisher.enqueue(&task).await {
            idempotency::release(claim).await;
            return Err(error);
        }
        let accepted = Accepted::queued(task.id);
        idempotency::complete(claim, StatusCode::ACCEPTED, &accepted.body()).await;
        tracing::debug!(task_id = %task.id, task_type = %task.task_type, "task accepted");
        Ok(Answer::Accepted(accepted))
    }

    /// `POST /tasks`: every item is validated before anything is claimed or
    /// published; item keys are claimed all or nothing; publishes run concurrently.
    pub(crate) async fn submit_many(
        &self,
        submission: Submission<BatchRequest>,
    ) -> Result<Answer, ApiError> {
        let Submission {
            body: batch,
            raw,
            idempotency_key,
            origin,
            reserved: _body_bytes_held_until_answered,
        } = submission;
        self.rules.check_batch_size(batch.tasks.len())?;
        let items = self.validate_items(&batch.tasks)?;
        let mut batch_claim = match self
            .claim_header_key(idempotency_key.as_ref(), &raw)
            .await?
        {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(replayed) => return Ok(replayed),
        };
        let slots = match self.claim_items(items, &origin).await {
            Ok(slots) => slots,
            Err(error) => {
                idempotency::release(batch_claim).await;
                return Err(error);
            }
        };

        if let Some(claim) = &mut batch_claim {
            claim.publishing();
        }
        let mut items = self.publish_items(slots).await;
        let answered = items.iter().filter(|item| item.is_answered()).count();
        let causes: Vec<_> = items.iter_mut().flat_map(Item::take_causes).collect();
        if answered == 0 {
            idempotency::release(batch_claim).await;
            // Nothing was accepted: the first item's problem (queue-full, 413 or
            // queue-unavailable) says why, as it would for a single task.
            let first = items.into_iter().find_map(|item| match item {
                Item::Failed(error) => Some(error),
                _ => None,
            });
            return Err(causes.into_iter().fold(
                first.unwrap_or_else(ApiError::queue_unavailable),
                ApiError::caused_by,
            ));
        }
        let status = if answered == items.len() {
            StatusCode::ACCEPTED
        } else {
            StatusCode::MULTI_STATUS
        };
        let body = render_batch(&items);
        idempotency::complete(batch_claim, status, &body).await;
        Ok(Answer::Batch {
            status,
            body,
            causes,
        })
    }

    /// Claims the request's `Idempotency-Key` (checked against the raw body), if it
    /// has one; breaks with the stored answer when the request was answered before.
    async fn claim_header_key(
        &self,
        value: Option<&HeaderValue>,
        raw: &[u8],
    ) -> Result<ControlFlow<Answer, Option<Claim>>, ApiError> {
        let Some(value) = value else {
            return Ok(ControlFlow::Continue(None));
        };
        let key = IdempotencyKey::from_header(value, raw)?;
        Ok(match self.claims.claim(&key).await? {
            Claimed::Fresh(claim) => ControlFlow::Continue(Some(claim)),
            Claimed::Replay(replay) => ControlFlow::Break(Answer::Replayed(replay)),
        })
    }

    /// Parses and validates each item; any invalid item rejects the whole batch.
    fn validate_items(
        &self,
        items: &[Box<RawValue>],
    ) -> Result<Vec<(ValidTask, Option<IdempotencyKey>)>, ApiError> {
        let mut seen_keys = HashSet::new();
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let at = format!("tasks[{index}]");
                let raw = item.get().as_bytes();
                let mut request: TaskRequest = parse_json_at(raw, &at)?;
                let key = request.idempotency_key.take();
                let task = request.validate(&format!("{at}."), &self.rules)?;
                let Some(key) = key else {
                    return Ok((task, None));
                };
                let field = format!("{at}.idempotency_key");
                let key = IdempotencyKey::parse(&key, &field, &canonical_json(raw))?;
                if !seen_keys.insert(key.key.clone()) {
                    return Err(ApiError::validation(format!(
                        "{field}: the same key appears twice in this batch"
                    )));
                }
                Ok((task, Some(key)))
            })
            .collect()
    }

    /// Claims the item keys, all or nothing: when one cannot be claimed, the ones
    /// claimed so far are released before the error (naming the item) is returned.
    async fn claim_items(
        &self,
        items: Vec<(ValidTask, Option<IdempotencyKey>)>,
        origin: &Origin,
    ) -> Result<Vec<Slot>, ApiError> {
        let mut slots = Vec::with_capacity(items.len());
        for (index, (task, key)) in items.into_iter().enumerate() {
            let claim = match key {
                None => None,
                Some(key) => match self.claims.claim(&key).await {
                    Ok(Claimed::Fresh(claim)) => Some(claim),
                    Ok(Claimed::Replay(replay)) => {
                        slots.push(Slot::Replayed(replay.body));
                        continue;
                    }
                    Err(error) => {
                        for slot in slots {
                            if let Slot::Fresh(_, claim) = slot {
                                idempotency::release(claim).await;
                            }
                        }
                        return Err(error.at(&format!("tasks[{index}]")));
                    }
                },
            };
            slots.push(Slot::Fresh(Outgoing::new(task, origin), claim));
        }
        Ok(slots)
    }

    /// Publishes the fresh items and settles each item's key by its outcome.
    async fn publish_items(&self, mut slots: Vec<Slot>) -> Vec<Item> {
        for slot in &mut slots {
            if let Slot::Fresh(_, Some(claim)) = slot {
                claim.publishing();
            }
        }
        let fresh: Vec<&Outgoing> = slots
            .iter()
            .filter_map(|slot| match slot {
                Slot::Fresh(task, _) => Some(task),
                Slot::Replayed(_) => None,
            })
            .collect();
        let mut outcomes = self.publisher.enqueue_many(&fresh).await.into_iter();
        let mut items = Vec::with_capacity(slots.len());
        for slot in slots {
            let item = match slot {
                Slot::Replayed(body) => Item::replayed(body),
                Slot::Fresh(task, claim) => {
                    let outcome = outcomes.next().expect("one outcome per fresh item");
                    match outcome {
                        Ok(()) => {
                            let accepted = Accepted::queued(task.id);
                            // Rendered on its own only to be stored under the item's key.
                            if claim.is_some() {
                                let body = accepted.body();
                                idempotency::complete(claim, StatusCode::ACCEPTED, &body).await;
                            }
                            Item::Accepted(accepted)
                        }
                        Err(error) => {
                            idempotency::release(claim).await;
                            Item::Failed(error)
                        }
                    }
                }
            };
            items.push(item);
        }
        items
    }
}
