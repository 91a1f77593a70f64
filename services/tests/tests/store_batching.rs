//! The store's per-task writes share script calls under load (group commit). Many
//! concurrent callers, duplicates among them, must each get their own answer and
//! leave exactly the records and counters that one call per task would.

use std::sync::Arc;

use futures::future::join_all;
use tasklane_core::store::{AttemptStart, Counters, FinalOutcome, RecordIdentity, Store};
use tasklane_core::task::{TaskId, TaskStatus, now_millis};
use tasklane_testkit::Stack;

const TASKS: usize = 300;
/// Tasks whose attempt is started twice at the same moment (a redelivery racing the
/// first delivery): both starts count.
const RACED: usize = 20;

struct Task {
    id: String,
    created_at: String,
}

impl Task {
    fn who(&self) -> RecordIdentity<'_> {
        RecordIdentity {
            id: &self.id,
            task_type: "echo",
            created_at: &self.created_at,
            tenant: "default",
        }
    }
}

fn outcome_of(index: usize) -> FinalOutcome<'static> {
    match index % 3 {
        0 => FinalOutcome::Succeeded {
            result: r#"{"ok":true}"#,
        },
        1 => FinalOutcome::Failed { error: "bad input" },
        _ => FinalOutcome::Dead {
            error: "out of attempts",
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_batched_writes_answer_each_caller_and_count_each_task_once() {
    let stack = Stack::start();
    let settings = stack.settings(&[]);
    let store = Arc::new(Store::connect(&settings.valkey, settings.results.ttl).unwrap());
    let tasks: Vec<Task> = (0..TASKS)
        .map(|_| Task {
            id: TaskId::new().to_string(),
            created_at: tasklane_core::task::now_rfc3339(),
        })
        .collect();

    // The last ten never get a `queued` record: a worker that writes first creates it.
    let queued = join_all(
        tasks[..TASKS - 10]
            .iter()
            .map(|task| store.record_queued(task.who())),
    )
    .await;
    assert!(queued.iter().all(Result::is_ok));

    let starts = join_all(
        tasks
            .iter()
            .chain(&tasks[..RACED])
            .map(|task| store.start_attempt(task.who(), 2, 1, now_millis())),
    )
    .await;
    let mut started: Vec<u32> = starts
        .into_iter()
        .map(|start| match start.unwrap() {
            AttemptStart::Started { attempt } => attempt,
            other => panic!("expected a started attempt, got {other:?}"),
        })
        .collect();
    started.sort_unstable();
    assert_eq!(started.iter().filter(|&&a| a == 1).count(), TASKS);
    assert_eq!(started.iter().filter(|&&a| a == 2).count(), RACED);

    // Both allowed attempts of the raced tasks are used up.
    for start in join_all(
        tasks[..RACED]
            .iter()
            .map(|t| store.start_attempt(t.who(), 2, 1, now_millis())),
    )
    .await
    {
        assert_eq!(
            start.unwrap(),
            AttemptStart::Exhausted {
                attempts: 2,
                last_error: None
            }
        );
    }

    // Every fifth task already has its outcome, so the answers inside any batch of
    // the concurrent wave below differ from one request to the next: an answer
    // handed to the wrong caller cannot go unnoticed.
    let outcomes: Vec<FinalOutcome<'static>> = (0..TASKS).map(outcome_of).collect();
    let finished_before = |index: usize| index.is_multiple_of(5);
    for (index, task) in tasks
        .iter()
        .enumerate()
        .filter(|(i, _)| finished_before(*i))
    {
        assert!(store.finish(task.who(), &outcomes[index], 1).await.unwrap());
    }
    // Then every outcome is written twice at once: exactly one of each pair changes
    // anything, and neither does for a task that was already finished.
    let writes = join_all(
        tasks
            .iter()
            .zip(&outcomes)
            .chain(tasks.iter().zip(&outcomes))
            .map(|(task, outcome)| store.finish(task.who(), outcome, 1)),
    )
    .await;
    let (first, second) = writes.split_at(TASKS);
    for (index, (a, b)) in first.iter().zip(second).enumerate() {
        let (a, b) = (*a.as_ref().unwrap(), *b.as_ref().unwrap());
        if finished_before(index) {
            assert!(
                !a && !b,
                "task {index} was finished already, yet written {a} / {b}"
            );
        } else {
            assert!(a ^ b, "task {index}: the outcome was written {a} / {b}");
        }
    }
    let by_status = |status: TaskStatus| {
        outcomes
            .iter()
            .filter(|outcome| outcome.status() == status)
            .count() as u64
    };
    assert_eq!(
        store.counters().await.unwrap(),
        Counters {
            processed: TASKS as u64,
            succeeded: by_status(TaskStatus::Succeeded),
            failed: by_status(TaskStatus::Failed),
            dead: by_status(TaskStatus::Dead),
            cancelled: 0,
        }
    );

    for (index, task) in tasks.iter().enumerate() {
        let id: TaskId = task.id.parse().unwrap();
        let record = store.get_task(&id).await.unwrap().expect("record exists");
        assert_eq!(record.status, outcomes[index].status(), "task {index}");
        assert_eq!(record.task_type, "echo");
        assert_eq!(record.created_at, task.created_at);
        let expected_attempts = if index < RACED { 2 } else { 1 };
        assert_eq!(record.attempts, expected_attempts, "task {index}");
        match outcomes[index] {
            FinalOutcome::Succeeded { result } => {
                assert_eq!(record.result.as_deref(), Some(result));
                assert_eq!(record.error, None);
            }
            FinalOutcome::Failed { error } | FinalOutcome::Dead { error } => {
                assert_eq!(record.error.as_deref(), Some(error));
                assert_eq!(record.result, None);
            }
        }
    }

    // A finished task's late delivery finds its outcome, not a new attempt.
    assert_eq!(
        store
            .start_attempt(tasks[0].who(), 5, 1, now_millis())
            .await
            .unwrap(),
        AttemptStart::AlreadyFinished(TaskStatus::Succeeded)
    );
}
