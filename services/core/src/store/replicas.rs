//! Replica-confirmed outcome writes: after each batch of outcome writes, one `WAIT`
//! asks the primary how many replicas have everything this connection wrote so far.
//! Fewer than `valkey.min_replicas_ack` within `valkey.replica_ack_timeout` fails the
//! whole batch, so every task in it is held (never acknowledged) and its write retried
//! by the worker; a write that did land on the primary is found there on the retry
//! and only confirmed again. One `WAIT` per batch shares its round trip among all
//! the tasks in the batch.
//!
//! Only outcomes wait: they are what lets a task's message go. A lost `queued` record
//! is written again by the worker when it starts the task (the message is still in
//! JetStream), and a lost attempt start costs at most one extra attempt.

//!
//! `WAIT` counts the writes of the connection it is sent on. A reconnect between the
//! write and the `WAIT` (a failover) would make it confirm a connection that never
//! carried the write, so the batch fails unless both used the same connection.

use std::collections::HashMap;
use std::time::Duration;

use fred::error::{Error, ErrorKind};
use fred::prelude::*;
use fred::types::config::Server;

use crate::config::ValkeySettings;

/// How many replicas must confirm, and how long to wait for them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Confirmation {
    replicas: u32,
    timeout: Duration,
}

impl Confirmation {
    /// `None` when no confirmation is asked for (`valkey.min_replicas_ack = 0`).
    pub(crate) fn from_settings(settings: &ValkeySettings) -> Option<Self> {
        (settings.min_replicas_ack > 0).then_some(Self {
            replicas: settings.min_replicas_ack,
            timeout: settings.replica_ack_timeout,
        })
    }

    /// Waits until enough replicas have the writes made on `connection` (taken before
    /// them); an error when too few confirmed in time or the connection changed.
    pub(crate) async fn wait(&self, client: &Client, connection: Connection) -> Result<(), Error> {
        let confirmed: i64 = client
            .wait(i64::from(self.replicas), self.timeout.as_millis() as i64)
            .await?;
        if Connection::of(client) != connection {
            return Err(Error::new(
                ErrorKind::IO,
                "reconnected between the outcome writes and their WAIT; writing them again",
            ));
        }
        if confirmed < i64::from(self.replicas) {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!(
                    "{confirmed} of {} replicas confirmed the outcome writes within {:?}",
                    self.replicas, self.timeout
                ),
            ));
        }
        Ok(())
    }
}

/// Which server connection a client is using: its `CLIENT ID` per server.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Connection(HashMap<Server, i64>);

impl Connection {
    pub(crate) fn of(client: &Client) -> Self {
        Self(client.connection_ids())
    }
}
