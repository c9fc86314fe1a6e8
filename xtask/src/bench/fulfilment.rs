//! Fulfilment against acceptance, in the same run: the system started with 1, then 2 fulfilment
//! shards (`cargo xtask up --shards`); for each, `POST /order` at full load (oha, the bench's
//! duration and connections) while the pending index (`order:pending`, the backlog) is sampled,
//! then the time the backlog takes to drain once the load stops.
//!
//! Figures per shard count: accepted orders/s; fulfilled orders/s under that load (accepted minus
//! the backlog left, over the load's duration); backlog growth in orders/s; drain time and
//! fulfilled orders/s while draining (a backlog present throughout). The goal (issue 13.5):
//! fulfilment ≥ 1.0× acceptance with 2 shards, i.e. the backlog does not grow at full load.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use duct::cmd;
use serde::{Deserialize, Serialize};

use super::ORDER_BODY;
use super::load::{Figures, Load, Request};
use crate::up::{self, AppRuntime, LocalOptions};

/// The shard counts compared.
pub const SHARD_COUNTS: [u32; 2] = [1, 2];
/// The longest a backlog may take to drain before the run fails.
const DRAIN_LIMIT: Duration = Duration::from_secs(300);
/// Orders accepted this shortly before the load stops are still in flight (published, not yet
/// handled) however fast fulfilment is: a backlog no larger than that did not grow.
const IN_FLIGHT: Duration = Duration::from_millis(50);
/// Drain rates are compared only over backlogs at least this large: a few orders drain in
/// less time than one poll of the backlog.
const MIN_DRAINED: u64 = 100;

/// One shard count's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardRun {
    pub shards: u32,
    /// `POST /order` answered 202 per second at full load.
    pub accepted_per_second: f64,
    /// Orders fulfilled per second during that load.
    pub fulfilled_per_second: f64,
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

/// Every shard count's figures, in [`SHARD_COUNTS`] order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Fulfilment {
    pub runs: Vec<ShardRun>,
}

impl Fulfilment {
    /// Measures each shard count on a freshly started system.
    pub fn measure(load: &Load, runtime: AppRuntime, log: &Path) -> Result<Fulfilment> {
        let runs = SHARD_COUNTS
            .iter()
            .map(|&shards| measure_one(load, runtime, shards, log))
            .collect::<Result<_>>()?;
        Ok(Fulfilment { runs })
    }

    /// Drain throughput with the most shards over that with one: how fulfilment scales out;
    /// `None` unless both left a backlog of at least [`MIN_DRAINED`] orders to time.
    pub fn scaling(&self) -> Option<f64> {
        let first = self.runs.first()?;
        let last = self.runs.last()?;
        (self.runs.len() > 1 && first.backlog >= MIN_DRAINED && last.backlog >= MIN_DRAINED)
            .then(|| last.drain_per_second / first.drain_per_second)
    }

    pub fn markdown(&self) -> String {
        let mut md = String::from(
            "\n## Fulfilment against acceptance\n\n\
             | shards | POST /order accepted/s | fulfilled/s under that load | fulfilment ÷ acceptance | \
             backlog growth/s | backlog at end | drain time | fulfilled/s draining |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for run in &self.runs {
            md += &format!(
                "| {} | {:.0} | {:.0} | {:.2}× | {:.0} | {} | {:.1} s | {:.0} |\n",
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
        if let Some(scaling) = self.scaling() {
            md += &format!(
                "\nDraining with {} shards: {scaling:.2}× the rate with 1.\n",
                SHARD_COUNTS[SHARD_COUNTS.len() - 1],
            );
        }
        if let Some(run) = self.runs.last() {
            md += &format!(
                "\nGoal: fulfilment ≥ 1.0× acceptance with {} shards — {}.\n",
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

fn measure_one(load: &Load, runtime: AppRuntime, shards: u32, log: &Path) -> Result<ShardRun> {
    eprintln!("bench: fulfilment with {shards} shard(s)");
    let system = up::start_local(&LocalOptions {
        runtime,
        shards,
        log: Some(log.to_path_buf()),
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

    let started = Instant::now();
    let json = load
        .oha_command(&post, load.duration)
        .read()
        .context("oha (POST /order for fulfilment) failed")?;
    let elapsed = started.elapsed().as_secs_f64();
    let backlog = pending(&redis)?;
    let accepted = Figures::from_oha("POST /order (fulfilment)", &json, 202)?;
    let (_, drain_time) = drain(&redis)?;
    let drain_seconds = drain_time.as_secs_f64();
    let fulfilled = accepted.requests.saturating_sub(backlog);
    Ok(ShardRun {
        shards,
        accepted_per_second: accepted.requests as f64 / elapsed,
        fulfilled_per_second: fulfilled as f64 / elapsed,
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

/// The backlog: orders accepted but not yet fulfilled (`ZCARD order:pending`).
fn pending(redis_url: &str) -> Result<u64> {
    let reply = cmd!("redis-cli", "-u", redis_url, "ZCARD", "order:pending")
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
        ShardRun {
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
            md.contains("| 2 | 400 | 380 | 0.95× | 20 | 100 | 0.2 s | 450 |"),
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
}
