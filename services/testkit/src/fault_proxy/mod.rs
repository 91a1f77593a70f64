//! A TCP fault proxy on 127.0.0.1 for network faults without root or `tc netem`:
//! clients connect to [`FaultProxy::addr`] instead of the server, and the test adds
//! latency with jitter, stalls traffic while keeping every socket open (a blackhole or
//! half-open peer), drops connections with a reset or a FIN, refuses new ones, points
//! new connections at another server (what HAProxy does after a Valkey failover), and
//! restores normal forwarding.
//!
//! The proxy runs on its own thread with its own runtime, so a test that blocks its
//! runtime (killing and restarting servers is blocking) never stalls the proxy by
//! accident. It only ever connects to loopback addresses and holds a bounded number of
//! connections and buffered bytes.

mod connection;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// More connections than this at once are reset on accept: a runaway client cannot
/// exhaust file descriptors on a shared machine.
const MAX_CONNECTIONS: usize = 512;

/// Which way a fault applies, seen from the client of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Requests: bytes the client sends to the server.
    ClientToServer,
    /// Replies: bytes the server sends to the client.
    ServerToClient,
    Both,
}

/// How dropped connections end, on both sides of the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Close {
    /// A TCP reset: the peer sees "connection reset", as when a host or process dies.
    #[default]
    Reset,
    /// An orderly close: the peer reads end-of-stream (the kernel still resets a
    /// socket that has unread data, as always).
    Fin,
}

/// Added one-way delay: uniformly `base ± jitter`, never below zero. Bytes are never
/// reordered: a chunk waits for the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub base: Duration,
    pub jitter: Duration,
}

impl Latency {
    pub fn new(base: Duration, jitter: Duration) -> Self {
        Self { base, jitter }
    }

    fn sample(&self) -> Duration {
        if self.jitter.is_zero() {
            return self.base;
        }
        let low = self.base.saturating_sub(self.jitter);
        let high = self.base + self.jitter;
        rand::rng().random_range(low..=high)
    }
}

/// The faults in force; every connection watches it.
#[derive(Debug, Clone)]
struct Faults {
    upstream: SocketAddr,
    to_server: Latency,
    to_client: Latency,
    stalled: bool,
    refusing: bool,
    /// Raised by every drop; a connection opened under an older value closes.
    drop_epoch: u64,
    drop_close: Close,
}

/// The proxy's connections, for the checks a test makes about them.
#[derive(Default)]
struct Registry {
    next_id: AtomicU64,
    accepted: AtomicU64,
    open: Mutex<HashMap<u64, Tracked>>,
}

struct Tracked {
    accepted_at: Instant,
    client_open: bool,
}

