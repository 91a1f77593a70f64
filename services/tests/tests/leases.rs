//! Admission leases: a gateway admits a tenant far from its limits from a block it
//! took from the shared budget, and the limits still hold across replicas; near a
//! limit every request is decided exactly; a lease's unused part goes back into the
//! budget on renewal and on SIGTERM, and a killed gateway's reservation ends at its
//! expiry.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tasklane_core::store::{Admission, LEASE_RESERVE, LeaseRequest, Store, TenantLimits};
use tasklane_testkit::apps::declare_topology;
use tasklane_testkit::client::metric_value;
use tasklane_testkit::resp;
use tasklane_testkit::{ApiClient, Stack};

/// The tenant of every request when authentication is off.
const TENANT: &str = "default";
const LEASE: Duration = Duration::from_millis(300);

/// Valkey's clock, in µs.
fn valkey_now(stack: &Stack) -> u64 {
    let reply = resp::command(stack.valkey.port, &["TIME"]).unwrap();
    let part = |i: usize| -> u64 { reply.items()[i].text().unwrap().parse().unwrap() };
    part(0) * 1_000_000 + part(1)
}

/// The tenant's lease reservations: (holder, slots, expiry in µs).
fn reservations(stack: &Stack) -> Vec<(String, u64, u64)> {
    let key = format!("tasklane:tenant:{TENANT}:leases");
    let reply = resp::command(stack.valkey.port, &["HGETALL", &key]).unwrap();
    reply
        .items()
        .chunks(2)
        .map(|pair| {
            let (slots, expiry) = pair[1].text().unwrap().split_once(':').unwrap();
            (
                pair[0].text().unwrap().to_string(),
                slots.parse().unwrap(),
                expiry.parse().unwrap(),
            )
        })
        .collect()
}

/// The latest expiry among the tenant's live reservations, if any is live.
fn live_lease_expiry(stack: &Stack) -> Option<u64> {
    let now = valkey_now(stack);
    reservations(stack)
        .iter()
        .map(|r| r.2)
        .filter(|expiry| *expiry > now)
        .max()
}

fn store(stack: &Stack) -> Store {
    let settings = stack.settings(&[]);
    Store::connect(&settings.valkey, settings.results.ttl).unwrap()
}

fn batch(n: usize) -> Value {
    json!({"tasks": vec![json!({"type": "echo", "payload": {}}); n]})
}

