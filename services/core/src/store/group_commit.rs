//! Group commit: writes of one kind from many concurrent callers leave as one Valkey
//! script call per batch instead of one call each.
//!
//! Every call has a fixed cost in Valkey (parsing, script lookup, Lua entry, reply)
//! and in the client (a frame, a reply channel and a wake-up per command), on top of
//! the per-task work inside the script. Under load, dozens of deliveries want the same script at the
//! same moment; sending them together divides that fixed cost among them. Nothing
//! waits for a batch to fill: a write goes out as soon as a call slot is free, and
//! only the writes that queued up while every slot was busy travel together. At low
//! load that is a batch of one, exactly as before; each caller still gets its own
//! answer, and only after Valkey applied its write.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{Semaphore, mpsc, oneshot};

/// Why a request got no answer of its own.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CommitError<E> {
    /// The batch carrying the request failed; every request in it gets the error.
    #[error("the batched write failed")]
    Write(#[source] E),
    /// The write returned fewer or more answers than it was given requests, so no
    /// answer can be matched to its request.
    #[error("batched write answered {answered} of {requested} requests")]
    ShortAnswer { answered: usize, requested: usize },
    /// The sender task is gone (the runtime is shutting down).
    #[error("the batch writer stopped")]
    Stopped,
}

struct Pending<R, T, E> {
    request: R,
    reply: oneshot::Sender<Result<T, CommitError<E>>>,
}

/// A queue of writes of one kind and the task that sends them out in batches.
pub(crate) struct GroupCommit<R, T, E> {
    pending: mpsc::UnboundedSender<Pending<R, T, E>>,
}

impl<R, T, E> Clone for GroupCommit<R, T, E> {
    fn clone(&self) -> Self {
        Self {
            pending: self.pending.clone(),
        }
    }
}

impl<R, T, E> GroupCommit<R, T, E>
where
    R: Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
{
    /// Spawns the sender task on the current Tokio runtime. `write` gets up to
    /// `max_batch` requests and must answer each, in order; at most `max_in_flight`
    /// writes are outstanding at once. The task ends when the last handle is dropped.
    pub(crate) fn start<W, Fut>(max_batch: usize, max_in_flight: usize, write: W) -> Self
    where
        W: Fn(Vec<R>) -> Fut + Send + 'static,
        Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
    {
        let (pending, queue) = mpsc::unbounded_channel();
        tokio::spawn(send_batches(
            queue,
            max_batch.max(1),
            max_in_flight.max(1),
            write,
        ));
        Self { pending }
    }

    /// Queues `request` and waits until the batch carrying it was written.
    pub(crate) async fn submit(&self, request: R) -> Result<T, CommitError<E>> {
        let (reply, answer) = oneshot::channel();
        self.pending
            .send(Pending { request, reply })
            .map_err(|_| CommitError::Stopped)?;
        answer.await.map_err(|_| CommitError::Stopped)?
    }
}

async fn send_batches<R, T, E, W, Fut>(
    mut queue: mpsc::UnboundedReceiver<Pending<R, T, E>>,
    max_batch: usize,
    max_in_flight: usize,
    write: W,
) where
    R: Send + 'static,
    T: Send + 'static,
    E: Clone + Send + 'static,
    W: Fn(Vec<R>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, E>> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut batch = Vec::with_capacity(max_batch);
    while let Some(first) = queue.recv().await {
        // While every slot is busy, later writes queue up behind `first` and join it.
        let slot = slots
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        batch.push(first);
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (requests, replies): (Vec<R>, Vec<_>) = batch
            .drain(..)
            .map(|pending| (pending.request, pending.reply))
            .unzip();
        let written = write(requests);
        tokio::spawn(async move {
            answer_each(replies, written.await);
            drop(slot);
        });
    }
}

fn answer_each<T, E: Clone>(
    replies: Vec<oneshot::Sender<Result<T, CommitError<E>>>>,
    written: Result<Vec<T>, E>,
) {
    match written {
        Ok(answers) if answers.len() == replies.len() => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                // A caller that gave up no longer needs its answer.
                let _ = reply.send(Ok(answer));
            }
        }
        Ok(answers) => {
            let error = CommitError::ShortAnswer {
                answered: answers.len(),
                requested: replies.len(),
            };
            for reply in replies {
                let _ = reply.send(Err(error.clone()));
            }
        }
        Err(error) => {
            for reply in replies {
                let _ = reply.send(Err(CommitError::Write(error.clone())));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    // The single-threaded test runtime makes the order exact: every submit is queued
    // before the sender task first runs, and the first batch holds the only slot
    // until the test opens the gate.
    #[tokio::test]
    async fn writes_queued_behind_a_busy_slot_travel_together_and_each_gets_its_answer() {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let (release, released) = tokio::sync::watch::channel(false);
        let writing = Arc::new(tokio::sync::Notify::new());
        let (seen, started) = (batches.clone(), writing.clone());
        let group = GroupCommit::<_, _, ()>::start(8, 1, move |requests: Vec<u32>| {
            seen.lock().unwrap().push(requests.clone());
            started.notify_one();
            let mut released = released.clone();
            async move {
                let _ = released.wait_for(|open| *open).await;
                Ok(requests.into_iter().map(|r| r * 10).collect())
            }
        });
        let submits = futures::future::join_all((0..20u32).map(|r| group.submit(r)));
        let open_gate_once_writing = async {
            writing.notified().await;
            release.send(true).unwrap();
        };
        let (answers, ()) = tokio::join!(submits, open_gate_once_writing);
        for (r, answer) in answers.into_iter().enumerate() {
            assert_eq!(answer.unwrap(), r as u32 * 10);
        }
        let batches = batches.lock().unwrap();
        assert!(batches.iter().all(|b| b.len() <= 8), "{batches:?}");
        assert!(
            batches.len() < 20,
            "nothing was batched while the slot was busy: {batches:?}"
        );
        let mut all: Vec<u32> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..20).collect::<Vec<_>>());
        assert_eq!(
            *batches,
            vec![
                (0..8).collect::<Vec<_>>(),
                (8..16).collect(),
                (16..20).collect()
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_write_fails_every_request_of_its_batch_and_later_ones_still_go_out() {
        let group = GroupCommit::start(4, 1, |requests: Vec<u32>| async move {
            if requests.contains(&0) {
                Err("connection lost")
            } else {
                Ok(requests)
            }
        });
        assert_eq!(
            group.submit(0).await,
            Err(CommitError::Write("connection lost"))
        );
        assert_eq!(group.submit(7).await.unwrap(), 7);
    }

    #[tokio::test]
    async fn a_short_answer_is_an_error_not_a_mismatched_reply() {
        let group = GroupCommit::<_, _, ()>::start(4, 1, |_requests: Vec<u32>| async move {
            Ok(Vec::<u32>::new())
        });
        let error = group.submit(1).await.unwrap_err();
        assert!(error.to_string().contains("answered 0 of 1"), "{error}");
    }
}
