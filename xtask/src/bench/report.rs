//! The report: everything one run measured ([`Report`]), checked for sanity, written as
//! report.json (with the ratios and targets), report.md, and latency.svg (plotted by the probe).

use std::path::Path;

use anyhow::{Context, Result, ensure};
use serde::{Deserialize, Serialize};

use super::baselines::RedisCeiling;
use super::capacity::MIB;
use super::load::Figures;
use super::machine::Machine;
use super::probe::{EndToEnd, Probe};
use super::sizes_and_times::{ColdStart, PublishTimes, Sizes};
use super::targets::{Goal, Ratios, Target};
use super::{capacity, fulfilment, nano};

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    pub(super) runtime: String,
    pub(super) duration_s: f64,
    pub(super) connections: u32,
    pub(super) load_generator: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HttpFigures {
    pub(super) hello: Option<Figures>,
    pub(super) post_order: Figures,
    pub(super) get_order: Figures,
}

/// Everything one run measured; report.json is this, plus the ratios and targets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub(super) machine: Machine,
    pub(super) settings: Settings,
    pub(super) http: HttpFigures,
    pub(super) redis_benchmark: Option<RedisCeiling>,
    pub(super) end_to_end: EndToEnd,
    pub(super) cold_start: Option<ColdStart>,
    pub(super) sizes: Sizes,
    pub(super) publish: PublishTimes,
    /// Fulfilment against acceptance with 1 and 2 shards (local runs only).
    #[serde(default)]
    pub(super) fulfilment: Option<fulfilment::Fulfilment>,
    /// Both fulfilment placements (local runs only).
    #[serde(default)]
    pub(super) nano_services: Option<nano::NanoServices>,
    /// Bytes per order in Redis, by kind of order.
    #[serde(default)]
    pub(super) capacity: Option<capacity::Capacity>,
}

/// What report.json holds: the measurements, and what the targets make of them.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(flatten)]
    report: &'a Report,
    ratios: Ratios,
    targets: Vec<Target>,
}

impl Report {
    /// Fails when a figure cannot be right: nothing measured, a lost order, a non-finite or
    /// non-positive number, percentiles out of order, a publish that was not unchanged.
    pub(super) fn check_sane(&self) -> Result<()> {
        let positive = |what: &str, value: f64| {
            ensure!(
                value.is_finite() && value > 0.0,
                "{what} is {value}, not a positive figure"
            );
            Ok(())
        };
        let http = [
            Some(&self.http.post_order),
            Some(&self.http.get_order),
            self.http.hello.as_ref(),
        ];
        for figures in http.into_iter().flatten() {
            positive("a request rate", figures.requests_per_second)?;
            positive("a latency", figures.p50_ms)?;
            ensure!(
                figures.p50_ms <= figures.p90_ms && figures.p90_ms <= figures.p99_ms,
                "latency percentiles out of order: {figures:?}"
            );
        }
        if let Some(redis) = &self.redis_benchmark {
            positive("redis-benchmark SET/s", redis.set_per_second)?;
            positive("redis-benchmark PUBLISH/s", redis.publish_per_second)?;
        }
        let end_to_end = &self.end_to_end;
        ensure!(
            end_to_end.lost == 0,
            "{} of {} timed orders were never fulfilled",
            end_to_end.lost,
            end_to_end.sent
        );
        let latency = end_to_end
            .latency
            .as_ref()
            .context("no order was timed end to end")?;
        positive("the end-to-end p50", latency.p50_ms)?;
        ensure!(
            latency.p50_ms <= latency.p99_ms,
            "end-to-end percentiles out of order: {latency:?}"
        );
        if let Some(cold) = &self.cold_start {
            positive("the cold start", cold.cached_ms)?;
            positive("the compiling start", cold.compiling_ms)?;
        }
        for (component, bytes) in &self.sizes.wasm {
            positive(&format!("{component}'s wasm size"), *bytes as f64)?;
        }
        positive("the hello-world wasm size", self.sizes.hello_wasm as f64)?;
        positive("the first publish", self.publish.first_s)?;
        positive("the unchanged publish", self.publish.unchanged_s)?;
        ensure!(
            self.publish.unchanged_blobs_pushed == 0,
            "the unchanged publish uploaded {} blobs",
            self.publish.unchanged_blobs_pushed
        );
        ensure!(
            !self.publish.artifact_bytes.is_empty(),
            "no artifact was published"
        );
        for (app, bytes) in &self.publish.artifact_bytes {
            positive(&format!("{app}'s artifact size"), *bytes as f64)?;
        }
        if let Some(capacity) = &self.capacity {
            capacity.check_sane()?;
        }
        Ok(())
    }

