use std::io::ErrorKind;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tasklane_testkit::ValkeyServer;
use tasklane_testkit::fault_proxy::{Close, Direction, FaultProxy, Latency};

use crate::{connect, ping, read_answer};

fn addr(server: &ValkeyServer) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], server.port))
}

fn timed_ping(stream: &mut std::net::TcpStream) -> Duration {
    let started = Instant::now();
    assert_eq!(ping(stream).expect("PING answered"), "+PONG\r\n");
    started.elapsed()
}

/// A valkey-server behind a proxy, and a connection through it that works.
fn proxied() -> (ValkeyServer, FaultProxy, std::net::TcpStream) {
    let server = ValkeyServer::start();
    let proxy = FaultProxy::start(addr(&server));
    let mut client = connect(proxy.addr());
    timed_ping(&mut client);
    (server, proxy, client)
}

/// The connection is reset, during the handshake or at the first exchange.
fn refused(addr: SocketAddr) -> bool {
    match std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Err(_) => true,
        Ok(mut stream) => {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            ping(&mut stream).is_err()
        }
    }
}

/// Polls `check` for up to 30 s (the proxy applies changes asynchronously).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn latency_with_jitter_delays_each_direction_by_at_least_its_lower_bound() {
    let (_server, proxy, mut client) = proxied();

    let ms = Duration::from_millis;
    // (direction, base, jitter, the least round trip that latency allows)
    let cases = [
        (Direction::ClientToServer, ms(150), ms(50), ms(100)),
        (Direction::ServerToClient, ms(150), ms(50), ms(100)),
        (Direction::Both, ms(120), ms(20), ms(200)),
    ];
    for (direction, base, jitter, least) in cases {
        proxy.restore();
        proxy.add_latency(direction, Latency::new(base, jitter));
        for _ in 0..3 {
            let rtt = timed_ping(&mut client);
            assert!(rtt >= least, "{direction:?}: round trip {rtt:?}");
        }
    }

    proxy.restore();
    // Back to plain forwarding on the same connection.
    timed_ping(&mut client);
}

#[test]
fn a_stall_times_the_client_out_keeps_the_socket_and_delivers_on_restore() {
    let (_server, proxy, mut client) = proxied();

    proxy.stall();
    let stalled_at = Instant::now();
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let answer = ping(&mut client);
    let error = answer.expect_err("no answer through a stalled proxy");
    assert!(
        matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
        "the client times out, nothing closes: {error:?}"
    );
    assert_eq!(proxy.connections(), 1, "the proxy keeps the socket open");
    assert_eq!(proxy.clients_holding_on(stalled_at), 1);

    // A connection opened during the stall is accepted and held without an answer.
    let mut late = connect(proxy.addr());
    late.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    assert!(ping(&mut late).is_err(), "held connection answers nothing");

    proxy.restore();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        read_answer(&mut client).unwrap(),
        "+PONG\r\n",
        "held PING delivered"
    );
    assert_eq!(
        read_answer(&mut late).unwrap(),
        "+PONG\r\n",
        "held connection served"
    );
}

#[test]
fn a_client_giving_up_on_a_stalled_connection_is_seen_while_the_server_side_waits() {
    let (_server, proxy, client) = proxied();
    proxy.stall();
    let stalled_at = Instant::now();
    assert_eq!(proxy.clients_holding_on(stalled_at), 1);
    drop(client);
    eventually("the proxy notices the client closed", || {
        proxy.clients_holding_on(stalled_at) == 0
    });
    assert_eq!(
        proxy.connections(),
        1,
        "the server side learns nothing during the stall"
    );
    proxy.restore();
    eventually("the close reaches the server after the stall", || {
        proxy.connections() == 0
    });
}

#[test]
fn dropped_connections_end_with_a_reset_or_end_of_stream() {
    let (_server, proxy, mut client) = proxied();
    proxy.drop_connections(Close::Reset);
    let error = read_answer(&mut client).expect_err("a reset is an error");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}");

    let mut client = connect(proxy.addr());
    timed_ping(&mut client);
    proxy.drop_connections(Close::Fin);
    assert_eq!(read_answer(&mut client).unwrap(), "", "end of stream");

    // New connections are not affected by an earlier drop.
    let mut client = connect(proxy.addr());
    timed_ping(&mut client);
    eventually("dropped connections are gone", || proxy.connections() == 1);
}

#[test]
fn refuse_resets_new_connections_and_cut_off_also_the_current_ones() {
    let (_server, proxy, mut current) = proxied();

    proxy.refuse();
    assert!(refused(proxy.addr()), "a refused connection is reset");
    timed_ping(&mut current);

    proxy.cut_off();
    let error = read_answer(&mut current).expect_err("cut off");
    assert_eq!(error.kind(), ErrorKind::ConnectionReset, "{error:?}");
    assert!(refused(proxy.addr()), "still refused");

    proxy.restore();
    let mut client = connect(proxy.addr());
    timed_ping(&mut client);
}

#[test]
fn retarget_sends_new_connections_to_the_new_upstream_and_keeps_current_ones() {
    let first = ValkeyServer::start();
    let second = ValkeyServer::start();
    second.command(&["SET", "whoami", "second"]);
    let proxy = FaultProxy::start(addr(&first));
    let mut before = connect(proxy.addr());
    timed_ping(&mut before);

    proxy.retarget(addr(&second));
    assert_eq!(proxy.upstream(), addr(&second));
    let get = b"*2\r\n$3\r\nGET\r\n$6\r\nwhoami\r\n";
    std::io::Write::write_all(&mut before, get).unwrap();
    assert_eq!(
        read_answer(&mut before).unwrap(),
        "$-1\r\n",
        "still the first"
    );
    let mut after = connect(proxy.addr());
    std::io::Write::write_all(&mut after, get).unwrap();
    assert_eq!(read_answer(&mut after).unwrap(), "$6\r\nsecond\r\n");
}

#[test]
#[should_panic(expected = "only forwards to loopback")]
fn refuses_to_forward_anywhere_but_loopback() {
    FaultProxy::start("192.0.2.1:6379".parse().unwrap());
}
