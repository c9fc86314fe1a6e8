//! The targets: the ratios to the same-run baselines, each goal, and each target's
//! verdict (by how much it passed or missed).

use serde::Serialize;

use super::report::{MIB, Report};
use super::{capacity, fulfilment, nano};

#[derive(Clone, Copy, Debug, Serialize)]
pub(super) struct Ratios {
    /// POST /order req/s ÷ hello-world req/s.
    pub(super) post_vs_hello: Option<f64>,
    /// GET /order/{id} req/s ÷ hello-world req/s.
    pub(super) get_vs_hello: Option<f64>,
    /// POST /order req/s ÷ the Redis SET+PUBLISH pair's ceiling.
    pub(super) post_vs_redis_pair: Option<f64>,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
pub(super) enum Goal {
    AtLeast(f64),
    Below(f64),
}

#[derive(Debug, Serialize)]
pub(super) struct Target {
    pub(super) name: &'static str,
    pub(super) goal: Goal,
    pub(super) unit: &'static str,
    pub(super) measured: Option<f64>,
    /// None when not measured (a deployed URL has no local baseline).
    pub(super) pass: Option<bool>,
    pub(super) verdict: String,
}

impl Target {
    pub(super) fn new(
        name: &'static str,
        goal: Goal,
        unit: &'static str,
        measured: Option<f64>,
    ) -> Target {
        let pass = measured.map(|value| match goal {
            Goal::AtLeast(limit) => value >= limit,
            Goal::Below(limit) => value < limit,
        });
        let verdict = match (measured, pass, goal) {
            (Some(value), Some(true), Goal::AtLeast(limit)) => {
                format!("pass, {:.0}% above", (value / limit - 1.0) * 100.0)
            }
            (Some(value), Some(false), Goal::AtLeast(limit)) => {
                format!("MISS by {:.0}%", (1.0 - value / limit) * 100.0)
            }
            (Some(value), Some(true), Goal::Below(limit)) => {
                format!("pass, {:.0}% below", (1.0 - value / limit) * 100.0)
            }
            (Some(value), Some(false), Goal::Below(limit)) => {
                format!(
                    "MISS by {:.0}% ({:.2} {unit} over)",
                    (value / limit - 1.0) * 100.0,
                    value - limit
                )
            }
            _ => "not measured".to_string(),
        };
        Target {
            name,
            goal,
            unit,
            measured,
            pass,
            verdict,
        }
    }

    pub(super) fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(limit) => format!("≥ {} {}", short(limit), self.unit),
            Goal::Below(limit) => format!("< {} {}", short(limit), self.unit),
        }
    }
}

/// A goal's limit with at most two decimals and no trailing zeros (`0.33`, `1.5`, `100`).
fn short(limit: f64) -> String {
    let text = format!("{limit:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
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
mod tests {
    use super::*;
    use crate::bench::report::tests::sample_report;

    #[test]
    fn verdicts_say_by_how_much() {
        let pass = Target::new("ratio", Goal::AtLeast(0.7), "×", Some(0.84));
        assert_eq!(
            (pass.pass, pass.verdict.as_str()),
            (Some(true), "pass, 20% above")
        );
        let miss = Target::new("ratio", Goal::AtLeast(0.8), "×", Some(0.6));
        assert_eq!(
            (miss.pass, miss.verdict.as_str()),
            (Some(false), "MISS by 25%")
        );
        let slow = Target::new("p99", Goal::Below(10.0), "ms", Some(15.0));
        assert_eq!(slow.verdict, "MISS by 50% (5.00 ms over)");
        let fast = Target::new("p99", Goal::Below(10.0), "ms", Some(2.5));
        assert_eq!(fast.verdict, "pass, 75% below");
        let third = Target::new("p99 ratio", Goal::Below(1.0 / 3.0), "×", Some(0.3));
        assert_eq!(third.goal_text(), "< 0.33 ×");
        assert_eq!(
            Target::new("x", Goal::AtLeast(1.5), "×", None).goal_text(),
            "≥ 1.5 ×"
        );
        assert_eq!(
            Target::new("x", Goal::Below(100.0), "ms", None).goal_text(),
            "< 100 ms"
        );
        let unmeasured = Target::new("cold start", Goal::Below(100.0), "ms", None);
        assert_eq!(
            (unmeasured.pass, unmeasured.verdict.as_str()),
            (None, "not measured")
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
