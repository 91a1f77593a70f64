//! Per-tenant admission: the rate limit every gateway replica shares and the cap on
//! outstanding tasks, decided in one script call (`scripts/admit.lua`) per request.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;

use super::error::StoreError;
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

pub(crate) async fn admit(
    client: &Client,
    script: &Script,
    tenant: &str,
    n: u64,
    limits: TenantLimits,
) -> Result<Admission, StoreError> {
    let reply: Vec<String> = script
        .evalsha_with_reload(
            client,
            vec![keys::rate(tenant), keys::outstanding(tenant)],
            vec![
                n.to_string(),
                limits.rate.to_string(),
                limits.burst.to_string(),
                limits.max_outstanding.to_string(),
            ],
        )
        .await?;
    let number = |i: usize| -> u64 { reply.get(i).and_then(|v| v.parse().ok()).unwrap_or(0) };
    Ok(match reply.first().map(String::as_str) {
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
    })
}
