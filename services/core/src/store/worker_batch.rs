//! The worker's writes of one batch, outcomes and attempt starts alike, in one
//! script call (`worker_batch.lua`).
//!
//! In a steady drain both kinds wait at the same moment: deliveries that finished
//! want their outcome written, new deliveries want their attempt counted. Sent as
//! two script calls they cost Valkey and the worker two round trips' fixed cost per
//! batch; carried together, one. Each kind's per-task logic is its own script's,
//! unchanged (`finish_many.lua`, then `start_attempt_many.lua`), so what any one
//! task sees is the same; a start that shares a call with the finish of the same
//! task (a redelivery racing its first run) finds it finished.

use fred::prelude::*;
use fred::types::scripts::Script;

use super::records::{self, AttemptRequest, AttemptStart, OutcomeRequest};

/// One delivery's write, waiting for its batch.
pub(crate) enum WorkerWrite {
    Start(AttemptRequest),
    Finish(OutcomeRequest),
}

/// The answer to a [`WorkerWrite`], of the same kind.
pub(crate) enum WorkerAnswer {
    Started(AttemptStart),
    /// Whether the outcome was written (false: the task already had one).
    Finished(bool),
}

/// One `worker_batch.lua` call for `requests`, answered in their order.
pub(crate) async fn write(
    client: Client,
    script: Script,
    ttl_ms: u64,
    requests: Vec<WorkerWrite>,
) -> Result<Vec<WorkerAnswer>, fred::error::Error> {
    let mut is_start = Vec::with_capacity(requests.len());
    let (mut starts, mut finishes) = (Vec::new(), Vec::new());
    for request in requests {
        match request {
            WorkerWrite::Start(start) => {
                is_start.push(true);
                starts.push(start);
            }
            WorkerWrite::Finish(finish) => {
                is_start.push(false);
                finishes.push(finish);
            }
        }
    }
    let (mut script_keys, finish_args) = records::outcome_call(ttl_ms, finishes);
    let (start_keys, start_args) = records::attempt_call(ttl_ms, starts);
    let mut args = Vec::with_capacity(2 + finish_args.len() + start_args.len());
    args.push(script_keys.len().to_string());
    args.push(finish_args.len().to_string());
    args.extend(finish_args);
    args.extend(start_args);
    script_keys.extend(start_keys);
    let reply: Vec<Value> = script
        .evalsha_with_reload(&client, script_keys, args)
        .await?;
    let mut parts = reply.into_iter();
    let finished: Vec<i64> = parts
        .next()
        .map(Value::convert)
        .transpose()?
        .unwrap_or_default();
    let started: Vec<String> = parts
        .next()
        .map(Value::convert)
        .transpose()?
        .unwrap_or_default();
    // A reply shorter than the batch leaves later requests unanswered, which the
    // group commit reports instead of mismatching answers.
    let (mut finished, mut started) = (finished.into_iter(), started.chunks(3));
    Ok(is_start
        .into_iter()
        .map_while(|start| match start {
            true => started
                .next()
                .map(|reply| WorkerAnswer::Started(records::parse_attempt_start(reply))),
            false => finished.next().map(|w| WorkerAnswer::Finished(w == 1)),
        })
        .collect())
}
