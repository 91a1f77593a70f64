use std::time::{Duration, Instant};

use tasklane_testkit::FaultProxy;
use tasklane_testkit::resp::{Reply, command, commands, info_field};
use tasklane_testkit::valkey_sentinel::{ValkeyHa, ValkeyHaOptions};

use crate::{connect, read_answer};

const DEADLINE: Duration = Duration::from_secs(60);

fn get(port: u16, key: &str) -> Option<String> {
    match command(port, &["GET", key]).expect("GET answered") {
        Reply::Bulk(value) => value,
        other => panic!("GET {key}: {other:?}"),
    }
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < DEADLINE, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sentinels_promote_the_replica_and_a_retargeted_proxy_reaches_the_new_primary() {
    let mut ha = ValkeyHa::start();
    let primary = ha.primary_by_sentinels().expect("sentinels agree");
    assert_eq!(primary, ha.node(0).port);
    assert_eq!(ha.role(ha.node(1).port).as_deref(), Some("slave"));
    assert_eq!(ha.sentinel_addrs().split(',').count(), 3);

    // HAProxy in front of the primary, as production has it.
    let proxy = FaultProxy::start(ha.node(0).addr());
    let replies = commands(
        proxy.port(),
        &[&["SET", "outcome", "kept"], &["WAIT", "1", "5000"]],
    )
    .unwrap();
    assert_eq!(replies[1], Reply::Integer(1), "the replica has the write");

    let killed = ha.kill_primary();
    assert_eq!(killed, 0);
    let promoted = ha.wait_failover(primary, DEADLINE);
    assert_eq!(promoted, ha.node(1).port);

    proxy.retarget(ha.node(1).addr());
    let mut client = connect(proxy.addr());
    std::io::Write::write_all(&mut client, b"*1\r\n$4\r\nROLE\r\n").unwrap();
    assert!(
        read_answer(&mut client).unwrap().contains("master"),
        "through the proxy: the new primary"
    );
    assert_eq!(get(proxy.port(), "outcome").as_deref(), Some("kept"));
    command(proxy.port(), &["SET", "after", "failover"]).expect("writable");

    // The old primary comes back as a replica of the new one and catches up.
    ha.start_again(killed);
    assert_eq!(ha.role(ha.node(0).port).as_deref(), Some("slave"));
    wait_until("the old primary replicates the new writes", || {
        get(ha.node(0).port, "after").as_deref() == Some("failover")
    });
    assert_eq!(ha.primary_by_sentinels(), Some(promoted));
}

#[test]
fn a_stalled_replication_link_leaves_acknowledged_writes_on_the_primary_only() {
    let ha = ValkeyHa::start_with(ValkeyHaOptions {
        replication_proxy: true,
    });
    let primary = ha.node(0).port;
    let replica = ha.node(1).port;
    let link = ha
        .replication_proxy()
        .expect("replication goes through a proxy");
    assert_eq!(
        info_field(replica, "replication", "master_port"),
        Some(link.port().to_string())
    );

    link.stall();
    let replies = commands(primary, &[&["SET", "late", "1"], &["WAIT", "1", "300"]]).unwrap();
    assert_eq!(
        replies[0],
        Reply::Status("OK".into()),
        "the primary acknowledges without its replica"
    );
    assert_eq!(
        replies[1],
        Reply::Integer(0),
        "no replica confirms while the link is stalled"
    );
    assert_eq!(get(replica, "late"), None);

    link.restore();
    wait_until("the replica catches up", || {
        get(replica, "late").as_deref() == Some("1")
    });
}
