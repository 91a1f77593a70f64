//! Faults of the tasklane processes themselves: kill -9, rolling SIGTERM, poison tasks.

use std::time::Duration;

use super::{Ctx, sleep};
use crate::load;
use crate::mix::TaskSpec;

const READY: Duration = Duration::from_secs(60);
/// The worker's shutdown grace in the drill (5 s) plus its hand-back and flush, with
/// room for a busy machine.
const EXIT_WITHIN: Duration = Duration::from_secs(20);
const POISON_TASKS: usize = 5;

pub async fn kill_workers(ctx: &mut Ctx<'_>, which: &[usize]) -> anyhow::Result<()> {
    ctx.started();
    for &i in which {
        ctx.topology.workers[i].kill9();
    }
    sleep(ctx.holds.restart_after).await;
    for &i in which {
        ctx.topology.workers[i].spawn();
    }
    for &i in which {
        ctx.topology.workers[i].wait_ready(READY).await?;
    }
    ctx.healed();
    let names: Vec<String> = which
        .iter()
        .map(|&i| ctx.topology.workers[i].name.clone())
        .collect();
    let restart = ctx.holds.restart_after;
    ctx.note(format!(
        "kill -9 of {}; started again after {restart:?}, ready {:.1} s after the kill",
        names.join(" and "),
        ctx.since_fault()
    ));
    Ok(())
}

pub async fn rolling_sigterm(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    ctx.started();
    let count = ctx.topology.workers.len() + ctx.topology.gateways.len();
    for step in 0..count {
        let topology = &mut *ctx.topology;
        let workers = topology.workers.len();
        let app = if step < workers {
            &mut topology.workers[step]
        } else {
            &mut topology.gateways[step - workers]
        };
        let status = app.terminate(EXIT_WITHIN).await;
        let name = app.name.clone();
        app.spawn();
        app.wait_ready(READY).await?;
        match status {
            Some(status) if status.success() => {}
            Some(status) => ctx.fail(format!("{name} exited with {status} after SIGTERM")),
            None => ctx.fail(format!(
                "{name} did not exit within {EXIT_WITHIN:?} of SIGTERM"
            )),
        }
    }
    ctx.healed();
    let took = ctx.since_fault();
    ctx.note(format!(
        "workers then gateways, one at a time, each restarted before the next; {took:.1} s in all"
    ));
    Ok(())
}

pub async fn poison(ctx: &mut Ctx<'_>) {
    ctx.started();
    let mut submissions = tokio::task::JoinSet::new();
    for i in 0..POISON_TASKS {
        let (gateways, log) = (ctx.exercise.gateways().clone(), ctx.exercise.log().clone());
        submissions.spawn(async move {
            let key = format!("drill-poison-{i}");
            load::submit(
                &gateways,
                &log,
                &key,
                TaskSpec::poison(),
                Duration::from_secs(30),
            )
            .await
        });
    }
    let accepted = submissions.join_all().await.into_iter().flatten().count();
    // Long enough for three attempts with the drill's retry delays.
    sleep(Duration::from_secs(10)).await;
    for worker in &mut ctx.topology.workers {
        if !worker.is_running() {
            let name = worker.name.clone();
            ctx.fault
                .failures
                .push(format!("{name} exited while running poison tasks"));
        }
    }
    ctx.note(format!(
        "{accepted} of {POISON_TASKS} tasks {{\"type\":\"fail\",\"payload\":{{\"panic\":true}},\"max_attempts\":3}} accepted"
    ));
}
