//! Faults of the NATS cluster: a node killed (a follower or the stream leader), a node
//! stalled behind its proxies, the whole cluster restarted.

use std::time::{Duration, Instant};

use super::{Ctx, blocking, sleep};
use crate::local::topology::STREAM;

/// SPEC, High availability: service through another node resumes within 10 s of a
/// node that stopped answering.
const DETECT_WITHIN_S: f64 = 10.0;
const CURRENT: Duration = Duration::from_secs(60);

pub async fn kill_node(ctx: &mut Ctx<'_>, leader: bool) {
    let nats = &ctx.topology.nats;
    nats.wait_stream_current(STREAM, CURRENT).await;
    let node = if leader {
        nats.stream_leader(STREAM).await
    } else {
        nats.stream_follower(STREAM).await
    };
    let name = nats.node(node).name.clone();
    ctx.started();
    blocking(|| ctx.topology.nats.kill9(node));
    let nats = &ctx.topology.nats;
    let new_leader = nats.stream_leader(STREAM).await;
    let elected = ctx.since_fault();
    let new_leader = ctx.topology.nats.node(new_leader).name.clone();
    sleep(ctx.holds.nats_down).await;
    blocking(|| ctx.topology.nats.start_again(node));
    ctx.healed();
    let role = if leader { "stream leader" } else { "follower" };
    ctx.note(format!(
        "kill -9 of {name} ({role}); stream led by {new_leader} {elected:.1} s later; \
         {name} started again after {:?}",
        ctx.holds.nats_down
    ));
}

pub async fn stall_node(ctx: &mut Ctx<'_>) {
    let node = ctx.topology.busiest_nats_node();
    let name = ctx.topology.nats.node(node).name.clone();
    let connections: usize = ctx
        .topology
        .nats_node_proxies(node)
        .iter()
        .map(|p| p.connections())
        .sum();
    ctx.started();
    let stalled_at = Instant::now();
    let proxies = ctx.topology.nats_node_proxies(node);
    for proxy in proxies {
        proxy.stall();
    }
    // The stall lasts its time, and longer (up to twice) while clients still hold on,
    // so a slow detection is measured rather than cut short.
    let stall = ctx.holds.stall;
    let limit = stall * 2;
    let detected = loop {
        let holding_on: usize = proxies
            .iter()
            .map(|p| p.clients_holding_on(stalled_at))
            .sum();
        if holding_on == 0 {
            break Some(stalled_at.elapsed());
        }
        if stalled_at.elapsed() >= limit {
            break None;
        }
        sleep(Duration::from_millis(100)).await;
    };
    if let Some(remaining) = stall.checked_sub(stalled_at.elapsed()) {
        sleep(remaining).await;
    }
    let stalled_for = stalled_at.elapsed();
    for proxy in ctx.topology.nats_node_proxies(node) {
        proxy.restore();
    }
    ctx.healed();
    ctx.fault.detect_s = detected.map(|d| d.as_secs_f64());
    ctx.note(format!(
        "stalled {name} for {:.0} s, carrying {connections} client connections",
        stalled_for.as_secs_f64()
    ));
    match detected {
        None => ctx.fail(format!(
            "clients still held on to the stalled node after {limit:?}"
        )),
        Some(d) if d.as_secs_f64() > DETECT_WITHIN_S => ctx.fail(format!(
            "the stalled node was given up after {:.1} s (SPEC: service resumes within {DETECT_WITHIN_S} s)",
            d.as_secs_f64()
        )),
        Some(_) => {}
    }
}

pub async fn restart_all(ctx: &mut Ctx<'_>) {
    blocking(|| {
        for node in 0..ctx.topology.nats.len() {
            ctx.topology.nats.stop(node);
        }
    });
    // The fault is the cluster being down: from the moment the last node is gone.
    ctx.started();
    sleep(ctx.holds.nats_down).await;
    blocking(|| ctx.topology.nats.start_stopped());
    ctx.healed();
    let down = ctx.since_fault();
    ctx.note(format!(
        "SIGTERM to all three nodes, started again {:?} after the last stopped; cluster healthy {down:.1} s after that",
        ctx.holds.nats_down
    ));
}
