//! The tenant's quota, checked once per submission before anything is claimed or
//! published: its rate (a batch counts as its number of tasks and fits whole or not
//! at all) and its cap on outstanding tasks.
//!
//! The `RateLimit-Policy` and `RateLimit` headers follow
//! draft-ietf-httpapi-ratelimit-headers-09: `"tenant";q=<burst>;w=<seconds>` and
//! `"tenant";r=<remaining>;t=<seconds>`.
//!
//! A tenant far from its limits is admitted from this gateway's lease ([`lease`]);
//! every refusal comes from the exact decision in Valkey.

mod lease;

use axum::http::{HeaderName, HeaderValue};
use tasklane_core::config::LimitsSettings;
use tasklane_core::store::{Admission, Store, TenantLimits};

use crate::audit::AuditEvent;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, Cause};
use crate::metrics::LeaseMetrics;
pub(crate) use lease::Leases;

const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Admits submissions under each tenant's limits.
pub(crate) struct Quota {
    store: Store,
    limits: TenantLimits,
    leases: Leases,
    /// `RateLimit-Policy`, the same on every answer.
    policy: Option<HeaderValue>,
}

impl Quota {
    pub(crate) fn new(store: Store, settings: &LimitsSettings, metrics: LeaseMetrics) -> Self {
        let limits = TenantLimits {
            rate: settings.tenant_rate,
            burst: settings.burst(),
            max_outstanding: settings.tenant_max_outstanding,
        };
        let policy = (limits.rate > 0).then(|| {
            let window = limits.burst.div_ceil(limits.rate).max(1);
            HeaderValue::from_str(&format!("\"tenant\";q={};w={window}", limits.burst))
                .expect("digits are a valid header value")
        });
        Self {
            leases: Leases::new(store.clone(), limits, metrics),
            store,
            limits,
            policy,
        }
    }

    /// This gateway's admission leases, to give back when it stops.
    pub(crate) fn leases(&self) -> Leases {
        self.leases.clone()
    }

    /// Admits `tasks` tasks for `principal`'s tenant, or refuses them all with 429
    /// (after the audit event). With no limit on, Valkey is not asked at all.
    pub(crate) async fn admit(
        &self,
        principal: &Principal,
        tasks: usize,
        request_id: Option<&str>,
    ) -> Result<(), ApiError> {
        if !self.limits.any() || self.leases.try_take(&principal.tenant, tasks as u64) {
            return Ok(());
        }
        let admission = self
            .store
            .admit(&principal.tenant, tasks as u64, self.limits)
            .await
            .map_err(|e| {
                // Without its counters the quota cannot be kept; refusing is the
                // locked-down choice, and the client retries after the 503.
                ApiError::store_unavailable()
                    .caused_by(Cause::new("tenant quota could not be checked", e))
            })?;
        let refusal = match admission {
            Admission::Admitted { .. } => return Ok(()),
            Admission::RateLimited {
                retry_after,
                remaining,
            } => {
                let seconds = retry_after.as_secs_f64().ceil().max(1.0) as u32;
                self.rate_headers(
                    ApiError::tenant_rate_limited(
                        format!("this tenant is over its rate of {} tasks per second; nothing was accepted, retry after the given delay", self.limits.rate),
                        seconds,
                    ),
                    remaining,
                    seconds,
                )
            }
            Admission::LargerThanBurst { remaining } => self.rate_headers(
                ApiError::tenant_rate_limited(
                    format!(
                        "{tasks} tasks are more than this tenant may submit at once ({}); nothing was accepted, send smaller batches",
                        self.limits.burst
                    ),
                    1,
                ),
                remaining,
                1,
            ),
            Admission::TooManyOutstanding => {
                ApiError::too_many_outstanding(self.limits.max_outstanding)
            }
        };
        AuditEvent {
            actor: &principal.actor,
            tenant: &principal.tenant,
            action: Scope::TasksWrite.as_str(),
            outcome: if matches!(admission, Admission::TooManyOutstanding) {
                "too_many_outstanding"
            } else {
                "rate_limited"
            },
            request_id: request_id.unwrap_or(""),
        }
        .emit();
        Err(refusal)
    }

    fn rate_headers(&self, error: ApiError, remaining: u64, reset_secs: u32) -> ApiError {
        let Some(policy) = &self.policy else {
            return error;
        };
        let state = HeaderValue::from_str(&format!("\"tenant\";r={remaining};t={reset_secs}"))
            .expect("digits are a valid header value");
        error
            .with_header(RATELIMIT_POLICY, policy.clone())
            .with_header(RATELIMIT, state)
    }
}
