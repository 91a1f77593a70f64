//! A blocking RESP2 client for one command at a time: enough to ask Valkey nodes and
//! Sentinels about roles, replication and the current primary from test code, where
//! an async client with its own reconnect logic would hide exactly the faults under
//! test.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// One RESP2 reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Reply>>),
}

impl Reply {
    /// The text of a status or bulk reply.
    pub fn text(&self) -> Option<&str> {
        match self {
            Reply::Status(s) | Reply::Bulk(Some(s)) => Some(s),
            _ => None,
        }
    }

    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(Some(items)) => items,
            _ => &[],
        }
    }

    /// A flat `[field, value, field, value, ...]` array (what `SENTINEL MASTER` answers)
    /// looked up by field name.
    pub fn field(&self, name: &str) -> Option<&str> {
        self.items()
            .chunks(2)
            .find(|pair| pair.first().and_then(Reply::text) == Some(name))
            .and_then(|pair| pair.get(1))
            .and_then(Reply::text)
    }
}

/// Sends `args` as one command to `127.0.0.1:port` on a fresh connection and reads the
/// whole reply.
pub fn command(port: u16, args: &[&str]) -> io::Result<Reply> {
    let mut replies = commands(port, &[args])?;
    Ok(replies.remove(0))
}

/// Sends each command in turn on one connection (`WAIT` counts the writes of its own
/// connection) and returns their replies.
pub fn commands(port: u16, commands: &[&[&str]]) -> io::Result<Vec<Reply>> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    // Long enough for a `WAIT` with a timeout of a few seconds.
    stream.set_read_timeout(Some(TIMEOUT * 5))?;
    stream.set_write_timeout(Some(TIMEOUT))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut replies = Vec::with_capacity(commands.len());
    for args in commands {
        let mut request = format!("*{}\r\n", args.len()).into_bytes();
        for arg in *args {
            request.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            request.extend_from_slice(arg.as_bytes());
            request.extend_from_slice(b"\r\n");
        }
        (&stream).write_all(&request)?;
        replies.push(read_reply(&mut reader)?);
    }
    Ok(replies)
}

/// `INFO <section>` as `field → value` lines.
pub fn info_field(port: u16, section: &str, field: &str) -> Option<String> {
    let reply = command(port, &["INFO", section]).ok()?;
    let prefix = format!("{field}:");
    reply
        .text()?
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map(|value| value.trim().to_string())
}

fn read_reply(reader: &mut impl BufRead) -> io::Result<Reply> {
    let mut line = String::new();
    if reader.read_line(&mut line)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed",
        ));
    }
    let line = line.trim_end_matches(['\r', '\n']);
    let (kind, rest) = line.split_at(line.len().min(1));
    let length = || -> io::Result<i64> {
        rest.parse()
            .map_err(|_| invalid(format!("bad length in {line:?}")))
    };
    match kind {
        "+" => Ok(Reply::Status(rest.to_string())),
        "-" => Ok(Reply::Error(rest.to_string())),
        ":" => Ok(Reply::Integer(length()?)),
        "$" => {
            let Ok(len) = usize::try_from(length()?) else {
                return Ok(Reply::Bulk(None));
            };
            let mut body = vec![0; len + 2];
            reader.read_exact(&mut body)?;
            body.truncate(len);
            Ok(Reply::Bulk(Some(
                String::from_utf8_lossy(&body).into_owned(),
            )))
        }
        "*" => {
            let Ok(count) = usize::try_from(length()?) else {
                return Ok(Reply::Array(None));
            };
            let items = (0..count)
                .map(|_| read_reply(reader))
                .collect::<io::Result<_>>()?;
            Ok(Reply::Array(Some(items)))
        }
        _ => Err(invalid(format!("unexpected reply line {line:?}"))),
    }
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8]) -> Reply {
        read_reply(&mut BufReader::new(bytes)).unwrap()
    }

    #[test]
    fn parses_nested_replies() {
        assert_eq!(parse(b"+PONG\r\n"), Reply::Status("PONG".into()));
        assert_eq!(parse(b":-3\r\n"), Reply::Integer(-3));
        assert_eq!(parse(b"$-1\r\n"), Reply::Bulk(None));
        assert_eq!(parse(b"-ERR no\r\n"), Reply::Error("ERR no".into()));
        let reply = parse(b"*2\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n");
        assert_eq!(reply.items()[1].text(), Some("6379"));
        let flat = parse(b"*4\r\n$4\r\nname\r\n$1\r\nm\r\n$5\r\nflags\r\n$6\r\nmaster\r\n");
        assert_eq!(flat.field("flags"), Some("master"));
        assert_eq!(flat.field("missing"), None);
    }

    #[test]
    fn bulk_strings_may_hold_line_breaks() {
        let reply = parse(b"$12\r\na:1\r\nb:2\r\nxx\r\n");
        assert_eq!(reply.text(), Some("a:1\r\nb:2\r\nxx"));
    }
}
