//! Valkey as production runs it (primary, replica, three Sentinels): the binaries find
//! the primary through Sentinel, follow a failover without a restart, and acknowledge
//! a task only once a replica has its outcome (`TASKLANE_VALKEY__MIN_REPLICAS_ACK`).
//! And a NATS cluster with a node that stops answering.
//! These tests kill and restart servers; they run one at a time (.config/nextest.toml).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use tasklane_testkit::valkey_sentinel::{SENTINEL_SERVICE, ValkeyHa, ValkeyHaOptions};
use tasklane_testkit::{ApiClient, FaultProxy, NatsCluster, Stack, eventually};

/// Sentinel discovery with replica-confirmed outcomes. `TASKLANE_VALKEY__URL` stays
/// pointed at the stack's own stand-alone Valkey: Sentinel must take precedence.
fn through_sentinel(ha: &ValkeyHa) -> Vec<(&'static str, String)> {
    vec![
        ("TASKLANE_VALKEY__SENTINELS", ha.sentinel_addrs()),
        ("TASKLANE_VALKEY__SENTINEL_SERVICE", SENTINEL_SERVICE.into()),
        ("TASKLANE_VALKEY__MIN_REPLICAS_ACK", "1".into()),
        ("TASKLANE_VALKEY__REPLICA_ACK_TIMEOUT", "300ms".into()),
    ]
}

fn borrowed<'a>(overrides: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    overrides.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn submit_echoes(client: &ApiClient, n: usize) -> Vec<String> {
    client
        .submit_batch(
            (0..n)
                .map(|i| json!({"type": "echo", "payload": i}))
                .collect(),
        )
        .await
}

/// Every task finished with a final status readable through the gateway (which reads
/// the primary the Sentinels name), counted once each, and nothing left in the queue.
async fn assert_all_finished_once(stack: &Stack, client: &ApiClient, ids: &[String]) {
    for id in ids {
        let record = client
            .wait_for_status(id, "succeeded", Duration::from_secs(60))
            .await;
        // Attempt starts are not confirmed by a replica; the outcome write carries
        // the attempt, so a finished task never reads as never attempted.
        assert!(record["attempts"].as_u64() >= Some(1), "{record}");
    }
    assert_eq!(client.processed_count().await, ids.len() as u64);
    all_acknowledged(stack).await;
}

/// Waits until the worker has acknowledged every message (an outcome is written before
/// its message is acknowledged, so the last acks may trail the records).
async fn all_acknowledged(stack: &Stack) {
    eventually(
        Duration::from_secs(30),
        "every message to be acknowledged",
        || async { (stack.work_stream_messages().await == 0).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sentinel_failover_loses_no_acknowledged_outcome() {
    let mut ha = ValkeyHa::start_with(ValkeyHaOptions {
        replication_proxy: true,
    });
    let stack = Stack::start();
    let overrides = through_sentinel(&ha);
    let worker = stack.worker(&borrowed(&overrides)).await;
    let api = stack.api(&borrowed(&overrides)).await;
    let client = api.client();

    let mut ids = submit_echoes(&client, 20).await;
    for id in &ids {
        client
            .wait_for_status(id, "succeeded", Duration::from_secs(30))
            .await;
    }

    // Replication stalls: whatever is written now exists on the primary only. A worker
    // that acknowledged these tasks now would lose their outcomes with the primary.
    ha.replication_proxy()
        .expect("replicates through a proxy")
        .stall();
    ids.extend(submit_echoes(&client, 20).await);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        stack.work_stream_messages().await > 0,
        "tasks whose outcome no replica has are held, not acknowledged"
    );

    let old = ha.primary_by_sentinels().expect("the Sentinels agree");
    let killed = tokio::task::block_in_place(|| ha.kill_primary());
    ha.replication_proxy()
        .expect("replicates through a proxy")
        .cut_off();
    let promoted = tokio::task::block_in_place(|| ha.wait_failover(old, Duration::from_secs(30)));
    assert_ne!(promoted, old);
    // The old primary comes back as a replica of the promoted one: from then on a
    // replica can confirm again, and the held tasks are written and acknowledged.
    tokio::task::block_in_place(|| ha.start_again(killed));

    assert_all_finished_once(&stack, &client, &ids).await;
    api.stop().await;
    worker.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_replica_outcomes_are_held_not_acknowledged() {
    let mut ha = ValkeyHa::start();
    let stack = Stack::start();
    let overrides = through_sentinel(&ha);
    let worker = stack.worker(&borrowed(&overrides)).await;
    let api = stack.api(&borrowed(&overrides)).await;
    let client = api.client();

    let primary = ha.primary_by_sentinels().expect("the Sentinels agree");
    let replica = ha
        .nodes()
        .iter()
        .position(|node| node.port != primary)
        .expect("a replica");
    tokio::task::block_in_place(|| ha.kill9(replica));
    let ids = submit_echoes(&client, 5).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        stack.work_stream_messages().await,
        5,
        "no task is acknowledged while no replica confirms its outcome"
    );
    let store_errors = tasklane_testkit::client::metric_value(
        &worker.client().metrics().await,
        "worker_store_errors_total",
        &[],
    );
    assert!(
        store_errors > 0.0,
        "the shortfall is counted as a store error"
    );

    tokio::task::block_in_place(|| ha.start_again(replica));
    eventually(
        Duration::from_secs(30),
        "the held tasks to be acknowledged",
        || async { (stack.work_stream_messages().await == 0).then_some(()) },
    )
    .await;
    assert_all_finished_once(&stack, &client, &ids).await;
    api.stop().await;
    worker.stop().await;
}

/// A NATS node that stops answering without closing its connections (stalled by the
/// proxy in front of it) is found out by the worker's pings, and tasks run again
/// through another node within the 10 s the SPEC allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_nats_node_is_left_for_another_within_10s() {
    let cluster = NatsCluster::start(3);
    let stack = Stack::start();
    let proxies: Vec<FaultProxy> = cluster
        .nodes()
        .iter()
        .map(|node| FaultProxy::start(SocketAddr::from(([127, 0, 0, 1], node.port))))
        .collect();
    let proxied: Vec<String> = proxies
        .iter()
        .map(|p| format!("nats://{}", p.addr()))
        .collect();
    let proxied = proxied.join(",");
    let worker = stack
        .worker(&[
            ("TASKLANE_NATS__URL", proxied.as_str()),
            ("TASKLANE_STREAM__REPLICAS", "3"),
        ])
        .await;
    let cluster_urls = cluster.urls();
    let api = stack
        .api(&[("TASKLANE_NATS__URL", cluster_urls.as_str())])
        .await;
    let client = api.client();
    let first = client.submit(&json!({"type": "echo", "payload": 0})).await;
    client
        .wait_for_status(&first, "succeeded", Duration::from_secs(20))
        .await;

    let used = proxies
        .iter()
        .find(|p| p.connections() > 0)
        .expect("the worker is connected through one of the proxies");
    used.stall();
    let stalled_at = Instant::now();
    let id = client.submit(&json!({"type": "echo", "payload": 1})).await;
    client
        .wait_for_status(&id, "succeeded", Duration::from_secs(10))
        .await;
    let recovered_after = stalled_at.elapsed();
    assert!(
        recovered_after < Duration::from_secs(10),
        "{recovered_after:?}"
    );
    used.restore();
    api.stop().await;
    worker.stop().await;
}
