//! What happened during one run, on one clock: every submission attempt and what it
//! got, every accepted task with what it must end as, and when it was first seen
//! final. The checker reads only this and the final re-read.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::gateway::Submitted;
use crate::mix::TaskSpec;

/// What one submission attempt got, and when (seconds since the run started).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    pub at: f64,
    pub outcome: AttemptOutcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptOutcome {
    Accepted,
    Unavailable,
    InFlight,
    Refused(u16),
    NoAnswer,
}

impl From<&Submitted> for AttemptOutcome {
    fn from(submitted: &Submitted) -> Self {
        match submitted {
            Submitted::Accepted { .. } => Self::Accepted,
            Submitted::Unavailable => Self::Unavailable,
            Submitted::InFlight => Self::InFlight,
            Submitted::Refused(status) => Self::Refused(*status),
            Submitted::NoAnswer => Self::NoAnswer,
        }
    }
}

/// One task that got a 202.
#[derive(Debug, Clone)]
pub struct Tracked {
    pub id: String,
    pub spec: TaskSpec,
    pub accepted_at: f64,
    /// The first final status seen, and when.
    pub first_final: Option<(String, f64)>,
}

pub struct RunLog {
    started: Instant,
    tasks: Mutex<Vec<Tracked>>,
    index: Mutex<HashMap<String, usize>>,
    attempts: Mutex<Vec<Attempt>>,
    gave_up: AtomicU64,
}

impl RunLog {
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            tasks: Mutex::new(Vec::new()),
            index: Mutex::new(HashMap::new()),
            attempts: Mutex::new(Vec::new()),
            gave_up: AtomicU64::new(0),
        }
    }

    /// Seconds since the run started.
    pub fn now(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }

    pub fn attempt(&self, submitted: &Submitted) {
        let attempt = Attempt {
            at: self.now(),
            outcome: submitted.into(),
        };
        self.attempts.lock().expect("log lock").push(attempt);
    }

    /// Records a 202. A replayed 202 for a task already known is not a second task.
    pub fn accepted(&self, id: &str, spec: TaskSpec) {
        let mut index = self.index.lock().expect("log lock");
        if index.contains_key(id) {
            return;
        }
        let mut tasks = self.tasks.lock().expect("log lock");
        index.insert(id.to_string(), tasks.len());
        tasks.push(Tracked {
            id: id.to_string(),
            spec,
            accepted_at: self.now(),
            first_final: None,
        });
    }

    /// A submission whose every attempt failed: its outcome is unknown to the client.
    pub fn gave_up(&self) {
        self.gave_up.fetch_add(1, Ordering::Relaxed);
    }

    pub fn gave_up_count(&self) -> u64 {
        self.gave_up.load(Ordering::Relaxed)
    }

    /// Ids of accepted tasks not yet seen final.
    pub fn pending(&self) -> Vec<String> {
        self.tasks
            .lock()
            .expect("log lock")
            .iter()
            .filter(|t| t.first_final.is_none())
            .map(|t| t.id.clone())
            .collect()
    }

    pub fn seen_final(&self, id: &str, status: &str) {
        let at = self.now();
        let Some(&position) = self.index.lock().expect("log lock").get(id) else {
            return;
        };
        let mut tasks = self.tasks.lock().expect("log lock");
        let task = &mut tasks[position];
        if task.first_final.is_none() {
            task.first_final = Some((status.to_string(), at));
        }
    }

    /// Forgets an accepted task, as if its 202 had never arrived (the checker's self
    /// test: the task's counters then have no task to belong to).
    pub fn forget(&self, id: &str) {
        let mut index = self.index.lock().expect("log lock");
        let mut tasks = self.tasks.lock().expect("log lock");
        tasks.retain(|t| t.id != id);
        index.clear();
        index.extend(tasks.iter().enumerate().map(|(i, t)| (t.id.clone(), i)));
    }

    pub fn tasks(&self) -> Vec<Tracked> {
        self.tasks.lock().expect("log lock").clone()
    }

    pub fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().expect("log lock").clone()
    }
}
