//! This gateway's admission leases, one per tenant, and when to renew them: a tenant
//! far from its limits is admitted from memory, and only the renewals go to Valkey
//! (see `tasklane_core::store::LeaseRequest` for what a lease takes from the shared
//! budget and why the limits still hold across replicas).
//!
//! A request takes its tasks from the lease when the lease is unexpired and holds
//! enough; otherwise it is decided exactly, as without leases, and never waits for a
//! renewal. A renewal starts in the background once a quarter of the lease (in
//! admissions or in time) is left, at most one per tenant at a time; from then on the
//! tenant's requests take the exact path until the answer, so the renewal can give
//! back everything the old lease left unused. It is sized from the tenant's demand on
//! this gateway over the last [`WINDOW`]. A tenant whose demand is too small for a
//! lease, or whose lease was refused in the last [`LEASE_DURATION`], is not asked for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tasklane_core::store::{LeaseRequest, Store, TenantLimits};
use tasklane_core::task::TaskId;

use crate::metrics::LeaseMetrics;

/// How long a lease lasts. Short, so that what a killed gateway's reservation holds
/// comes back soon and a lease follows the demand closely; long enough that renewals
/// are a few per second per tenant.
pub(crate) const LEASE_DURATION: Duration = Duration::from_millis(300);
/// The span over which demand is counted to size the next lease.
const WINDOW: Duration = Duration::from_millis(100);
/// The smallest lease worth a call: below it a tenant's requests are decided exactly.
const MIN_LEASE: u64 = 16;
/// The largest lease: bounds what a killed gateway takes with it.
const MAX_LEASE: u64 = 50_000;

/// Every tenant's lease on this gateway. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Leases {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    /// This process's id in the tenants' lease hashes.
    holder: String,
    limits: TenantLimits,
    tenants: Mutex<HashMap<String, TenantLease>>,
    metrics: LeaseMetrics,
    /// Set once the leases were given back: a renewal answered later gives its grant
    /// back at once.
    closed: AtomicBool,
}

#[derive(Default)]
struct TenantLease {
    /// Admissions left in the lease.
    left: u64,
    /// The lease's size when granted.
    granted: u64,
    /// When the lease ends, at the latest as Valkey sees it.
    expires: Option<Instant>,
    /// A renewal is on its way.
    renewing: bool,
    /// No lease is asked for before then (after a refusal or an error).
    quiet_until: Option<Instant>,
    demand: Demand,
}

/// Tasks asked for in the current and the previous [`WINDOW`].
#[derive(Default)]
struct Demand {
    started: Option<Instant>,
    current: u64,
    previous: u64,
}

impl Demand {
    fn record(&mut self, now: Instant, tasks: u64) {
        match self.started {
            Some(started) if now < started + WINDOW => {}
            Some(started) if now < started + 2 * WINDOW => {
                self.previous = self.current;
                self.current = 0;
                self.started = Some(started + WINDOW);
            }
            _ => {
                self.previous = 0;
                self.current = 0;
                self.started = Some(now);
            }
        }
        self.current += tasks;
    }

    /// A lease for the busier of the last two windows' demand, kept up for the
    /// lease's duration; 0 when too small to be worth a call.
    fn lease_size(&self) -> u64 {
        let per_window = self.previous.max(self.current);
        let windows = LEASE_DURATION.as_millis() as u64 / WINDOW.as_millis() as u64;
        let size = per_window * windows;
        if size < MIN_LEASE {
            0
        } else {
            size.min(MAX_LEASE)
        }
    }
}

