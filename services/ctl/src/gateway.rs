//! The gateway's HTTP API as the CLI uses it: JSON in, JSON out, and every refusal
//! turned into a [`Failure`] with the exit code scripts rely on.

use std::fmt;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::cli::Connection;

/// Why a command did not do its job, and the exit code that says so.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

/// Exit codes (see `--help`).
pub mod exit {
    pub const OTHER: u8 = 1;
    pub const USAGE: u8 = 2;
    pub const NOT_FOUND: u8 = 3;
    pub const CONFLICT: u8 = 4;
    pub const AUTH: u8 = 5;
    pub const UNAVAILABLE: u8 = 6;
    pub const TASK_UNSUCCESSFUL: u8 = 7;
    pub const TIMED_OUT: u8 = 8;
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    /// The gateway answered `status` with `body` (a problem, usually).
    fn answered(status: StatusCode, body: &str) -> Self {
        let code = match status.as_u16() {
            400 | 413 | 415 | 422 => exit::USAGE,
            401 | 403 => exit::AUTH,
            404 => exit::NOT_FOUND,
            409 => exit::CONFLICT,
            429 | 503 => exit::UNAVAILABLE,
            _ => exit::OTHER,
        };
        Self::new(code, problem_line(status, body))
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// One readable line for an error answer: `title (status): detail` from a problem,
/// else the status and the start of the body.
pub fn problem_line(status: StatusCode, body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(problem) if problem.get("title").is_some() => format!(
            "{} ({}): {}",
            problem["title"].as_str().unwrap_or_default(),
            status.as_u16(),
            problem["detail"].as_str().unwrap_or_default()
        ),
        _ => {
            let start: String = body.chars().take(200).collect();
            format!("HTTP {status}: {}", start.replace('\n', " "))
        }
    }
}

/// A client of one gateway.
pub struct Gateway {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Gateway {
    pub fn new(connection: &Connection) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .timeout(connection.request_timeout)
            .user_agent(concat!("tasklane-ctl/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::new(exit::OTHER, format!("HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: connection.url.trim_end_matches('/').to_string(),
            token: connection.token.clone(),
        })
    }

    /// Sends `method path` with `body` (JSON) and `headers`; the answer's JSON body
    /// when its status is 2xx.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let mut request = self.http.request(method, &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.map_err(|e| {
            Failure::new(
                exit::UNAVAILABLE,
                format!("gateway {} unreachable: {}", self.base, cause_chain(&e)),
            )
        })?;
        let status = response.status();
        let text = response.text().await.map_err(|e| {
            Failure::new(
                exit::UNAVAILABLE,
                format!("reading the answer: {}", cause_chain(&e)),
            )
        })?;
        if !status.is_success() {
            return Err(Failure::answered(status, &text));
        }
        serde_json::from_str(&text).map_err(|_| {
            Failure::new(
                exit::OTHER,
                format!("HTTP {status}: the answer is not JSON"),
            )
        })
    }

    pub async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.call(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.call(Method::POST, path, Some(body), &[]).await
    }
}

/// The error and its sources on one line (reqwest's own text omits the cause).
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// `text` as one URL path segment: anything outside the unreserved characters is
/// percent-encoded, so an id cannot reach another path.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_problem_is_one_line_and_its_status_picks_the_exit_code() {
        let body =
            r#"{"type":"x#not-found","title":"Not found","status":404,"detail":"no task 1"}"#;
        let failure = Failure::answered(StatusCode::NOT_FOUND, body);
        assert_eq!(failure.code, exit::NOT_FOUND);
        assert_eq!(failure.message, "Not found (404): no task 1");
        for (status, code) in [
            (400, exit::USAGE),
            (422, exit::USAGE),
            (401, exit::AUTH),
            (403, exit::AUTH),
            (409, exit::CONFLICT),
            (429, exit::UNAVAILABLE),
            (503, exit::UNAVAILABLE),
            (500, exit::OTHER),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(Failure::answered(status, "").code, code, "{status}");
        }
        let plain = Failure::answered(StatusCode::BAD_GATEWAY, "bad\ngateway");
        assert_eq!(plain.message, "HTTP 502 Bad Gateway: bad gateway");
    }

    #[test]
    fn ids_stay_one_path_segment() {
        assert_eq!(segment("0192f0c8-7a7b"), "0192f0c8-7a7b");
        assert_eq!(segment("../stats?x"), "..%2Fstats%3Fx");
    }
}
