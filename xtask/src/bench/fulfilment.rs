//! Fulfilment against acceptance, in the same run, as users feel it: the system started with each
//! fulfilment placement (`message`, `composed`: docs/nano-services.md) and 1, then 2 fulfilment
//! shards (`cargo xtask up --placement P --shards N`); for each, `POST /order` at full load (oha,
//! the bench's duration and connections), the order-flow counters the atomic scripts keep
//! (`order:stats`, the same ones `order_system_orders_*_total` export) read before and after, then
//! the time the backlog (`order:pending`) takes to drain once the load stops.
//!
//! Figures per placement and shard count: accepted orders/s (oha's 202s); sustained fulfilled
//! orders/s under that load (the `fulfilled` counter's delta over the load window); what is left
//! pending at the end; backlog growth in orders/s; drain time and fulfilled orders/s while
//! draining. Goals: fulfilment ≥ 1.0× acceptance with 2 shards (issue 13.5, `message`), and the
//! composed placement's fulfilled orders/s against `message`'s in the same run (issue 22.7).

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use duct::cmd;
use serde::{Deserialize, Serialize};

use super::ORDER_BODY;
use super::load::{Figures, Load, Request};
use super::targets::{Goal, Target};
use crate::up::{self, AppRuntime, LocalOptions};

/// The placements compared: the default, then fulfilment composed into the receiver.
pub const PLACEMENTS: [&str; 2] = ["message", "composed"];
/// The shard counts compared.
pub const SHARD_COUNTS: [u32; 2] = [1, 2];
/// The apps' default key prefix: the bench runs with it.
const PREFIX: &str = "order:";
/// The longest a backlog may take to drain before the run fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// Orders accepted this shortly before the load stops are still in flight (published, not yet
/// handled) however fast fulfilment is: a backlog no larger than that did not grow.
const IN_FLIGHT: Duration = Duration::from_millis(50);
/// Drain rates are compared only over backlogs at least this large: a few orders drain in
/// less time than one poll of the backlog.
const MIN_DRAINED: u64 = 100;

/// One placement's and shard count's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardRun {
    /// `message` or `composed`.
    pub placement: String,
    pub shards: u32,
    /// `POST /order` answered 202 per second at full load.
    pub accepted_per_second: f64,
    /// Orders fulfilled per second during that load: the `fulfilled` counter's delta over it.
    pub fulfilled_per_second: f64,
    /// The `accepted` counter's delta over the load (oha's 202s, counted by Redis).
    pub accepted_counted: u64,
    /// The `fulfilled` counter's delta over the load.
    pub fulfilled_counted: u64,
    /// Orders the backlog grew by per second during that load.
    pub backlog_growth_per_second: f64,
    /// The backlog when the load stopped, in orders.
    pub backlog: u64,
    /// Seconds from the end of the load until the backlog was empty.
    pub drain_seconds: f64,
    /// Orders fulfilled per second while draining (backlog / drain time).
    pub drain_per_second: f64,
}

impl ShardRun {
    /// Fulfilment over acceptance at full load: ≥ 1.0 means the backlog does not grow.
    pub fn ratio(&self) -> f64 {
        self.fulfilled_per_second / self.accepted_per_second
    }

    /// Whether fulfilment kept up: the backlog left when the load stopped is no more than the
    /// orders accepted in its last [`IN_FLIGHT`], which no fulfiller can have handled yet.
    pub fn keeps_up(&self) -> bool {
        self.backlog as f64 <= self.accepted_per_second * IN_FLIGHT.as_secs_f64()
    }
}

/// Every placement's and shard count's figures, [`PLACEMENTS`] × [`SHARD_COUNTS`] in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fulfilment {
    pub runs: Vec<ShardRun>,
}

impl Fulfilment {
    /// Measures each placement and shard count on a freshly started system.
    pub fn measure(load: &Load, runtime: AppRuntime, log: &Path) -> Result<Fulfilment> {
        let mut runs = Vec::new();
        for placement in PLACEMENTS {
            for shards in SHARD_COUNTS {
                runs.push(measure_one(load, runtime, placement, shards, log)?);
            }
        }
        Ok(Fulfilment { runs })
    }

