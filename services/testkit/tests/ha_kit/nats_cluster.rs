use std::time::Duration;

use async_nats::jetstream::stream::{Config, StorageType};
use tasklane_testkit::{NatsCluster, eventually};

const STREAM: &str = "KIT";
const DEADLINE: Duration = Duration::from_secs(60);

async fn create_r3_stream(cluster: &NatsCluster) {
    let js = cluster.jetstream().await;
    js.create_stream(Config {
        name: STREAM.into(),
        subjects: vec!["kit.>".into()],
        num_replicas: 3,
        storage: StorageType::File,
        ..Default::default()
    })
    .await
    .expect("an R3 stream can be created on three nodes");
}

/// Publishes `count` messages, retrying each until JetStream acknowledges it (an
/// election after a node loss takes a moment).
async fn publish(cluster: &NatsCluster, count: usize) {
    let js = cluster.jetstream().await;
    for i in 0..count {
        eventually(DEADLINE, "publish acknowledged", || async {
            let ack = js.publish("kit.msg", format!("{i}").into()).await.ok()?;
            ack.await.ok()
        })
        .await;
    }
}

async fn messages_seen_by(cluster: &NatsCluster, node: usize) -> u64 {
    let client = async_nats::connect(cluster.node(node).url())
        .await
        .expect("node reachable");
    let js = async_nats::jetstream::new(client);
    let mut stream = js.get_stream(STREAM).await.expect("stream");
    stream.info().await.expect("info").state.messages
}

#[tokio::test(flavor = "multi_thread")]
async fn an_r3_stream_survives_its_leader_killed_and_the_node_catches_up_on_restart() {
    let mut cluster = NatsCluster::start(3);
    assert_eq!(cluster.urls().split(',').count(), 3);
    create_r3_stream(&cluster).await;
    publish(&cluster, 10).await;
    cluster.wait_stream_current(STREAM, DEADLINE).await;

    let leader = cluster.stream_leader(STREAM).await;
    let follower = cluster.stream_follower(STREAM).await;
    assert_ne!(leader, follower);
    let port = cluster.node(leader).port;
    cluster.kill9(leader);
    assert!(!cluster.node(leader).is_running());

    publish(&cluster, 10).await;
    let new_leader = cluster.stream_leader(STREAM).await;
    assert_ne!(new_leader, leader, "another node leads after the kill");

    cluster.start_again(leader);
    assert_eq!(
        cluster.node(leader).port,
        port,
        "same ports after a restart"
    );
    cluster.wait_stream_current(STREAM, DEADLINE).await;
    eventually(DEADLINE, "the restarted node has every message", || async {
        (messages_seen_by(&cluster, leader).await == 20).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_follower_leaves_the_stream_writable_and_the_whole_cluster_restarts() {
    let mut cluster = NatsCluster::start(3);
    create_r3_stream(&cluster).await;
    cluster.wait_stream_current(STREAM, DEADLINE).await;

    let follower = cluster.stream_follower(STREAM).await;
    cluster.stop(follower);
    publish(&cluster, 5).await;
    cluster.start_again(follower);

    for node in 0..cluster.len() {
        cluster.stop(node);
    }
    cluster.start_stopped();
    cluster.wait_stream_current(STREAM, DEADLINE).await;
    publish(&cluster, 5).await;
    eventually(
        DEADLINE,
        "every message kept across the restart",
        || async { (messages_seen_by(&cluster, follower).await == 10).then_some(()) },
    )
    .await;
}