impl Registry {
    fn open(&self) -> Option<u64> {
        let mut open = self.open.lock().expect("registry lock");
        if open.len() >= MAX_CONNECTIONS {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.accepted.fetch_add(1, Ordering::Relaxed);
        open.insert(
            id,
            Tracked {
                accepted_at: Instant::now(),
                client_open: true,
            },
        );
        Some(id)
    }

    fn client_closed(&self, id: u64) {
        if let Some(tracked) = self.open.lock().expect("registry lock").get_mut(&id) {
            tracked.client_open = false;
        }
    }

    fn close(&self, id: u64) {
        self.open.lock().expect("registry lock").remove(&id);
    }
}

pub struct FaultProxy {
    addr: SocketAddr,
    faults: watch::Sender<Faults>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`.
    /// Panics unless `upstream` is a loopback address.
    pub fn start(upstream: SocketAddr) -> Self {
        assert_loopback(upstream);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("proxy port binds");
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let addr = listener.local_addr().expect("proxy address");
        let (faults, watcher) = watch::channel(Faults {
            upstream,
            to_server: Latency::default(),
            to_client: Latency::default(),
            stalled: false,
            refusing: false,
            drop_epoch: 0,
            drop_close: Close::Reset,
        });
        let registry = Arc::new(Registry::default());
        let shutdown = CancellationToken::new();
        let thread = {
            let registry = registry.clone();
            let shutdown = shutdown.clone();
            std::thread::Builder::new()
                .name(format!("fault-proxy-{}", addr.port()))
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .expect("proxy runtime builds");
                    runtime.block_on(accept_loop(listener, watcher, registry, shutdown));
                    // Dropping the runtime drops every connection task and its sockets.
                })
                .expect("proxy thread starts")
        };
        Self {
            addr,
            faults,
            registry,
            shutdown,
            thread: Some(thread),
        }
    }

    /// Where clients connect instead of the server.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Where new connections currently go.
    pub fn upstream(&self) -> SocketAddr {
        self.faults.borrow().upstream
    }

    /// Delays bytes in `direction` by `latency` (replacing an earlier setting there).
    pub fn add_latency(&self, direction: Direction, latency: Latency) {
        self.faults.send_modify(|f| {
            if direction != Direction::ServerToClient {
                f.to_server = latency;
            }
            if direction != Direction::ClientToServer {
                f.to_client = latency;
            }
        });
    }

    /// Stops forwarding in both directions while keeping every socket open; new
    /// connections are accepted and held. Bytes already read wait and are delivered
    /// on [`restore`](Self::restore) (as a network that drops packets retransmits them).
    pub fn stall(&self) {
        self.faults.send_modify(|f| f.stalled = true);
    }

    /// Closes every current connection (both sides) the way `close` says.
    pub fn drop_connections(&self, close: Close) {
        self.faults.send_modify(|f| {
            f.drop_epoch += 1;
            f.drop_close = close;
        });
    }

    /// Resets every new connection at once; current ones go on.
    pub fn refuse(&self) {
        self.faults.send_modify(|f| f.refusing = true);
    }

    /// The server is gone for its clients: new connections are refused and current
    /// ones are reset.
    pub fn cut_off(&self) {
        self.refuse();
        self.drop_connections(Close::Reset);
    }

    /// New connections go to `upstream`; current ones stay where they are.
    pub fn retarget(&self, upstream: SocketAddr) {
        assert_loopback(upstream);
        self.faults.send_modify(|f| f.upstream = upstream);
    }

    /// Normal forwarding again: no latency, no stall, new connections accepted.
    /// The upstream stays what it is now.
    pub fn restore(&self) {
        self.faults.send_modify(|f| {
            f.to_server = Latency::default();
            f.to_client = Latency::default();
            f.stalled = false;
            f.refusing = false;
        });
    }

    /// Connections open now (forwarding, stalled or held).
    pub fn connections(&self) -> usize {
        self.registry.open.lock().expect("registry lock").len()
    }

    /// Connections accepted since the proxy started.
    pub fn accepted(&self) -> u64 {
        self.registry.accepted.load(Ordering::Relaxed)
    }

    /// Connections accepted before `since` whose client has not closed its side: after
    /// a stall, how many clients have not yet given up on this path.
    pub fn clients_holding_on(&self, since: Instant) -> usize {
        self.registry
            .open
            .lock()
            .expect("registry lock")
            .values()
            .filter(|t| t.client_open && t.accepted_at <= since)
            .count()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn assert_loopback(addr: SocketAddr) {
    assert!(
        addr.ip().is_loopback(),
        "the fault proxy only forwards to loopback addresses, not {addr}"
    );
}

async fn accept_loop(
    listener: std::net::TcpListener,
    faults: watch::Receiver<Faults>,
    registry: Arc<Registry>,
    shutdown: CancellationToken,
) {
    let listener = TcpListener::from_std(listener).expect("listener joins the runtime");
    loop {
        let client = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => client,
                Err(_) => {
                    // Out of descriptors or an aborted handshake: try again shortly.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if faults.borrow().refusing {
            reset(&client);
            continue;
        }
        match registry.open() {
            Some(id) => {
                tokio::spawn(connection::serve(
                    client,
                    id,
                    faults.clone(),
                    registry.clone(),
                ));
            }
            None => reset(&client),
        }
    }
}

/// Makes the next close of `stream` a TCP reset instead of a FIN.
fn reset(stream: &TcpStream) {
    let _ = socket2::SockRef::from(stream).set_linger(Some(Duration::ZERO));
}
