//! Admission leases: a block of a tenant's admissions that one gateway process takes
//! from the shared budget in one `scripts/lease.lua` call and then grants from memory,
//! so a tenant far from its limits is admitted without a Valkey round trip per
//! request.
//!
//! A lease of `k` takes `k` tokens from the tenant's rate bucket, exactly as admitting
//! `k` tasks would, and reserves `k` outstanding slots under the holder's id until an
//! expiry on Valkey's clock; `admit_many.lua` counts every unexpired reservation on
//! top of the outstanding tasks. It is granted only while, after taking it, the bucket
//! still holds [`LEASE_RESERVE`] times `k` tokens and the cap still has as many free
//! slots; otherwise the grant is 0 and the tenant's requests are all decided exactly.
//! Hence, across every gateway replica:
//! - tasks admitted in any window are at most rate x window + burst: every admitted
//!   task took a token from the one bucket, directly or through a lease (and tokens a
//!   lease gives back were never used);
//! - outstanding tasks never exceed the cap by more than the requests admitted and not
//!   yet recorded: a lease's used slots stay reserved until it is renewed or expires,
//!   so they are counted twice once recorded, never zero times;
//! - near either limit, no lease exists and each request is decided by Valkey.
//!
//! The holder gives back what it did not use in the renewal that replaces the lease
//! (or with `want = 0` when it stops); a holder killed without that loses at most one
//! lease's tokens, and its reservation ends at the expiry.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;

use super::TenantLimits;
use crate::names::keys;

/// How many times a lease's size must still be left, in tokens and in free slots,
/// after it is taken: leases exist only far from the limits.
pub const LEASE_RESERVE: u64 = 4;

/// One lease call: give back `returned` unused admissions of the holder's previous
/// lease of `tenant` and ask for `want` new ones lasting `duration`.
#[derive(Debug, Clone, Copy)]
pub struct LeaseRequest<'a> {
    /// The tenant whose budget the lease takes from.
    pub tenant: &'a str,
    /// This gateway process's id; a new lease replaces the holder's previous one.
    pub holder: &'a str,
    /// Admissions wanted; 0 only gives back.
    pub want: u64,
    /// Admissions of the previous lease that were not used.
    pub returned: u64,
    /// The tenant's limits.
    pub limits: TenantLimits,
    /// How long the reservation lasts on Valkey's clock.
    pub duration: Duration,
}

/// Runs `lease.lua` for `request`; returns the admissions granted (0 or `want`).
pub(crate) async fn lease(
    client: &Client,
    script: &Script,
    request: &LeaseRequest<'_>,
) -> Result<u64, fred::error::Error> {
    let limits = request.limits;
    let args = vec![
        request.holder.to_string(),
        request.want.to_string(),
        request.returned.to_string(),
        limits.rate.to_string(),
        limits.burst.to_string(),
        limits.max_outstanding.to_string(),
        (request.duration.as_micros() as u64).to_string(),
        LEASE_RESERVE.to_string(),
    ];
    let script_keys = vec![
        keys::rate(request.tenant),
        keys::outstanding(request.tenant),
        keys::leases(request.tenant),
    ];
    script.evalsha_with_reload(client, script_keys, args).await
}
