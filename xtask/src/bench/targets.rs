//! A target: a goal on a measured figure (a ratio to a same-run baseline, or an absolute one),
//! and its verdict (by how much it passed or missed).

use serde::Serialize;

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
