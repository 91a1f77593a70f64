//! Faults on the Valkey side and on the workers' network: a primary failover with a
//! lagging replica, Valkey unreachable, and added latency on every worker path.

use std::time::Duration;

use tasklane_testkit::fault_proxy::{Close, Direction, Latency};

use super::{Ctx, blocking, sleep};
use crate::local::topology::ValkeyAccess;

const FAILOVER_WITHIN: Duration = Duration::from_secs(60);

pub async fn failover(ctx: &mut Ctx<'_>) {
    let valkey = &ctx.topology.valkey;
    let old = valkey.primary_by_sentinels().expect("the Sentinels agree");
    let link = valkey
        .replication_proxy()
        .expect("the drill's replica replicates through a proxy");
    // Replication falls behind (a slow or lossy link), while the primary goes on
    // acknowledging writes: what is written now exists on the primary only.
    link.stall();
    sleep(ctx.holds.replica_lag).await;
    ctx.started();
    let killed = blocking(|| ctx.topology.valkey.kill_primary());
    // What the primary had sent but the replica had not yet read dies with its host.
    if let Some(link) = ctx.topology.valkey.replication_proxy() {
        link.cut_off();
    }
    let promoted = blocking(|| ctx.topology.valkey.wait_failover(old, FAILOVER_WITHIN));
    let promoted_after = ctx.since_fault();
    let new_primary = ctx.topology.valkey.node(
        ctx.topology
            .valkey
            .node_index(promoted)
            .expect("one of ours"),
    );
    let new_addr = new_primary.addr();
    if ctx.topology.options.valkey_access == ValkeyAccess::Proxy {
        // What HAProxy does once its health check sees the new primary: new
        // connections go there, the ones to the dead primary are closed.
        for proxy in ctx.topology.valkey_proxies() {
            proxy.retarget(new_addr);
            proxy.drop_connections(Close::Reset);
        }
    }
    ctx.healed();
    sleep(ctx.holds.restart_after).await;
    blocking(|| ctx.topology.valkey.start_again(killed));
    let lag = ctx.holds.replica_lag;
    let access = match ctx.topology.options.valkey_access {
        ValkeyAccess::Proxy => "binaries re-pointed by the proxy (HAProxy's role)",
        ValkeyAccess::Sentinel => "binaries follow Sentinel themselves",
    };
    ctx.note(format!(
        "replication stalled {lag:?} before kill -9 of the primary (port {old}); replica \
         promoted {promoted_after:.1} s after the kill; {access}; old primary back as a replica"
    ));
}

pub async fn unreachable(ctx: &mut Ctx<'_>) {
    ctx.started();
    for proxy in ctx.topology.valkey_proxies() {
        proxy.cut_off();
    }
    sleep(ctx.holds.valkey_down).await;
    for proxy in ctx.topology.valkey_proxies() {
        proxy.restore();
    }
    ctx.healed();
    let down = ctx.holds.valkey_down;
    ctx.note(format!(
        "every connection to Valkey reset and new ones refused for {down:?}, for gateways and workers"
    ));
}

pub async fn worker_latency(ctx: &mut Ctx<'_>) {
    let latency = Latency::new(Duration::from_millis(200), Duration::from_millis(50));
    ctx.started();
    for proxy in ctx.topology.worker_paths() {
        proxy.add_latency(Direction::ClientToServer, latency);
    }
    sleep(ctx.holds.latency).await;
    for proxy in ctx.topology.worker_paths() {
        proxy.restore();
    }
    ctx.healed();
    let held = ctx.holds.latency;
    ctx.note(format!(
        "every request of the workers to NATS and Valkey delayed 200 ms ± 50 ms for {held:?} \
         (replies not delayed, as netem on the worker's interface)"
    ));
}
