//! Submission, for one task and for a batch alike, in one order:
//! validate → admit under the tenant's quota → fix the task id → claim the
//! idempotency key (scoped to the tenant) → publish → record `queued` → complete the
//! key with the answer, or let go of it when nothing was accepted.
//!
//! The task id is fixed before the publish and stored with the idempotency claim. A
//! publish whose outcome is unknown (no PubAck in time, a broken connection) keeps the
//! claim, and the client's retry with the same key resumes it: the same id is
//! published again and JetStream's duplicate window drops the copy, so the retry
//! answers with the one task. Only a publish that certainly stored nothing frees the
//! key. A batch's ids derive from its first one ([`TaskId::nth`]), so a retried batch
//! re-publishes the same ids too. Keys can be scoped (per tenant) in one place:
//! [`IdempotencyKey`].

mod answer;
mod idempotency;
mod publish;
mod quota;
mod redrive;
mod request;
mod start;

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use serde_json::value::RawValue;
use tasklane_core::config::LimitsSettings;
use tasklane_core::queue::Queue;
use tasklane_core::store::{Claim, PlannedTask, Store};
use tasklane_core::task::{TaskId, now_rfc3339};

pub(crate) use answer::{Accepted, Answer, Replay};
use answer::{Item, render_batch};
use idempotency::{Claimed, Claims};
pub use idempotency::{IdempotencyKey, canonical_json};
use publish::{Outgoing, Publisher};
pub(crate) use quota::Leases;
use quota::Quota;
pub(crate) use redrive::Redrive;
use request::ValidTask;
pub(crate) use request::{BatchRequest, Rules, TaskRequest};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::{Submission, parse_json_at};
use crate::headers::Origin;
use crate::metrics::IntakeMetrics;

/// Takes tasks in.
pub(crate) struct Intake {
    rules: Rules,
    quota: Quota,
    claims: Claims,
    publisher: Publisher,
    queue: Queue,
    store: Store,
    /// Dead tasks re-driven.
    redriven: prometheus::IntCounter,
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
    /// `request_timeout` bounds how long a key stays reserved for a request, the work
    /// stream's `duplicate_window` how long a key with an unknown publish outcome is
    /// kept for a retry (see [`Claims::new`]).
    pub(crate) fn new(
        queue: Queue,
        store: Store,
        rules: Rules,
        limits: &LimitsSettings,
        metrics: IntakeMetrics,
        request_timeout: Duration,
        duplicate_window: Duration,
    ) -> Self {
        Self {
            rules,
            quota: Quota::new(store.clone(), limits, metrics.leases.clone()),
            claims: Claims::new(
                store.clone(),
                request_timeout,
                duplicate_window,
                metrics.idempotent_replays.clone(),
            ),
            publisher: Publisher::new(queue.clone(), store.clone(), &metrics),
            queue,
            store,
            redriven: metrics.redriven,
        }
    }

    /// This gateway's admission leases, to give back when it stops.
    pub(crate) fn leases(&self) -> Leases {
        self.quota.leases()
    }

    /// Most tasks one batch or bulk re-drive may name (`api.max_batch`).
    pub(crate) fn max_batch(&self) -> usize {
        self.rules.max_batch()
    }

