//! The checker's self test: breaks each promise on purpose, behind the system's back,
//! so a run must report a lost task, an acknowledged outcome lost and a task counted
//! twice. A checker that stays green here proves nothing elsewhere.

use std::time::Duration;

use tasklane_testkit::resp::{self, Reply};

use super::{Ctx, blocking, sleep};
use crate::load;
use crate::local::topology::STREAM;
use crate::mix::{self, Final};

const READY: Duration = Duration::from_secs(60);
const LOST_TASKS: u64 = 3;

pub async fn break_the_rules(ctx: &mut Ctx<'_>) -> anyhow::Result<()> {
    ctx.started();
    let (gateways, log) = (ctx.exercise.gateways().clone(), ctx.exercise.log().clone());
    let submit = |key: String| {
        let (gateways, log) = (gateways.clone(), log.clone());
        async move {
            let spec = mix::next_task(0, &mut rand::rng());
            load::submit(&gateways, &log, &key, spec, Duration::from_secs(30)).await
        }
    };

    // Counted twice: a task the system runs and counts, whose 202 the checker forgets
    // once it has finished.
    if let Some(id) = submit("drill-self-test-forgotten".into()).await {
        let finished = async {
            while !matches!(
                gateways.task(&id).await,
                Ok(Some(view)) if Final::parse(&view.status).is_some()
            ) {
                sleep(Duration::from_millis(100)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), finished).await;
        log.forget(&id);
    }

    // Lost: accepted while no worker runs, then purged from the stream.
    for worker in &mut ctx.topology.workers {
        worker.kill9();
    }
    for i in 0..LOST_TASKS {
        submit(format!("drill-self-test-lost-{i}")).await;
    }
    let js = ctx.topology.nats.jetstream().await;
    js.get_stream(STREAM).await?.purge().await?;
    for worker in &mut ctx.topology.workers {
        worker.spawn();
    }
    for worker in &mut ctx.topology.workers {
        worker.wait_ready(READY).await?;
    }

    // Acknowledged outcome lost: a record already seen final, deleted.
    let seen = log.tasks().into_iter().find(|t| {
        t.first_final
            .as_ref()
            .and_then(|(s, _)| Final::parse(s))
            .is_some()
    });
    let primary = ctx.topology.valkey.primary_by_sentinels();
    let deleted = match (seen, primary) {
        (Some(task), Some(port)) => blocking(|| delete_keys_containing(port, &task.id)),
        _ => 0,
    };
    ctx.healed();
    sleep(Duration::from_secs(1)).await;
    ctx.note(format!(
        "forgot one accepted task, purged the stream with {LOST_TASKS}+ tasks in it, deleted \
         {deleted} Valkey key(s) of a finished task"
    ));
    Ok(())
}

/// Deletes every key whose name contains `fragment` (a task id names its record).
fn delete_keys_containing(port: u16, fragment: &str) -> usize {
    let pattern = format!("*{fragment}*");
    let mut cursor = "0".to_string();
    let mut deleted = 0;
    loop {
        let Ok(reply) = resp::command(port, &["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])
        else {
            return deleted;
        };
        let items = reply.items();
        let (Some(next), Some(Reply::Array(Some(keys)))) =
            (items.first().and_then(Reply::text), items.get(1))
        else {
            return deleted;
        };
        for key in keys.iter().filter_map(Reply::text) {
            if resp::command(port, &["DEL", key]).is_ok() {
                deleted += 1;
            }
        }
        if next == "0" {
            return deleted;
        }
        cursor = next.to_string();
    }
}