    /// report.json, report.md, and latency.svg drawn from the latency curves.
    pub(super) fn write(&self, out: &Path, probe: &Probe) -> Result<()> {
        let written = Written {
            report: self,
            ratios: self.ratios(),
            targets: self.targets(),
        };
        std::fs::write(
            out.join("report.json"),
            serde_json::to_string_pretty(&written)? + "\n",
        )?;
        std::fs::write(out.join("report.md"), self.markdown())?;
        let mut curves = Vec::new();
        let http = [
            ("hello world", self.http.hello.as_ref()),
            ("POST /order", Some(&self.http.post_order)),
            ("GET /order/{id}", Some(&self.http.get_order)),
        ];
        for (name, figures) in http {
            if let Some(figures) = figures {
                curves.push(serde_json::json!({ "name": name, "curve": figures.curve }));
            }
        }
        if let Some(latency) = &self.end_to_end.latency {
            curves.push(serde_json::json!({ "name": "POST→fulfilled", "curve": latency.curve }));
        }
        let curves_file = out.join("curves.json");
        std::fs::write(&curves_file, serde_json::to_string(&curves)?)?;
        probe.plot(&curves_file, &out.join("latency.svg"))
    }

    pub(super) fn markdown(&self) -> String {
        let mut md = String::new();
        let machine = &self.machine;
        let settings = &self.settings;
        md += "# order-system benchmark\n\n";
        md += &format!(
            "Machine: {} CPUs ({}), {} memory, {}. Runtime: {}. Load: {} at {} connections, {} s per measurement.\n\n",
            machine.cpus,
            machine.cpu_model,
            machine.memory,
            machine.os,
            settings.runtime,
            settings.load_generator,
            settings.connections,
            settings.duration_s
        );
        md += "## Targets\n\n| target | goal | measured | verdict |\n|---|---|---|---|\n";
        for target in self.targets() {
            let measured = target.measured.map_or_else(
                || "–".to_string(),
                |value| format!("{value:.2} {}", target.unit),
            );
            md += &format!(
                "| {} | {} | {measured} | {} |\n",
                target.name,
                target.goal_text(),
                target.verdict
            );
        }
        md += "\n## HTTP at full load\n\n| request | req/s | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|---:|\n";
        let http = [
            ("hello world (baseline)", self.http.hello.as_ref()),
            ("POST /order", Some(&self.http.post_order)),
            ("GET /order/{id}", Some(&self.http.get_order)),
        ];
        for (name, figures) in http {
            if let Some(f) = figures {
                md += &format!(
                    "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                    f.requests_per_second, f.p50_ms, f.p90_ms, f.p99_ms
                );
            }
        }
        let ratios = self.ratios();
        let ratio =
            |value: Option<f64>| value.map_or_else(|| "–".to_string(), |v| format!("{v:.2}×"));
        md += &format!(
            "\nRatios: POST /order ÷ hello world {}, GET /order/{{id}} ÷ hello world {}, POST /order ÷ Redis SET+PUBLISH ceiling {}.\n",
            ratio(ratios.post_vs_hello),
            ratio(ratios.get_vs_hello),
            ratio(ratios.post_vs_redis_pair)
        );
        if let Some(redis) = &self.redis_benchmark {
            md += &format!(
                "\nredis-benchmark (same connections): SET {:.0}/s, PUBLISH {:.0}/s, so at most {:.0} SET+PUBLISH pairs/s.\n",
                redis.set_per_second, redis.publish_per_second, redis.pair_per_second
            );
        }
        let e2e = &self.end_to_end;
        md += &format!(
            "\n## POST→fulfilled\n\nAt {:.0} orders/s offered (half the maximum POST rate: oha asked for {:.0}/s of them and got {:.0}/s), {} of {} orders timed by {} at {:.0}/s",
            e2e.offered_rate_per_s,
            e2e.offered_rate_per_s - e2e.rate_per_s,
            e2e.background_achieved_rate_per_s,
            e2e.sent - e2e.lost,
            e2e.sent,
            e2e.method,
            e2e.rate_per_s
        );
        match &e2e.latency {
            Some(l) => {
                md += &format!(
                    ": p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms.\n",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
                )
            }
            None => md += ".\n",
        }
        md += "\n## Sizes and times\n\n| what | figure |\n|---|---:|\n";
        for (component, bytes) in &self.sizes.wasm {
            md += &format!("| {component}.wasm | {bytes} bytes |\n");
        }
        md += &format!(
            "| both apps' wasm | {} bytes ({:.2} MiB) |\n| hello-world wasm (baseline) | {} bytes |\n",
            self.sizes.apps_wasm_total,
            self.sizes.apps_wasm_total as f64 / MIB,
            self.sizes.hello_wasm
        );
        for (app, bytes) in &self.publish.artifact_bytes {
            md += &format!("| {app} artifact (config + layers) | {bytes} bytes |\n");
        }
        if let Some(cold) = &self.cold_start {
            md += &format!(
                "| cold start (process start to first 2xx; components from the compilation cache) | {:.0} ms |\n| first start (compiling the components, `--disable-cache`) | {:.0} ms |\n",
                cold.cached_ms, cold.compiling_ms
            );
        }
        md += &format!(
            "| first `cargo xtask publish` (local registry) | {:.2} s |\n| unchanged `cargo xtask publish` | {:.2} s |\n",
            self.publish.first_s, self.publish.unchanged_s
        );
        if let Some(fulfilment) = &self.fulfilment {
            md += &fulfilment.markdown();
        }
        md += "\nThe latency distribution is plotted in latency.svg.\n";
        if let Some(nano) = &self.nano_services {
            md += &nano.markdown();
        }
        if let Some(capacity) = &self.capacity {
            md += &capacity.markdown();
        }
        md
    }
}