    /// `POST /task`.
    pub(crate) async fn submit_one(
        &self,
        principal: &Principal,
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
        self.quota
            .admit(principal, 1, origin.request_id.as_deref())
            .await?;
        let mut claim = match self
            .claim_header_key(
                &principal.tenant,
                idempotency_key.as_ref(),
                &raw,
                planned_now(),
            )
            .await?
        {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(replayed) => return Ok(replayed),
        };

        let task = Outgoing::new(
            task,
            &principal.tenant,
            &origin,
            &planned_by(claim.as_ref()),
        );
        if let Some(claim) = &mut claim {
            claim.publishing();
        }
        if let Err(unqueued) = self.publisher.enqueue(&task).await {
            let resumed = claim.as_ref().is_some_and(Claim::resumed);
            idempotency::let_go(claim, unqueued.not_stored).await;
            return Err(unqueued.answer(resumed));
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
        principal: &Principal,
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
        self.quota
            .admit(principal, items.len(), origin.request_id.as_deref())
            .await?;
        let mut batch_claim = match self
            .claim_header_key(
                &principal.tenant,
                idempotency_key.as_ref(),
                &raw,
                planned_now(),
            )
            .await?
        {
            ControlFlow::Continue(claim) => claim,
            ControlFlow::Break(replayed) => return Ok(replayed),
        };
        let first = planned_by(batch_claim.as_ref());
        let slots = match self
            .claim_items(items, &principal.tenant, &origin, &first)
            .await
        {
            Ok(slots) => slots,
            Err(error) => {
                idempotency::release(batch_claim).await;
                return Err(error);
            }
        };

        if let Some(claim) = &mut batch_claim {
            claim.publishing();
        }
        let (mut items, none_stored) = self.publish_items(slots).await;
        let answered = items.iter().filter(|item| item.is_answered()).count();
        let causes: Vec<_> = items.iter_mut().flat_map(Item::take_causes).collect();
        if answered == 0 {
            let resumed = batch_claim.as_ref().is_some_and(Claim::resumed);
            idempotency::let_go(batch_claim, none_stored).await;
            let error = if none_stored && !resumed {
                // Nothing was accepted: the first item's problem (queue-full, 413 or
                // queue-unavailable) says why, as it would for a single task.
                items
                    .into_iter()
                    .find_map(|item| match item {
                        Item::Failed(error) => Some(error),
                        _ => None,
                    })
                    .unwrap_or_else(ApiError::queue_unavailable)
            } else {
                ApiError::publish_unconfirmed()
            };
            return Err(causes.into_iter().fold(error, ApiError::caused_by));
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

    /// Claims the request's `Idempotency-Key` (checked against the raw body) for
    /// `fresh`, if it has one; breaks with the stored answer when the request was
    /// answered before.
    async fn claim_header_key(
        &self,
        tenant: &str,
        value: Option<&HeaderValue>,
        raw: &[u8],
        fresh: PlannedTask,
    ) -> Result<ControlFlow<Answer, Option<Claim>>, ApiError> {
        let Some(value) = value else {
            return Ok(ControlFlow::Continue(None));
        };
        let key = IdempotencyKey::from_header(value, raw)?;
        Ok(match self.claims.claim(tenant, &key, fresh).await? {
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
    /// Item `i` is planned as the `i`th id after `first`, unless its key resumes an
    /// earlier request's task.
    async fn claim_items(
        &self,
        items: Vec<(ValidTask, Option<IdempotencyKey>)>,
        tenant: &str,
        origin: &Origin,
        first: &PlannedTask,
    ) -> Result<Vec<Slot>, ApiError> {
        let mut slots = Vec::with_capacity(items.len());
        for (index, (task, key)) in items.into_iter().enumerate() {
            let planned = PlannedTask {
                id: first.id.nth(index as u64),
                created_at: first.created_at.clone(),
            };
            let claim = match key {
                None => None,
                Some(key) => match self.claims.claim(tenant, &key, planned.clone()).await {
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
            let planned = claim.as_ref().map_or(planned, |c| c.task().clone());
            slots.push(Slot::Fresh(
                Outgoing::new(task, tenant, origin, &planned),
                claim,
            ));
        }
        Ok(slots)
    }

    /// Publishes the fresh items and settles each item's key by its outcome. Also says
    /// whether every failed publish certainly stored nothing.
    async fn publish_items(&self, mut slots: Vec<Slot>) -> (Vec<Item>, bool) {
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
        let mut none_stored = true;
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
                        Err(unqueued) => {
                            let resumed = claim.as_ref().is_some_and(Claim::resumed);
                            none_stored &= unqueued.not_stored && !resumed;
                            idempotency::let_go(claim, unqueued.not_stored).await;
                            Item::Failed(unqueued.answer(resumed))
                        }
                    }
                }
            };
            items.push(item);
        }
        (items, none_stored)
    }
}

/// A new task id and creation time, fixed before anything is claimed or published.
fn planned_now() -> PlannedTask {
    PlannedTask {
        id: TaskId::new(),
        created_at: now_rfc3339(),
    }
}

/// The task the claim says to publish; without a key, a new one.
fn planned_by(claim: Option<&Claim>) -> PlannedTask {
    claim.map_or_else(planned_now, |claim| claim.task().clone())
}
