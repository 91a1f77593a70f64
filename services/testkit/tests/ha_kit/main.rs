//! Tests of the HA test kit itself: the fault proxy against a real valkey-server, the
//! 3-node NATS cluster and the Valkey primary/replica/Sentinel set. The drills rely on
//! each behaviour shown here.

mod fault_proxy;
mod nats_cluster;
mod valkey_sentinel;

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// A raw connection that sends `PING` and reads the answer, so the tests see exactly
/// what the network does, with no client-side reconnects in between.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connects");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
}

pub fn ping(stream: &mut TcpStream) -> io::Result<String> {
    stream.write_all(b"PING\r\n")?;
    read_answer(stream)
}

pub fn read_answer(stream: &mut TcpStream) -> io::Result<String> {
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf[..n]).to_string())
}