impl Report {
    pub(super) fn ratios(&self) -> Ratios {
        let post = self.http.post_order.requests_per_second;
        let hello = self
            .http
            .hello
            .as_ref()
            .map(|hello| hello.requests_per_second);
        Ratios {
            post_vs_hello: hello.map(|hello| post / hello),
            get_vs_hello: hello.map(|hello| self.http.get_order.requests_per_second / hello),
            post_vs_redis_pair: self
                .redis_benchmark
                .as_ref()
                .map(|redis| post / redis.pair_per_second),
        }
    }

    /// The targets, each with its verdict.
    pub(super) fn targets(&self) -> Vec<Target> {
        let ratios = self.ratios();
        vec![
            Target::new(
                "POST /order req/s vs hello world",
                Goal::AtLeast(0.7),
                "×",
                ratios.post_vs_hello,
            ),
            Target::new(
                "GET /order/{id} req/s vs hello world",
                Goal::AtLeast(0.8),
                "×",
                ratios.get_vs_hello,
            ),
            Target::new(
                "POST→fulfilled p99 at half the maximum load",
                Goal::Below(10.0),
                "ms",
                self.end_to_end
                    .latency
                    .as_ref()
                    .map(|latency| latency.p99_ms),
            ),
            Target::new(
                "both apps' wasm together",
                Goal::Below(1.0),
                "MiB",
                Some(self.sizes.apps_wasm_total as f64 / MIB),
            ),
            Target::new(
                "cold start to the first 2xx",
                Goal::Below(100.0),
                "ms",
                self.cold_start.as_ref().map(|cold| cold.cached_ms),
            ),
            Target::new(
                "unchanged `cargo xtask publish`",
                Goal::Below(2.0),
                "s",
                Some(self.publish.unchanged_s),
            ),
            // Not a timing: a budget, the bytes per order docs/capacity.md sizes Redis with.
            Target::new(
                "Redis bytes per typical held order (fulfilled, Idempotency-Key, traceparent)",
                Goal::Below(capacity::TYPICAL_BUDGET_BYTES),
                "bytes",
                self.capacity
                    .as_ref()
                    .and_then(capacity::Capacity::typical_held)
                    .map(|typical| typical.fulfilled_bytes_per_order),
            ),
        ]
        .into_iter()
        .chain(
            self.nano_services
                .iter()
                .flat_map(nano::NanoServices::targets),
        )
        .chain(
            self.fulfilment
                .iter()
                .flat_map(fulfilment::Fulfilment::targets),
        )
        .collect()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::bench::load::OHA_VERSION;
    use crate::bench::probe::ProbeLatency;

    pub(in crate::bench) fn sample_report() -> Report {
        let figures = |rps: f64| Figures {
            requests: 100,
            requests_per_second: rps,
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms: 3.0,
            curve: vec![(50.0, 1.0), (99.0, 3.0)],
        };
        Report {
            machine: Machine::describe(),
            settings: Settings {
                runtime: "embedded (spin-local)".into(),
                duration_s: 1.0,
                connections: 2,
                load_generator: format!("oha {OHA_VERSION}"),
            },
            http: HttpFigures {
                hello: Some(figures(1000.0)),
                post_order: figures(750.0),
                get_order: figures(780.0),
            },
            redis_benchmark: Some(RedisCeiling {
                set_per_second: 50_000.0,
                publish_per_second: 50_000.0,
                pair_per_second: 25_000.0,
            }),
            end_to_end: EndToEnd {
                method: "redis keyspace notifications".into(),
                offered_rate_per_s: 375.0,
                background_achieved_rate_per_s: 325.0,
                rate_per_s: 50.0,
                sent: 50,
                lost: 0,
                latency: Some(ProbeLatency {
                    count: 50,
                    p50_ms: 2.0,
                    p90_ms: 3.0,
                    p99_ms: 12.0,
                    max_ms: 13.0,
                    curve: vec![(50.0, 2.0), (99.0, 12.0)],
                }),
            },
            cold_start: Some(ColdStart {
                cached_ms: 80.0,
                compiling_ms: 900.0,
            }),
            sizes: Sizes {
                wasm: vec![("receiver".into(), 400_000), ("fulfiller".into(), 300_000)],
                apps_wasm_total: 700_000,
                hello_wasm: 100_000,
            },
            publish: PublishTimes {
                first_s: 3.0,
                unchanged_s: 1.0,
                unchanged_blobs_pushed: 0,
                artifact_bytes: vec![("order-processor".into(), 500_000)],
            },
            fulfilment: None,
            nano_services: None,
            capacity: None,
        }
    }

    #[test]
    fn insane_figures_fail_the_run() {
        let mut lost = sample_report();
        lost.end_to_end.lost = 2;
        assert!(
            lost.check_sane()
                .unwrap_err()
                .to_string()
                .contains("never fulfilled")
        );
        let mut disordered = sample_report();
        disordered.http.get_order.p90_ms = 9.0;
        assert!(
            disordered
                .check_sane()
                .unwrap_err()
                .to_string()
                .contains("out of order")
        );
        let mut idle = sample_report();
        idle.http.post_order.requests_per_second = 0.0;
        assert!(
            idle.check_sane()
                .unwrap_err()
                .to_string()
                .contains("not a positive figure")
        );
        let mut republished = sample_report();
        republished.publish.unchanged_blobs_pushed = 1;
        assert!(
            republished
                .check_sane()
                .unwrap_err()
                .to_string()
                .contains("uploaded 1 blobs")
        );
    }

    #[test]
    fn ratios_and_targets_come_from_the_figures() {
        let report = sample_report();
        report.check_sane().unwrap();
        let ratios = report.ratios();
        assert_eq!(ratios.post_vs_hello, Some(0.75));
        assert_eq!(ratios.get_vs_hello, Some(0.78));
        assert_eq!(ratios.post_vs_redis_pair, Some(0.03));
        let verdicts: Vec<_> = report.targets().into_iter().map(|t| t.pass).collect();
        assert_eq!(
            verdicts,
            [
                Some(true),
                Some(false),
                Some(false),
                Some(true),
                Some(true),
                Some(true),
                None
            ]
        );
        let markdown = report.markdown();
        assert!(
            markdown.contains(
                "| GET /order/{id} req/s vs hello world | ≥ 0.8 × | 0.78 × | MISS by 3% |"
            ),
            "{markdown}"
        );
        assert!(markdown.contains("p99 12.00 ms"), "{markdown}");
    }

    #[test]
    fn nano_services_targets_compare_composed_with_message() {
        let mut report = sample_report();
        let message = nano::PlacementFigures {
            post_order: report.http.post_order.clone(),
            end_to_end: report.end_to_end.clone(),
        };
        let mut composed = message.clone();
        composed.post_order.requests_per_second *= 2.0;
        if let Some(latency) = composed.end_to_end.latency.as_mut() {
            latency.p99_ms /= 2.0;
        }
        report.nano_services = Some(nano::NanoServices {
            message,
            composed,
            artifact_wasm_bytes: vec![("order-processor".into(), 600_000)],
            composed_cold_start_ms: Some(70.0),
        });
        let nano: Vec<_> = report.targets().into_iter().skip(7).collect();
        let verdicts: Vec<_> = nano.iter().map(|t| (t.name, t.measured, t.pass)).collect();
        assert_eq!(
            verdicts,
            [
                (
                    "composed vs message: POST /order req/s",
                    Some(2.0),
                    Some(true)
                ),
                (
                    "composed vs message: POST→fulfilled p99 at half load",
                    Some(0.5),
                    Some(false)
                ),
            ]
        );
        let markdown = report.markdown();
        assert!(markdown.contains("## Nano-services"), "{markdown}");
        assert!(
            markdown.contains("Cold start of the composed order-processor: 70.0 ms"),
            "{markdown}"
        );
    }
}