/// `connections` loops, each posting batches of `size` until `stop` is set, the
/// deadline passes, or (with `until_refused`) it is refused. Returns the tasks
/// accepted and the refusals.
async fn flood(
    client: &ApiClient,
    size: usize,
    connections: usize,
    deadline: Instant,
    until_refused: bool,
    stop: &AtomicBool,
) -> (u64, u64) {
    let accepted = AtomicU64::new(0);
    let refused = AtomicU64::new(0);
    let body = batch(size);
    join_all((0..connections).map(|_| async {
        while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            let status = client.post_json("/tasks", &body).await.status();
            if status == StatusCode::ACCEPTED {
                accepted.fetch_add(size as u64, Ordering::SeqCst);
            } else {
                assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
                refused.fetch_add(1, Ordering::SeqCst);
                if until_refused {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }))
    .await;
    (accepted.into_inner(), refused.into_inner())
}

/// Requests admitted from a lease, and lease calls made.
async fn lease_use(client: &ApiClient) -> (f64, f64) {
    let metrics = client.metrics().await;
    let calls: f64 = ["granted", "refused", "failed"]
        .iter()
        .map(|r| metric_value(&metrics, "api_admission_leases_total", &[("result", r)]))
        .sum();
    (
        metric_value(&metrics, "api_lease_admissions_total", &[]),
        calls,
    )
}

/// Two gateways flood one tenant whose burst is large enough for leases, well past
/// the burst: what they admit stays within rate x elapsed + burst on Valkey's clock,
/// and most requests were admitted from leases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_leasing_gateways_admit_no_more_than_the_shared_rate_allows() {
    const RATE: u64 = 500;
    const BURST: u64 = 20_000;
    let stack = Stack::start();
    let limits = [
        ("TASKLANE_LIMITS__TENANT_RATE", "500"),
        ("TASKLANE_LIMITS__TENANT_BURST", "20000"),
    ];
    let (one, two) = (stack.api(&limits).await, stack.api(&limits).await);
    let clients = [one.client(), two.client()];
    let started = valkey_now(&stack);
    let deadline = Instant::now() + Duration::from_secs(6);
    let stop = AtomicBool::new(false);
    let floods = join_all(
        clients
            .iter()
            .map(|client| flood(client, 50, 3, deadline, false, &stop)),
    )
    .await;
    let elapsed_us = valkey_now(&stack) - started;
    let accepted: u64 = floods.iter().map(|(a, _)| a).sum();
    let refused: u64 = floods.iter().map(|(_, r)| r).sum();
    assert!(
        refused > 0,
        "the flood outran the rate ({accepted} accepted)"
    );
    let allowed = RATE * elapsed_us / 1_000_000 + 1 + BURST;
    assert!(
        accepted <= allowed,
        "{accepted} tasks admitted in {elapsed_us} µs; the shared budget allows {allowed}"
    );
    assert!(accepted >= BURST, "only {accepted} of the burst admitted");
    let (mut from_leases, mut calls) = (0.0, 0.0);
    for client in &clients {
        let (admitted, made) = lease_use(client).await;
        from_leases += admitted;
        calls += made;
    }
    assert!(
        from_leases >= 100.0 && calls * 4.0 <= from_leases,
        "{from_leases} requests admitted from leases, {calls} lease calls"
    );
    assert_eq!(stack.work_stream_messages().await, accepted);
}

/// Two gateways flood a tenant with a cap and no worker: the leases' reservations
/// keep every gateway from taking a slot another holds, so what is accepted stays
/// within the cap (plus the one request the other gateway may have admitted and not
/// yet recorded), and the count is exact afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leases_from_two_gateways_stay_within_the_outstanding_cap() {
    const CAP: u64 = 6_000;
    const SIZE: usize = 50;
    let stack = Stack::start();
    let limits = [("TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING", "6000")];
    let (one, two) = (stack.api(&limits).await, stack.api(&limits).await);
    let clients = [one.client(), two.client()];
    let deadline = Instant::now() + Duration::from_secs(30);
    let stop = AtomicBool::new(false);
    let floods = join_all(
        clients
            .iter()
            .map(|client| flood(client, SIZE, 1, deadline, true, &stop)),
    )
    .await;
    let accepted: u64 = floods.iter().map(|(a, _)| a).sum();
    assert!(
        floods.iter().all(|(_, refused)| *refused == 1),
        "{floods:?}"
    );
    assert!(
        accepted <= CAP + SIZE as u64,
        "{accepted} accepted under a cap of {CAP}"
    );
    assert!(
        accepted + 2 * SIZE as u64 >= CAP,
        "only {accepted} accepted"
    );
    let store = store(&stack);
    assert_eq!(store.outstanding(TENANT).await.unwrap(), accepted);
    let (from_leases, _) = lease_use(&clients[0]).await;
    let (more, _) = lease_use(&clients[1]).await;
    assert!(from_leases + more >= 10.0, "no lease was used");
}

/// A gateway killed -9 while holding a lease cannot give it back; once the lease's
/// expiry passes, another gateway can fill the whole cap again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_gateways_reservation_ends_at_its_expiry() {
    const CAP: u64 = 3_000;
    let stack = Stack::start();
    let limits = [("TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING", "3000")];
    declare_topology(&stack.settings(&[])).await;
    let mut doomed = stack.api_process(&limits);
    doomed.wait_ready().await;
    let client = doomed.client();
    let stop = Arc::new(AtomicBool::new(false));
    let flooding = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(20);
            flood(&client, 10, 4, deadline, true, &stop).await
        })
    };
    let started = Instant::now();
    while live_lease_expiry(&stack).is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the gateway took no lease"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    doomed.kill9();
    let now = valkey_now(&stack);
    let expiry =
        live_lease_expiry(&stack).expect("the dead gateway's lease is live after the kill");
    stop.store(true, Ordering::SeqCst);
    flooding.abort();
    tokio::time::sleep(
        Duration::from_micros(expiry.saturating_sub(now)) + Duration::from_millis(5),
    )
    .await;

    let survivor = stack.api(&limits).await;
    let client = survivor.client();
    let deadline = Instant::now() + Duration::from_secs(60);
    let never = AtomicBool::new(false);
    flood(&client, 10, 1, deadline, true, &never).await;
    flood(&client, 1, 1, deadline, true, &never).await;
    let store = store(&stack);
    assert_eq!(
        store.outstanding(TENANT).await.unwrap(),
        CAP,
        "the dead gateway's slots came back"
    );
}