    fn run(&self, placement: &str, shards: u32) -> Option<&ShardRun> {
        self.runs
            .iter()
            .find(|run| run.placement == placement && run.shards == shards)
    }

    /// The `message` placement's drain throughput with the most shards over that with one: how
    /// fulfilment scales out; `None` unless both left a backlog of at least [`MIN_DRAINED`]
    /// orders to time.
    pub fn scaling(&self) -> Option<f64> {
        let first = self.run("message", SHARD_COUNTS[0])?;
        let last = self.run("message", SHARD_COUNTS[SHARD_COUNTS.len() - 1])?;
        (first.backlog >= MIN_DRAINED && last.backlog >= MIN_DRAINED)
            .then(|| last.drain_per_second / first.drain_per_second)
    }

    /// `composed` over `message` with `shards`: (POST accepted/s, sustained fulfilled/s).
    pub fn placement_ratios(&self, shards: u32) -> Option<(f64, f64)> {
        let message = self.run("message", shards)?;
        let composed = self.run("composed", shards)?;
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        Some((
            ratio(composed.accepted_per_second, message.accepted_per_second)?,
            ratio(composed.fulfilled_per_second, message.fulfilled_per_second)?,
        ))
    }

    /// What users feel: the composed placement's sustained fulfilled orders/s against the
    /// `message` placement's, with one shard (the default system), measured in the same run.
    pub fn targets(&self) -> Vec<Target> {
        vec![Target::new(
            "composed vs message: sustained fulfilled orders/s at full POST load (1 shard)",
            Goal::AtLeast(1.5),
            "×",
            self.placement_ratios(1).map(|(_, fulfilled)| fulfilled),
        )]
    }

    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "\n## Fulfilment against acceptance\n\n\
             Sustained fulfilled orders/s: the `fulfilled` counter (`order:stats`, the metric \
             `order_system_orders_fulfilled_total`) over the load; pending: `ZCARD order:pending` \
             when the load stopped.\n\n\
             | placement | shards | POST /order accepted/s | fulfilled/s under that load | fulfilment ÷ acceptance | \
             backlog growth/s | pending at end | drain time | fulfilled/s draining |\n\
             |---|---|---|---|---|---|---|---|---|\n",
        );
        for run in &self.runs {
            md += &format!(
                "| {} | {} | {:.0} | {:.0} | {:.2}× | {:.0} | {} | {:.1} s | {:.0} |\n",
                run.placement,
                run.shards,
                run.accepted_per_second,
                run.fulfilled_per_second,
                run.ratio(),
                run.backlog_growth_per_second,
                run.backlog,
                run.drain_seconds,
                run.drain_per_second
            );
        }
        for shards in SHARD_COUNTS {
            if let Some((post, fulfilled)) = self.placement_ratios(shards) {
                md += &format!(
                    "\ncomposed vs message, {shards} shard(s): {fulfilled:.2}× the sustained \
                     fulfilled orders/s ({post:.2}× the POST /order accepted/s).\n",
                );
            }
        }
        if let Some(scaling) = self.scaling() {
            md += &format!(
                "\nDraining (`message`) with {} shards: {scaling:.2}× the rate with 1.\n",
                SHARD_COUNTS[SHARD_COUNTS.len() - 1],
            );
        }
        if let Some(run) = self.run("message", SHARD_COUNTS[SHARD_COUNTS.len() - 1]) {
            md += &format!(
                "\nGoal: fulfilment ≥ 1.0× acceptance with {} shards (`message`) — {}.\n",
                run.shards,
                if run.keeps_up() && run.backlog == 0 {
                    format!(
                        "met ({:.2}×; nothing was pending when the load stopped)",
                        run.ratio()
                    )
                } else if run.keeps_up() {
                    format!(
                        "met ({:.2}×; the {} orders left at the end were accepted in its last \
                         {} ms, still in flight)",
                        run.ratio(),
                        run.backlog,
                        IN_FLIGHT.as_millis()
                    )
                } else {
                    format!("missed ({:.2}×, the backlog grew)", run.ratio())
                }
            );
        }
        md
    }
}