impl Leases {
    pub(crate) fn new(store: Store, limits: TenantLimits, metrics: LeaseMetrics) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                holder: TaskId::new().to_string(),
                limits,
                tenants: Mutex::new(HashMap::new()),
                metrics,
                closed: AtomicBool::new(false),
            }),
        }
    }

    /// Takes `tasks` admissions of `tenant` from its lease; false when the request
    /// must be decided exactly. Starts a renewal when one is due.
    pub(crate) fn try_take(&self, tenant: &str, tasks: u64) -> bool {
        let now = Instant::now();
        let (taken, renewal) = {
            let mut tenants = self.inner.tenants.lock().expect("lease lock poisoned");
            if !tenants.contains_key(tenant) {
                tenants.insert(tenant.to_string(), TenantLease::default());
            }
            let lease = tenants.get_mut(tenant).expect("inserted above");
            lease.demand.record(now, tasks);
            let live = lease.expires.is_some_and(|expires| now < expires);
            let taken = live && lease.left >= tasks;
            if taken {
                lease.left -= tasks;
            }
            (taken, lease.renewal_due(now, live))
        };
        if taken {
            self.inner.metrics.admitted.inc();
        }
        if let Some((want, returned)) = renewal {
            let leases = self.clone();
            let tenant = tenant.to_string();
            tokio::spawn(async move { leases.renew(tenant, want, returned).await });
        }
        taken
    }

    async fn renew(&self, tenant: String, want: u64, returned: u64) {
        let sent = Instant::now();
        let inner = &self.inner;
        let answer = inner
            .store
            .lease(&LeaseRequest {
                tenant: &tenant,
                holder: &inner.holder,
                want,
                returned,
                limits: inner.limits,
                duration: LEASE_DURATION,
            })
            .await;
        let result = match &answer {
            Ok(0) => "refused",
            Ok(_) => "granted",
            Err(_) => "failed",
        };
        inner.metrics.leases.with_label_values(&[result]).inc();
        if returned > 0 && answer.is_ok() {
            inner.metrics.leases.with_label_values(&["returned"]).inc();
        }
        if let Ok(granted @ 1..) = answer
            && inner.closed.load(Ordering::SeqCst)
        {
            self.give_back_one(&tenant, granted).await;
            return;
        }
        let mut tenants = inner.tenants.lock().expect("lease lock poisoned");
        let Some(lease) = tenants.get_mut(&tenant) else {
            return;
        };
        lease.renewing = false;
        match answer {
            Ok(granted) if granted > 0 => {
                lease.left = granted;
                lease.granted = granted;
                // Valkey's expiry counts from when it ran the call, later than this.
                lease.expires = Some(sent + LEASE_DURATION);
            }
            Ok(_) => lease.quiet_until = Some(Instant::now() + LEASE_DURATION),
            Err(error) => {
                // The exact path reports a Valkey that cannot be reached; the tokens
                // given back, if the call did not run, are lost (at most one lease).
                tracing::debug!(%tenant, error = %error, "admission lease not renewed");
                lease.quiet_until = Some(Instant::now() + LEASE_DURATION);
            }
        }
    }

    /// Gives every lease back (unused tokens into the buckets, reservations deleted),
    /// for a gateway that stops; no lease is taken after this.
    pub(crate) async fn give_back(&self) {
        let inner = &self.inner;
        inner.closed.store(true, Ordering::SeqCst);
        let held: Vec<(String, u64)> = {
            let mut tenants = inner.tenants.lock().expect("lease lock poisoned");
            let held = tenants
                .iter_mut()
                .filter(|(_, lease)| lease.expires.is_some())
                .map(|(tenant, lease)| (tenant.clone(), std::mem::take(&mut lease.left)))
                .collect();
            for lease in tenants.values_mut() {
                lease.expires = None;
                lease.renewing = true;
            }
            held
        };
        for (tenant, returned) in held {
            self.give_back_one(&tenant, returned).await;
        }
    }

    async fn give_back_one(&self, tenant: &str, returned: u64) {
        let inner = &self.inner;
        let request = LeaseRequest {
            tenant,
            holder: &inner.holder,
            want: 0,
            returned,
            limits: inner.limits,
            duration: LEASE_DURATION,
        };
        match inner.store.lease(&request).await {
            Ok(_) => inner.metrics.leases.with_label_values(&["returned"]).inc(),
            Err(error) => {
                tracing::warn!(%tenant, error = %error, "admission lease not given back; it ends at its expiry");
            }
        }
    }
}

impl TenantLease {
    /// `(want, returned)` when a renewal should start now; marks it started and takes
    /// what is left of the lease out of use.
    fn renewal_due(&mut self, now: Instant, live: bool) -> Option<(u64, u64)> {
        if self.renewing || self.quiet_until.is_some_and(|until| now < until) {
            return None;
        }
        let running_low = match self.expires {
            Some(expires) if live => {
                self.left * 4 <= self.granted || expires - now <= LEASE_DURATION / 4
            }
            _ => true,
        };
        if !running_low {
            return None;
        }
        let want = self.demand.lease_size();
        let returned = self.left;
        if want == 0 && returned == 0 && self.expires.is_none() {
            return None;
        }
        self.renewing = true;
        self.left = 0;
        self.expires = None;
        Some((want, returned))
    }
}
