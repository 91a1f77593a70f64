//! Why a store operation failed.

use super::group_commit::CommitError;

/// A failed Valkey operation. Each variant keeps what went wrong as its kind, and the
/// client's error as its source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Valkey refused the command, or could not be reached in time.
    #[error("valkey: {0}")]
    Valkey(#[from] fred::error::Error),
    /// A batched script call returned a different number of answers than it carried
    /// requests, so no caller could be told which answer is theirs.
    #[error("valkey: batched write answered {answered} of {requested} requests")]
    ShortAnswer {
        /// Answers the script returned.
        answered: usize,
        /// Requests the batch carried.
        requested: usize,
    },
    /// A file the client is configured with (password, CA, certificate, key) could
    /// not be used.
    #[error("{0}")]
    Setup(String),
    /// The task that sends batched writes is gone: the runtime is shutting down.
    #[error("valkey: the batch writer stopped")]
    WriterStopped,
}

impl From<CommitError<fred::error::Error>> for StoreError {
    fn from(error: CommitError<fred::error::Error>) -> Self {
        match error {
            CommitError::Write(error) => Self::Valkey(error),
            CommitError::ShortAnswer {
                answered,
                requested,
            } => Self::ShortAnswer {
                answered,
                requested,
            },
            CommitError::Stopped => Self::WriterStopped,
        }
    }
}
