//! One proxied connection: two pumps (client → server, server → client) that apply the
//! faults in force, and the close when the test drops connections.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tokio::time::Instant;

use super::{Close, Faults, Registry, reset};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const CHUNK_BYTES: usize = 16 * 1024;
/// Bytes one direction may hold while delayed or stalled; the pump stops reading
/// beyond it, so TCP flow control pushes back on the sender.
const BUFFERED_BYTES: usize = 4 * 1024 * 1024;

#[derive(Clone, Copy)]
enum Way {
    ToServer,
    ToClient,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ended {
    Eof,
    Reset,
}

struct Chunk {
    bytes: Vec<u8>,
    read_at: Instant,
    _budget: OwnedSemaphorePermit,
}

pub(super) async fn serve(
    client: TcpStream,
    id: u64,
    mut faults: watch::Receiver<Faults>,
    registry: Arc<Registry>,
) {
    let epoch = faults.borrow().drop_epoch;
    let upstream = match held_while_stalled(&mut faults, epoch).await {
        Ok(upstream) => connect(upstream).await,
        Err(close) => Err(close),
    };
    let upstream = match upstream {
        Ok(upstream) => upstream,
        Err(close) => {
            if close == Close::Reset {
                reset(&client);
            }
            registry.close(id);
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = upstream.into_split();
    let ended = {
        let to_server = pump(
            &mut client_read,
            &mut server_write,
            Way::ToServer,
            faults.clone(),
            || registry.client_closed(id),
        );
        let to_client = pump(
            &mut server_read,
            &mut client_write,
            Way::ToClient,
            faults.clone(),
            || {},
        );
        until_ended(to_server, to_client, dropped(faults, epoch)).await
    };
    if ended == Some(Close::Reset) {
        reset(client_read.as_ref());
        reset(server_read.as_ref());
        // A write half shuts its side down (a FIN) when dropped; forgotten, the close
        // of the read half is the only one, and with zero linger it is a reset.
        client_write.forget();
        server_write.forget();
    }
    registry.close(id);
}

/// Both pumps reached end-of-stream (`None`), or one side was reset, or the test
/// dropped the connection: how to close it.
async fn until_ended(
    to_server: impl Future<Output = Ended>,
    to_client: impl Future<Output = Ended>,
    dropped: impl Future<Output = Close>,
) -> Option<Close> {
    tokio::pin!(to_server, to_client, dropped);
    let (mut server_done, mut client_done) = (false, false);
    while !(server_done && client_done) {
        let ended = tokio::select! {
            close = &mut dropped => return Some(close),
            ended = &mut to_server, if !server_done => { server_done = true; ended }
            ended = &mut to_client, if !client_done => { client_done = true; ended }
        };
        if ended == Ended::Reset {
            return Some(Close::Reset);
        }
    }
    None
}

/// A connection accepted during a stall gets no answer until the stall ends (or the
/// test drops it): a blackholed server completes no handshake either.
async fn held_while_stalled(
    faults: &mut watch::Receiver<Faults>,
    epoch: u64,
) -> Result<SocketAddr, Close> {
    loop {
        {
            let now = faults.borrow_and_update();
            if now.drop_epoch != epoch {
                return Err(now.drop_close);
            }
            if !now.stalled {
                return Ok(now.upstream);
            }
        }
        if faults.changed().await.is_err() {
            return Err(Close::Fin);
        }
    }
}

async fn connect(upstream: SocketAddr) -> Result<TcpStream, Close> {
    match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(upstream)).await {
        Ok(Ok(stream)) => Ok(stream),
        // The client sees what it would see from a dead server: a reset.
        _ => Err(Close::Reset),
    }
}

async fn dropped(mut faults: watch::Receiver<Faults>, epoch: u64) -> Close {
    loop {
        {
            let now = faults.borrow_and_update();
            if now.drop_epoch != epoch {
                return now.drop_close;
            }
        }
        if faults.changed().await.is_err() {
            // The proxy is shutting down; its runtime drops this connection.
            std::future::pending::<()>().await;
        }
    }
}

/// Copies `reader` to `writer` through a byte-bounded queue: the reader keeps reading
/// (and so notices the peer closing) while the writer waits out latency or a stall.
/// A reset seen on either socket ends the pump at once, but not during a stall: a
/// blackholed peer learns nothing until the stall ends.
async fn pump(
    reader: &mut OwnedReadHalf,
    writer: &mut OwnedWriteHalf,
    way: Way,
    faults: watch::Receiver<Faults>,
    on_reader_closed: impl FnOnce(),
) -> Ended {
    let budget = Arc::new(Semaphore::new(BUFFERED_BYTES));
    let (queue, mut queued) = mpsc::unbounded_channel::<Chunk>();
    let mut read_faults = faults.clone();
    let read = async move {
        let ended = loop {
            let Ok(mut permit) = budget.clone().acquire_many_owned(CHUNK_BYTES as u32).await else {
                break Ended::Eof;
            };
            let mut bytes = vec![0; CHUNK_BYTES];
            let n = match reader.read(&mut bytes).await {
                Ok(0) => break Ended::Eof,
                Ok(n) => n,
                Err(_) => break Ended::Reset,
            };
            bytes.truncate(n);
            // Keep only what was read charged against the budget.
            let kept = permit.split(n).expect("n <= CHUNK_BYTES permits");
            drop(permit);
            let chunk = Chunk {
                bytes,
                read_at: Instant::now(),
                _budget: kept,
            };
            if queue.send(chunk).is_err() {
                break Ended::Eof;
            }
        };
        on_reader_closed();
        if ended == Ended::Reset {
            wait_while_stalled(&mut read_faults).await;
        }
        ended
    };
    let write = async move {
        let mut faults = faults;
        let mut not_before = Instant::now();
        while let Some(chunk) = queued.recv().await {
            let latency = match way {
                Way::ToServer => faults.borrow().to_server,
                Way::ToClient => faults.borrow().to_client,
            };
            not_before = not_before.max(chunk.read_at + latency.sample());
            tokio::time::sleep_until(not_before).await;
            if !wait_while_stalled(&mut faults).await {
                return Ended::Eof;
            }
            if writer.write_all(&chunk.bytes).await.is_err() {
                return Ended::Reset;
            }
        }
        // The reader saw end-of-stream: pass the half-close on (after a stall, like
        // any other byte).
        if wait_while_stalled(&mut faults).await {
            let _ = writer.shutdown().await;
        }
        Ended::Eof
    };
    tokio::pin!(read, write);
    tokio::select! {
        ended = &mut read => match ended {
            Ended::Eof => write.await,
            Ended::Reset => Ended::Reset,
        },
        ended = &mut write => ended,
    }
}

/// Returns false when the proxy is going away.
async fn wait_while_stalled(faults: &mut watch::Receiver<Faults>) -> bool {
    while faults.borrow_and_update().stalled {
        if faults.changed().await.is_err() {
            return false;
        }
    }
    true
}
