//! A task that runs until told to stop, and stops when dropped too, so an error
//! half-way through a scenario never leaves load running into the next one.

use std::future::Future;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub struct Background {
    stop: CancellationToken,
    task: Option<JoinHandle<()>>,
}

impl Background {
    /// Spawns `run` with the token that asks it to stop.
    pub fn spawn<F, Fut>(run: F) -> Self
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(stop.clone()));
        Self {
            stop,
            task: Some(task),
        }
    }

    /// Asks the task to stop and waits until it has.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
