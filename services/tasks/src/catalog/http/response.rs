//! From an answer to an attempt's outcome: 2xx is the result (status, content type,
//! body as JSON or text, cut at `max_response_bytes`); 408, 429 and 5xx are worth
//! another attempt (after `Retry-After` on 429 and 503); anything else, redirects
//! included, fails for good naming the status.

use std::time::{Duration, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Response, StatusCode};
use serde::Serialize;
use serde_json::value::RawValue;

use crate::task_handler::{HandlerError, HandlerResult, result};

/// The result of a delivered task.
#[derive(Serialize)]
struct Delivered<'a> {
    status: u16,
    headers: KeptHeaders<'a>,
    body: Body<'a>,
    truncated: bool,
}

#[derive(Serialize)]
struct KeptHeaders<'a> {
    #[serde(rename = "content-type")]
    content_type: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Json(&'a RawValue),
    Text(&'a str),
}

/// A response with its body read up to the cap.
pub struct Answer {
    pub status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
    truncated: bool,
}

impl Answer {
    /// Reads at most `max_bytes` of the body; the rest is never read (the
    /// connection is dropped rather than drained).
    pub async fn read(mut response: Response, max_bytes: usize) -> reqwest::Result<Self> {
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = response.chunk().await? {
            let room = max_bytes - body.len();
            if chunk.len() > room {
                body.extend_from_slice(&chunk[..room]);
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status: response.status(),
            headers: std::mem::take(response.headers_mut()),
            body,
            truncated,
        })
    }

    /// Whether the host is failing (for its circuit breaker).
    pub fn is_failure(&self) -> bool {
        is_retryable(self.status)
    }

    /// The attempt's outcome.
    pub fn outcome(&self, now: SystemTime) -> HandlerResult {
        let status = self.status;
        if status.is_success() {
            return self.delivered();
        }
        let error = format!("HTTP {status}");
        if !is_retryable(status) {
            return Err(HandlerError::Permanent(format!(
                "{error}: not retried (only 408, 429 and 5xx are; redirects are not followed)"
            )));
        }
        let after = matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        )
        .then(|| retry_after(&self.headers, now))
        .flatten();
        Err(match after {
            Some(after) => HandlerError::RetryableAfter {
                error: format!("{error}; Retry-After {}s", after.as_secs()),
                after,
            },
            None => HandlerError::Retryable(error),
        })
    }

    fn delivered(&self) -> HandlerResult {
        let content_type = self
            .headers
            .get(CONTENT_TYPE)
            .and_then(|value| value.to_str().ok());
        let text = utf8_prefix(&self.body, self.truncated);
        let json = (!self.truncated && content_type.is_some_and(is_json))
            .then(|| serde_json::from_str::<&RawValue>(&text).ok())
            .flatten();
        result(&Delivered {
            status: self.status.as_u16(),
            headers: KeptHeaders { content_type },
            body: json.map_or(Body::Text(&text), Body::Json),
            truncated: self.truncated,
        })
    }
}

fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence.to_ascii_lowercase().ends_with("+json")
}

/// The body as text: a cut that split a character loses the partial character.
fn utf8_prefix(body: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(body) {
        Ok(text) => text.to_string(),
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&body[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(body).into_owned(),
    }
}

/// `Retry-After` as delay-seconds or an HTTP date; `None` when absent or unreadable.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, headers: &[(&str, &str)], body: &str, truncated: bool) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                reqwest::header::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        Answer {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: body.as_bytes().to_vec(),
            truncated,
        }
    }

    fn result_of(answer: &Answer) -> serde_json::Value {
        let raw = answer.outcome(SystemTime::now()).expect("a result");
        serde_json::from_str(raw.get()).unwrap()
    }

    #[test]
    fn success_keeps_status_content_type_and_body_as_json_or_text() {
        let json = answer(201, &[("content-type", "application/json; charset=utf-8")], r#"{"a":1}"#, false);
        assert_eq!(
            result_of(&json),
            serde_json::json!({"status": 201, "headers": {"content-type": "application/json; charset=utf-8"}, "body": {"a": 1}, "truncated": false})
        );
        let problem = answer(200, &[("content-type", "application/problem+json")], "[1]", false);
        assert_eq!(result_of(&problem)["body"], serde_json::json!([1]));
        let text = answer(204, &[], "", false);
        assert_eq!(
            result_of(&text),
            serde_json::json!({"status": 204, "headers": {"content-type": null}, "body": "", "truncated": false})
        );
        let not_json = answer(200, &[("content-type", "application/json")], "{oops", false);
        assert_eq!(result_of(&not_json)["body"], "{oops");
        let cut = answer(200, &[("content-type", "application/json")], r#"{"a":"#, true);
        assert_eq!(result_of(&cut)["body"], r#"{"a":"#);
        assert_eq!(result_of(&cut)["truncated"], true);
    }

    #[test]
    fn a_cut_inside_a_character_drops_that_character() {
        let bytes = "aé".as_bytes();
        assert_eq!(utf8_prefix(&bytes[..2], true), "a");
        assert_eq!(utf8_prefix(b"a\xffb", false), "a\u{fffd}b");
    }

    #[test]
    fn failures_are_retried_only_for_408_429_and_5xx() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        // (status, response headers, expected outcome)
        type Case = (u16, &'static [(&'static str, &'static str)], &'static str);
        let cases: &[Case] = &[
            (500, &[], "retry"),
            (502, &[("retry-after", "5")], "retry"),
            (408, &[], "retry"),
            (429, &[], "retry"),
            (429, &[("retry-after", "7")], "after 7"),
            (503, &[("retry-after", " 120 ")], "after 120"),
            (503, &[("retry-after", "Tue, 14 Nov 2023 22:13:40 GMT")], "after 20"),
            (503, &[("retry-after", "Tue, 14 Nov 2023 22:13:00 GMT")], "after 0"),
            (429, &[("retry-after", "soon")], "retry"),
            (301, &[("location", "http://10.0.0.1/")], "permanent"),
            (304, &[], "permanent"),
            (400, &[], "permanent"),
            (404, &[], "permanent"),
            (410, &[], "permanent"),
            (422, &[], "permanent"),
        ];
        for (status, headers, expected) in cases {
            let outcome = answer(*status, headers, "", false).outcome(now);
            let got = match outcome {
                Err(HandlerError::Retryable(e)) => {
                    assert_eq!(e, format!("HTTP {}", StatusCode::from_u16(*status).unwrap()));
                    "retry".to_string()
                }
                Err(HandlerError::RetryableAfter { after, .. }) => format!("after {}", after.as_secs()),
                Err(HandlerError::Permanent(e)) => {
                    assert!(e.starts_with(&format!("HTTP {status} ")), "{e}");
                    "permanent".to_string()
                }
                other => panic!("{status}: {other:?}"),
            };
            assert_eq!(&got, expected, "{status} {headers:?}");
        }
    }
}