/// SIGTERM gives the lease back: its unused tokens are in the bucket at once (and
/// its reservation is gone), so the bucket holds exactly the burst minus what was
/// accepted, plus what refilled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_stopped_by_sigterm_gives_its_leases_back() {
    const BURST: u64 = 100_000;
    let stack = Stack::start();
    let limits = [
        ("TASKLANE_LIMITS__TENANT_RATE", "1"),
        ("TASKLANE_LIMITS__TENANT_BURST", "100000"),
        ("TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING", "1000000"),
    ];
    declare_topology(&stack.settings(&[])).await;
    let mut gateway = stack.api_process(&limits);
    gateway.wait_ready().await;
    let client = gateway.client();
    let started = Instant::now();
    let stop = AtomicBool::new(false);
    let mut accepted = 0;
    loop {
        let deadline = Instant::now() + Duration::from_millis(500);
        accepted += flood(&client, 10, 4, deadline, true, &stop).await.0;
        if live_lease_expiry(&stack).is_some() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the gateway took no lease"
        );
    }
    let (from_lease, _) = lease_use(&client).await;
    assert!(from_lease > 0.0);
    assert!(gateway.terminate(Duration::from_secs(10)).success());
    assert!(
        reservations(&stack).is_empty(),
        "the reservation outlived the gateway"
    );

    let left = remaining(&store(&stack), tenant_limits(1, BURST as u32, 0)).await;
    let refilled = started.elapsed().as_secs() + 1;
    let expected = BURST - accepted - 1;
    assert!(
        left >= expected && left <= expected + refilled,
        "{left} tokens left; {accepted} tasks were accepted from {BURST}"
    );
}

/// One gateway drains a large bucket through leases and the exact path; another's
/// single requests are then decided exactly: no lease is granted below the reserve,
/// and nothing is left stranded in a lease, so together they get exactly the burst
/// (plus what refilled).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_the_limit_a_second_gateways_requests_are_decided_exactly() {
    const BURST: u64 = 8_000;
    let stack = Stack::start();
    let limits = [
        ("TASKLANE_LIMITS__TENANT_RATE", "1"),
        ("TASKLANE_LIMITS__TENANT_BURST", "8000"),
    ];
    let (first, second) = (stack.api(&limits).await, stack.api(&limits).await);
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    let never = AtomicBool::new(false);
    let (drained, _) = flood(&first.client(), 20, 4, deadline, true, &never).await;
    let (from_leases, _) = lease_use(&first.client()).await;
    assert!(from_leases > 0.0, "the first gateway took no lease");
    // Whatever the first gateway's last lease left goes back when its renewal is
    // answered; singles from the second take exactly what is left.
    tokio::time::sleep(LEASE).await;
    let (singles, _) = flood(&second.client(), 1, 1, deadline, true, &never).await;
    let refilled = started.elapsed().as_secs() + 1;
    let total = drained + singles;
    assert!(
        total >= BURST && total <= BURST + refilled,
        "{drained} + {singles} tasks admitted from a burst of {BURST}"
    );
    let (second_leases, calls) = lease_use(&second.client()).await;
    assert_eq!(second_leases, 0.0, "{calls} lease calls");
}

fn tenant_limits(rate: u32, burst: u32, max_outstanding: u64) -> TenantLimits {
    TenantLimits {
        rate,
        burst,
        max_outstanding,
    }
}