fn measure_one(
    load: &Load,
    runtime: AppRuntime,
    placement: &str,
    shards: u32,
    log: &Path,
) -> Result<ShardRun> {
    eprintln!("bench: fulfilment, placement {placement}, {shards} shard(s)");
    let system = up::start_local(&LocalOptions {
        runtime,
        shards,
        log: Some(log.to_path_buf()),
        variables: vec![up::placement_variable(placement)],
        ..LocalOptions::default()
    })?;
    let redis = system.redis_url().to_string();
    let post = Request::post(&format!("{}/order", system.base_url()), ORDER_BODY);
    // Warm up (connections open, instances warm), then start from an empty backlog.
    let warm_up = load
        .oha_command(&post, Duration::from_millis(500))
        .read()
        .context("oha (fulfilment warm-up) failed")?;
    Figures::from_oha("fulfilment warm-up", &warm_up, 202)?;
    // The warm-up's orders may still be pending: wait for them (an error past DRAIN_LIMIT).
    drain(&redis).context("draining the warm-up's orders")?;

    let before = counters(&redis)?;
    let started = Instant::now();
    let json = load
        .oha_command(&post, load.duration)
        .read()
        .context("oha (POST /order for fulfilment) failed")?;
    let elapsed = started.elapsed().as_secs_f64();
    let after = counters(&redis)?;
    let backlog = pending(&redis)?;
    let accepted = Figures::from_oha("POST /order (fulfilment)", &json, 202)?;
    let (_, drain_time) = drain(&redis)?;
    let drain_seconds = drain_time.as_secs_f64();
    let accepted_counted = after.accepted.saturating_sub(before.accepted);
    let fulfilled = after.fulfilled.saturating_sub(before.fulfilled);
    // Every 202 oha saw was counted; a request oha gave up on at the deadline may be too.
    ensure!(
        accepted_counted >= accepted.requests,
        "oha saw {} orders accepted, Redis' `accepted` counter only {accepted_counted}",
        accepted.requests
    );
    Ok(ShardRun {
        placement: placement.to_string(),
        shards,
        accepted_per_second: accepted.requests as f64 / elapsed,
        fulfilled_per_second: fulfilled as f64 / elapsed,
        accepted_counted,
        fulfilled_counted: fulfilled,
        backlog_growth_per_second: backlog as f64 / elapsed,
        backlog,
        drain_seconds,
        drain_per_second: if drain_seconds > 0.0 {
            backlog as f64 / drain_seconds
        } else {
            0.0
        },
    })
}

/// The order-flow counters the atomic scripts keep (`HMGET order:stats accepted fulfilled`).
#[derive(Clone, Copy, Debug)]
struct Counters {
    accepted: u64,
    fulfilled: u64,
}

fn counters(redis_url: &str) -> Result<Counters> {
    let stats = format!("{PREFIX}stats");
    let reply = cmd!(
        "redis-cli",
        "-u",
        redis_url,
        "HMGET",
        &stats,
        "accepted",
        "fulfilled"
    )
    .read()
    .context("redis-cli HMGET")?;
    // A field never incremented is absent: 0.
    let values: Vec<u64> = reply
        .lines()
        .map(|line| line.trim().parse().unwrap_or(0))
        .collect();
    match values.as_slice() {
        [accepted, fulfilled] => Ok(Counters {
            accepted: *accepted,
            fulfilled: *fulfilled,
        }),
        _ => anyhow::bail!("redis-cli answered {reply:?} to HMGET {stats}"),
    }
}

