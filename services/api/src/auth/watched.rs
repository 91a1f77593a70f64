//! A file whose parsed content is kept current: re-read on a timer and swapped in
//! when its bytes change.
//!
//! Kubernetes updates a mounted Secret by swapping a symlink, which leaves the old
//! file's mtime alone and can land within the same second as the previous update,
//! so the content itself is compared, not the modification time. A file that does
//! not parse keeps the last good value in force and is logged.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use anyhow::Context;
use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

/// How often the file is read again: a change takes effect within this (and well
/// within the 10 s the contract promises).
pub(crate) const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// The current parsed value of a file.
pub(crate) struct Watched<T> {
    current: RwLock<Arc<T>>,
}

impl<T: Send + Sync + 'static> Watched<T> {
    /// Reads and parses `path` now (an error stops start-up), then keeps it current
    /// until `shutdown`.
    pub(crate) fn start(
        path: &Path,
        what: &'static str,
        parse: fn(&[u8]) -> anyhow::Result<T>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Arc<Self>> {
        let bytes =
            std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))?;
        let value = parse(&bytes).with_context(|| format!("{what} {}", path.display()))?;
        let watched = Arc::new(Self {
            current: RwLock::new(Arc::new(value)),
        });
        let poller = Poller {
            path: path.to_path_buf(),
            what,
            parse,
            seen: Sha256::digest(&bytes).into(),
            watched: Arc::clone(&watched),
        };
        tokio::spawn(poller.run(shutdown));
        Ok(watched)
    }

    /// The value in force.
    pub(crate) fn get(&self) -> Arc<T> {
        Arc::clone(&self.current.read().unwrap_or_else(|e| e.into_inner()))
    }
}

struct Poller<T> {
    path: PathBuf,
    what: &'static str,
    parse: fn(&[u8]) -> anyhow::Result<T>,
    /// Digest of the content last seen, good or bad, so a broken file is logged once.
    seen: [u8; 32],
    watched: Arc<Watched<T>>,
}

impl<T: Send + Sync + 'static> Poller<T> {
    async fn run(mut self, shutdown: CancellationToken) {
        let mut ticks = tokio::time::interval(POLL_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticks.tick() => self.check().await,
            }
        }
    }

    async fn check(&mut self) {
        let path = self.path.display();
        let bytes = match tokio::fs::read(&self.path).await {
            Ok(bytes) => bytes,
            Err(e) => {
                tracing::error!(file = %path, error = %e, "{} unreadable; keeping the last good one", self.what);
                return;
            }
        };
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        if digest == self.seen {
            return;
        }
        self.seen = digest;
        match (self.parse)(&bytes) {
            Ok(value) => {
                *self
                    .watched
                    .current
                    .write()
                    .unwrap_or_else(|e| e.into_inner()) = Arc::new(value);
                tracing::info!(file = %path, "{} reloaded", self.what);
            }
            Err(e) => {
                tracing::error!(file = %path, error = format!("{e:#}"), "{} is invalid; keeping the last good one", self.what);
            }
        }
    }
}
