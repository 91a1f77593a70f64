//! The `http` payload as clients send it, and its checks: the same at submission
//! (the gateway answers 422 naming the field) and before each request (a task
//! published to NATS directly never went through the gateway).

use std::collections::BTreeMap;

use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Longest URL accepted; longer ones are refused by most servers anyway.
/// The longest `url` an http task may name.
pub const MAX_URL_BYTES: usize = 8 * 1024;

/// Headers the client or the worker owns: setting them would break the request
/// (framing, connection reuse, the target host) or forge its signature.
/// Headers the worker sets itself (or that would break the request), lower case.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "expect",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

/// `{"url", "method", "headers", "body"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPayload {
    /// `http://` or `https://`, with a host and no user-info.
    pub url: String,
    /// `POST` unless given.
    #[serde(default)]
    pub method: HttpMethod,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Sent as JSON (`content-type: application/json`), or as is when a string;
    /// no body when absent or `null`.
    #[serde(default)]
    pub body: Option<Box<RawValue>>,
}

/// The methods an `http` task may use.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)] // the HTTP methods of the same names
pub enum HttpMethod {
    Get,
    #[default]
    Post,
    Put,
    Patch,
    Delete,
}

impl From<HttpMethod> for reqwest::Method {
    fn from(method: HttpMethod) -> Self {
        match method {
            HttpMethod::Get => Self::GET,
            HttpMethod::Post => Self::POST,
            HttpMethod::Put => Self::PUT,
            HttpMethod::Patch => Self::PATCH,
            HttpMethod::Delete => Self::DELETE,
        }
    }
}

/// A request that passed every check, ready to send.
#[derive(Debug)]
pub struct Target {
    pub url: Url,
    pub method: reqwest::Method,
    pub headers: HeaderMap,
    pub body: Body,
}

/// What goes in the request body.
#[derive(Debug)]
pub enum Body {
    None,
    Json(String),
    Text(String),
}

impl Body {
    pub fn bytes(&self) -> &[u8] {
        match self {
            Self::None => b"",
            Self::Json(text) | Self::Text(text) => text.as_bytes(),
        }
    }
}

/// Parses and checks a payload; the error names the field, from `payload` down.
pub fn parse(raw: &RawValue) -> Result<Target, String> {
    let mut json = serde_json::Deserializer::from_str(raw.get());
    let payload: HttpPayload = serde_path_to_error::deserialize(&mut json).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "payload".to_string()
        } else {
            format!("payload.{path}")
        };
        format!("{field}: {}", e.inner())
    })?;
    payload.into_target()
}

impl HttpPayload {
    fn into_target(self) -> Result<Target, String> {
        let url = check_url(&self.url).map_err(|reason| format!("payload.url: {reason}"))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let field = |reason: &str| format!("payload.headers.{name}: {reason}");
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| field("not a valid header name"))?;
            if RESERVED_HEADERS.contains(&header.as_str()) {
                return Err(field("set by the worker; may not be given"));
            }
            let value = HeaderValue::from_str(value)
                .map_err(|_| field("not a valid header value (control characters?)"))?;
            headers.append(header, value);
        }
        let body = match self.body {
            None => Body::None,
            Some(raw) if raw.get().starts_with('"') => Body::Text(
                serde_json::from_str(raw.get()).map_err(|e| format!("payload.body: {e}"))?,
            ),
            Some(raw) => Body::Json(raw.get().to_string()),
        };
        Ok(Target {
            url,
            method: self.method.into(),
            headers,
            body,
        })
    }
}

fn check_url(text: &str) -> Result<Url, String> {
    if text.len() > MAX_URL_BYTES {
        return Err(format!("at most {MAX_URL_BYTES} bytes"));
    }
    let url = Url::parse(text).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("must be http or https, got `{}`", url.scheme()));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("must name a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("must not carry user-info (credentials go in headers)".into());
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(json: &str) -> Result<Target, String> {
        parse(&RawValue::from_string(json.into()).unwrap())
    }

    #[test]
    fn a_full_payload_becomes_its_request() {
        let target = check(
            r#"{"url":"https://hooks.example.com/a?b=1","method":"PUT","headers":{"X-Trace":"7"},"body":{"k":[1]}}"#,
        )
        .unwrap();
        assert_eq!(target.url.as_str(), "https://hooks.example.com/a?b=1");
        assert_eq!(target.method, reqwest::Method::PUT);
        assert_eq!(target.headers["x-trace"], "7");
        assert!(matches!(target.body, Body::Json(ref b) if b == r#"{"k":[1]}"#));
        let target = check(r#"{"url":"http://h/","body":"plain"}"#).unwrap();
        assert_eq!(target.method, reqwest::Method::POST);
        assert!(matches!(target.body, Body::Text(ref b) if b == "plain"));
        assert!(matches!(
            check(r#"{"url":"http://h/","body":null}"#).unwrap().body,
            Body::None
        ));
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (r#"{"url":"ftp://h/x"}"#, "payload.url: must be http or https"),
            (r#"{"url":"http://"}"#, "payload.url: not a URL"),
            (r#"{"url":"file:///etc/passwd"}"#, "payload.url: must be http or https"),
            (r#"{"url":"http://u:p@h/"}"#, "payload.url: must not carry user-info"),
            (r#"{"url":"http://u@h/"}"#, "payload.url: must not carry user-info"),
            (r#"{"url":"not a url"}"#, "payload.url: not a URL"),
            (r#"{"url":"http://h/","method":"TRACE"}"#, "payload.method: unknown variant"),
            (r#"{"url":"http://h/","method":"get"}"#, "payload.method: unknown variant"),
            (r#"{"url":"http://h/","headers":{"Host":"x"}}"#, "payload.headers.Host: set by the worker"),
            (r#"{"url":"http://h/","headers":{"content-length":"1"}}"#, "payload.headers.content-length"),
            (r#"{"url":"http://h/","headers":{"Transfer-Encoding":"chunked"}}"#, "payload.headers.Transfer-Encoding"),
            (r#"{"url":"http://h/","headers":{"Connection":"close"}}"#, "payload.headers.Connection"),
            (r#"{"url":"http://h/","headers":{"webhook-signature":"v1,x"}}"#, "payload.headers.webhook-signature"),
            (r#"{"url":"http://h/","headers":{"bad name":"x"}}"#, "payload.headers.bad name: not a valid header name"),
            (r#"{"url":"http://h/","headers":{"X-A":"a\r\nB: c"}}"#, "payload.headers.X-A: not a valid header value"),
            (r#"{"url":"http://h/","headers":{"X-A":1}}"#, "payload.headers.X-A: invalid type"),
            (r#"{"url":"http://h/","headers":[]}"#, "payload.headers: invalid type"),
            (r#"{"url":"http://h/","timeout":1}"#, "payload.timeout: unknown field `timeout`"),
            (r#"{"method":"GET"}"#, "payload: missing field `url`"),
            (r#"{"url":5}"#, "payload.url: invalid type"),
            ("[1]", "payload.[0]: invalid type"),
        ];
        for (json, expected) in cases {
            let error = check(json).expect_err(json);
            assert!(error.starts_with(expected), "{json}: {error}");
        }
    }
}