/// What is left in the bucket, read by admitting one task.
async fn remaining(store: &Store, limits: TenantLimits) -> u64 {
    match store.admit(TENANT, 1, limits).await.unwrap() {
        Admission::Admitted { remaining } => remaining,
        other => panic!("{other:?}"),
    }
}

/// A lease takes its tokens from the bucket, and its renewal gives back exactly the
/// unused part; a lease is refused when it would leave less than the reserve, and the
/// refusal takes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_gives_back_the_unused_tokens_and_no_lease_is_granted_near_the_limit() {
    let stack = Stack::start();
    let store = store(&stack);
    // One token a minute refills: nothing moves during the test.
    let limits = tenant_limits(1, 10_000, 0);
    let request = |want, returned| LeaseRequest {
        tenant: TENANT,
        holder: "gateway-a",
        want,
        returned,
        limits,
        duration: LEASE,
    };
    let before = remaining(&store, limits).await;
    assert_eq!(store.lease(&request(1_000, 0)).await.unwrap(), 1_000);
    let leased = remaining(&store, limits).await;
    assert!(
        leased + 1_001 <= before && leased + 1_003 >= before,
        "{before} -> {leased}"
    );
    // 400 of the lease were used: 600 go back, and no new lease is taken.
    assert_eq!(store.lease(&request(0, 600)).await.unwrap(), 0);
    let returned = remaining(&store, limits).await;
    assert!(
        returned >= leased + 599 && returned <= leased + 601,
        "{leased} -> {returned}"
    );

    // Drain to 1,000 left: a lease of 300 would leave less than 4 x 300.
    let drain = returned - 1_000;
    assert!(matches!(
        store.admit(TENANT, drain, limits).await.unwrap(),
        Admission::Admitted { .. }
    ));
    assert_eq!(store.lease(&request(300, 0)).await.unwrap(), 0);
    let left = remaining(&store, limits).await;
    assert!((998..=1_000).contains(&left), "{left}");
    let small = left / (LEASE_RESERVE + 1);
    assert_eq!(store.lease(&request(small, 0)).await.unwrap(), small);
}

/// A lease reserves outstanding slots that the exact path counts for every other
/// request until the holder gives them back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leases_reserved_slots_are_counted_by_every_exact_admission() {
    let stack = Stack::start();
    let store = store(&stack);
    let limits = tenant_limits(0, 0, 1_000);
    let request = |want| LeaseRequest {
        tenant: TENANT,
        holder: "gateway-a",
        want,
        returned: 0,
        limits,
        duration: Duration::from_secs(60),
    };
    assert_eq!(store.lease(&request(200)).await.unwrap(), 200);
    assert_eq!(
        store.admit(TENANT, 801, limits).await.unwrap(),
        Admission::TooManyOutstanding
    );
    assert!(matches!(
        store.admit(TENANT, 800, limits).await.unwrap(),
        Admission::Admitted { .. }
    ));
    assert_eq!(store.lease(&request(0)).await.unwrap(), 0);
    assert!(reservations(&stack).is_empty());
    assert!(matches!(
        store.admit(TENANT, 1_000, limits).await.unwrap(),
        Admission::Admitted { .. }
    ));

    // A holder that never gives its lease back (killed) holds its slots only until
    // the expiry, even while another holder's lease keeps the hash alive and no
    // lease call sweeps it.
    let other_tenant = tenant_limits(0, 0, 1_000);
    let lease_of = |holder, duration| LeaseRequest {
        tenant: "abandoned",
        holder,
        want: 100,
        returned: 0,
        limits: other_tenant,
        duration,
    };
    let short = lease_of("gateway-b", Duration::from_millis(100));
    assert_eq!(store.lease(&short).await.unwrap(), 100);
    let long = lease_of("gateway-c", Duration::from_secs(60));
    assert_eq!(store.lease(&long).await.unwrap(), 100);
    assert_eq!(
        store.admit("abandoned", 801, other_tenant).await.unwrap(),
        Admission::TooManyOutstanding
    );
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(matches!(
        store.admit("abandoned", 900, other_tenant).await.unwrap(),
        Admission::Admitted { .. }
    ));
}