/// The backlog: orders accepted but not yet fulfilled (`ZCARD order:pending`).
fn pending(redis_url: &str) -> Result<u64> {
    let pending = format!("{PREFIX}pending");
    let reply = cmd!("redis-cli", "-u", redis_url, "ZCARD", &pending)
        .read()
        .context("redis-cli ZCARD")?;
    reply
        .trim()
        .parse()
        .with_context(|| format!("redis-cli answered {reply:?} to ZCARD"))
}

/// Waits until the backlog is empty: (the backlog seen first, how long it took).
fn drain(redis_url: &str) -> Result<(u64, Duration)> {
    let started = Instant::now();
    let first = pending(redis_url)?;
    let mut left = first;
    while left > 0 {
        ensure!(
            started.elapsed() < DRAIN_LIMIT,
            "{left} orders still pending after {DRAIN_LIMIT:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
        left = pending(redis_url)?;
    }
    Ok((first, started.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(shards: u32, accepted: f64, fulfilled: f64, drain: f64) -> ShardRun {
        placed("message", shards, accepted, fulfilled, drain)
    }

    fn placed(placement: &str, shards: u32, accepted: f64, fulfilled: f64, drain: f64) -> ShardRun {
        ShardRun {
            placement: placement.to_string(),
            accepted_counted: accepted as u64,
            fulfilled_counted: fulfilled as u64,
            shards,
            accepted_per_second: accepted,
            fulfilled_per_second: fulfilled,
            backlog_growth_per_second: accepted - fulfilled,
            backlog: 100,
            drain_seconds: 100.0 / drain,
            drain_per_second: drain,
        }
    }

    #[test]
    fn ratio_scaling_and_verdict_come_from_the_figures() {
        let figures = Fulfilment {
            runs: vec![run(1, 400.0, 200.0, 250.0), run(2, 400.0, 380.0, 450.0)],
        };
        assert_eq!(figures.runs[1].ratio(), 0.95);
        assert_eq!(figures.scaling(), Some(1.8));
        let md = figures.markdown();
        assert!(
            md.contains("| message | 2 | 400 | 380 | 0.95× | 20 | 100 | 0.2 s | 450 |"),
            "{md}"
        );
        assert!(
            md.contains("1.80× the rate with 1") && md.contains("missed (0.95×, the backlog grew)"),
            "{md}"
        );
        // A few orders in flight when the load stops are not a growing backlog, and too few to
        // time a drain by.
        let mut kept_up = run(2, 937.0, 936.7, 559.0);
        kept_up.backlog = 3;
        let met = Fulfilment {
            runs: vec![run(1, 977.0, 947.0, 1279.0), kept_up],
        };
        assert_eq!(met.scaling(), None);
        let md = met.markdown();
        assert!(md.contains("met (1.00×; the 3 orders left"), "{md}");
        assert!(!md.contains("the rate with 1"), "{md}");
    }

    #[test]
    fn composed_is_compared_with_message_on_fulfilled_orders() {
        let figures = Fulfilment {
            runs: vec![
                placed("message", 1, 1400.0, 760.0, 800.0),
                placed("message", 2, 1300.0, 1290.0, 900.0),
                placed("composed", 1, 1250.0, 1250.0, 0.0),
                placed("composed", 2, 1200.0, 1200.0, 0.0),
            ],
        };
        let (post, fulfilled) = figures.placement_ratios(1).unwrap();
        assert!((post - 1250.0 / 1400.0).abs() < 1e-9);
        assert!((fulfilled - 1250.0 / 760.0).abs() < 1e-9);
        let [target] = figures.targets().try_into().ok().unwrap();
        assert_eq!(target.measured, Some(fulfilled));
        let md = figures.markdown();
        assert!(
            md.contains("composed vs message, 1 shard(s): 1.64× the sustained fulfilled orders/s (0.89× the POST /order accepted/s)"),
            "{md}"
        );
        assert!(md.contains("| composed | 2 | 1200 | 1200 |"), "{md}");
        assert!(md.contains("with 2 shards (`message`)"), "{md}");
    }
}
