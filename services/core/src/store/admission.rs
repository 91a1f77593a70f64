//! Per-tenant admission: the rate limit every gateway replica shares and the cap on
//! outstanding tasks, decided by `scripts/admit_many.lua`. Concurrent requests'
//! admissions share one script call (group commit), so the quota costs the hot path
//! a fraction of a round trip per request instead of one each; [`lease`] spares a
//! tenant far from its limits even that.

pub(crate) mod lease;

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;

use crate::names::keys;

/// A tenant's limits; a zero turns that limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TenantLimits {
    /// Tasks per second.
    pub rate: u32,
    /// Bucket size: most tasks admitted at once after a quiet spell.
    pub burst: u32,
    /// Tasks accepted and not finished.
    pub max_outstanding: u64,
}

impl TenantLimits {
    /// Whether any limit is on, i.e. whether admission needs Valkey at all.
    pub fn any(&self) -> bool {
        self.rate > 0 || self.max_outstanding > 0
    }
}

/// What admitting `n` tasks found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Go ahead; `remaining` more tasks would be admitted right now.
    Admitted {
        /// Tasks left in the bucket.
        remaining: u64,
    },
    /// Over the rate: the same request fits after `retry_after`.
    RateLimited {
        /// When the request would fit.
        retry_after: Duration,
        /// Tasks left in the bucket now.
        remaining: u64,
    },
    /// More tasks than the bucket holds: this request never fits; smaller ones do.
    LargerThanBurst {
        /// Tasks left in the bucket now.
        remaining: u64,
    },
    /// The tenant has too many tasks accepted and not finished.
    TooManyOutstanding,
}

/// One request's admission, waiting for its batch.
pub(crate) struct AdmitRequest {
    pub(crate) tenant: String,
    pub(crate) n: u64,
    pub(crate) limits: TenantLimits,
}

/// One `admit_many.lua` call for `requests`, answered in their order. The script
/// decides them one after another, so a batch admits exactly what the same requests
/// sent one by one in this order would.
pub(crate) async fn admit_many(
    client: Client,
    script: Script,
    requests: Vec<AdmitRequest>,
) -> Result<Vec<Admission>, fred::error::Error> {
    // Each tenant's keys go once; a request names its tenant by position.
    let mut tenants: Vec<&str> = Vec::new();
    let mut script_keys = Vec::new();
    let mut args = Vec::with_capacity(requests.len() * 5);
    for request in &requests {
        let index = match tenants.iter().position(|t| *t == request.tenant) {
            Some(index) => index,
            None => {
                tenants.push(&request.tenant);
                script_keys.push(keys::rate(&request.tenant));
                script_keys.push(keys::outstanding(&request.tenant));
                script_keys.push(keys::leases(&request.tenant));
                tenants.len() - 1
            }
        };
        args.push((index + 1).to_string());
        args.push(request.n.to_string());
        args.push(request.limits.rate.to_string());
        args.push(request.limits.burst.to_string());
        args.push(request.limits.max_outstanding.to_string());
    }
    let reply: Vec<String> = script
        .evalsha_with_reload(&client, script_keys, args)
        .await?;
    Ok(reply.chunks(3).map(parse_admission).collect())
}

/// One request's part of the reply: verdict, retry after (µs), remaining.
fn parse_admission(reply: &[String]) -> Admission {
    let number = |i: usize| -> u64 { reply.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    match reply.first().map(String::as_str) {
        Some("rate") => Admission::RateLimited {
            retry_after: Duration::from_micros(number(1)),
            remaining: number(2),
        },
        Some("too_big") => Admission::LargerThanBurst {
            remaining: number(2),
        },
        Some("outstanding") => Admission::TooManyOutstanding,
        _ => Admission::Admitted {
            remaining: number(2),
        },
    }
}
