//! `http`: delivers a request to any service, which does the work. The worker signs
//! it (Standard Webhooks), refuses non-public destinations unless opened, caps the
//! response it keeps, retries what is worth retrying, and stops sending to a host
//! whose circuit is open. Contract: SPEC.md, "HTTP tasks".

mod breaker;
mod destination;
mod host_limit;
mod metrics;
mod payload;
mod response;
mod signing;

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use reqwest::header::{CONTENT_TYPE, HeaderValue};
use serde_json::value::RawValue;
use tasklane_core::config::HttpSettings;

pub use self::metrics::HttpMetrics;
pub use self::payload::{HttpMethod, HttpPayload, MAX_URL_BYTES, RESERVED_HEADERS};
use self::breaker::{Admission, Breakers, Report};
use self::destination::{Guard, GuardedResolver, forbidden_cause};
use self::host_limit::HostLimits;
use self::payload::{Body, Target};
use self::response::Answer;
use self::signing::Signer;
use crate::task_handler::{HandlerError, HandlerResult, TaskHandler, TaskInput};

/// The `http` task type, with the one connection pool and the per-host state every
/// task of a worker shares.
pub struct Http {
    client: reqwest::Client,
    guard: Arc<Guard>,
    signer: Option<Signer>,
    max_response_bytes: usize,
    breakers: Arc<Breakers>,
    hosts: Arc<HostLimits>,
    metrics: HttpMetrics,
}

impl Http {
    /// The type as `settings` configure it, counting into `metrics`.
    ///
    /// # Errors
    /// An unreadable or malformed signing secret, or a bad `allowed_networks` entry.
    pub fn new(settings: &HttpSettings, metrics: HttpMetrics) -> Result<Self, String> {
        let guard = Arc::new(Guard::new(
            settings
                .allowed_networks()
                .map_err(|e| format!("http.allowed_networks: {e}"))?,
        ));
        let signer = settings
            .signing_secret_file
            .as_deref()
            .map(Signer::from_file)
            .transpose()?;
        let client = reqwest::Client::builder()
            .use_rustls_tls()
            // A proxy would connect on the worker's behalf, past the guard.
            .no_proxy()
            // A redirect could lead anywhere; the status is the outcome instead.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(GuardedResolver::new(guard.clone())))
            .user_agent(concat!("tasklane/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("http client: {e}"))?;
        Ok(Self {
            client,
            guard,
            signer,
            max_response_bytes: settings.max_response_bytes,
            breakers: Breakers::new(
                settings.breaker_threshold,
                settings.breaker_cooldown,
                metrics.clone(),
            ),
            hosts: HostLimits::new(settings.max_per_host),
            metrics,
        })
    }

    async fn deliver(&self, task: &TaskInput<'_>, target: &Target) -> HandlerResult {
        if let Err(forbidden) = self.guard.check_url(&target.url) {
            self.metrics.count(None, "forbidden");
            return Err(HandlerError::Permanent(forbidden.to_string()));
        }
        let host = format!(
            "{}:{}",
            target.url.host_str().unwrap_or_default(),
            target.url.port_or_known_default().unwrap_or_default()
        );
        let ticket = match self.breakers.admit(&host) {
            Admission::Go(ticket) => ticket,
            Admission::Wait(after) => {
                self.metrics.deferred.inc();
                return Err(HandlerError::Deferred {
                    reason: format!("circuit open for {host}; nothing sent"),
                    after,
                });
            }
        };
        let _slot = self.hosts.acquire(&host).await;
        let started = Instant::now();
        let sent = self.send(task, target).await;
        self.metrics
            .duration
            .observe(started.elapsed().as_secs_f64());
        match sent {
            Ok(answer) => {
                ticket.report(if answer.is_failure() {
                    Report::Failed
                } else {
                    Report::Answered
                });
                let outcome = answer.outcome(SystemTime::now());
                let counted = match &outcome {
                    Ok(_) => "succeeded",
                    Err(HandlerError::Permanent(_)) => "failed",
                    Err(_) => "retried",
                };
                self.metrics.count(Some(answer.status.as_u16()), counted);
                outcome
            }
            Err(error) => {
                if let Some(forbidden) = forbidden_cause(&error) {
                    ticket.report(Report::NotSent);
                    self.metrics.count(None, "forbidden");
                    return Err(HandlerError::Permanent(forbidden.to_string()));
                }
                ticket.report(Report::Failed);
                self.metrics.count(None, "retried");
                Err(HandlerError::Retryable(describe(&error)))
            }
        }
    }

    async fn send(&self, task: &TaskInput<'_>, target: &Target) -> reqwest::Result<Answer> {
        let timestamp = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let body = target.body.bytes();
        let mut headers = target.headers.clone();
        if matches!(target.body, Body::Json(_)) && !headers.contains_key(CONTENT_TYPE) {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        let mut request = self
            .client
            .request(target.method.clone(), target.url.clone())
            .timeout(task.timeout)
            .headers(headers)
            .header("webhook-id", task.id)
            .header("webhook-timestamp", timestamp);
        if let Some(signer) = &self.signer {
            request = request.header("webhook-signature", signer.sign(task.id, timestamp, body));
        }
        if !matches!(target.body, Body::None) {
            request = request.body(body.to_vec());
        }
        Answer::read(request.send().await?, self.max_response_bytes).await
    }
}

impl Default for Http {
    /// Defaults, counting nowhere: enough to check payloads (the gateway's use).
    fn default() -> Self {
        Self::new(&HttpSettings::default(), HttpMetrics::unregistered())
            .expect("the default http settings are valid")
    }
}

#[async_trait::async_trait]
impl TaskHandler for Http {
    fn name(&self) -> &'static str {
        "http"
    }

    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult {
        let target = payload::parse(task.payload).map_err(HandlerError::Permanent)?;
        self.deliver(task, &target).await
    }

    fn check(&self, payload: &RawValue) -> Result<(), String> {
        payload::parse(payload).map(drop)
    }
}

/// A request error with its causes (reqwest's own text stops at the outermost).
fn describe(error: &reqwest::Error) -> String {
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut text = what.to_string();
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(error);
    while let Some(error) = cause {
        text.push_str(": ");
        text.push_str(&error.to_string());
        cause = error.source();
    }
    text
}
