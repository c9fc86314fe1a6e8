//! The load generator: `oha`, pinned and installed into target/tools, run at a fixed duration
//! and concurrency; its JSON summary read into [`Figures`].

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use duct::cmd;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::project;

/// The load generator, pinned: its JSON output is parsed here.
pub(super) const OHA_VERSION: &str = "1.16.0";

/// `oha` from target/tools, installed there with `cargo install` when missing.
pub(super) fn oha() -> Result<PathBuf> {
    let root = project::root().join("target").join("tools");
    let binary = root.join("bin").join("oha");
    let installed = cmd!(&binary, "--version")
        .stderr_null()
        .read()
        .is_ok_and(|version| version.trim_end().ends_with(OHA_VERSION));
    if !installed {
        eprintln!("bench: installing the load generator oha {OHA_VERSION} into target/tools");
        cmd!(
            project::cargo(),
            "install",
            "oha",
            "--version",
            OHA_VERSION,
            "--locked",
            "--root",
            &root
        )
        .run()
        .with_context(|| {
            format!("installing oha: run `cargo install oha --version {OHA_VERSION} --locked`")
        })?;
    }
    Ok(binary)
}

/// One load-generator setting: how long and how many connections.
pub(super) struct Load {
    pub(super) oha: PathBuf,
    pub(super) duration: Duration,
    pub(super) connections: u32,
}

pub(super) struct Request {
    url: String,
    body: Option<&'static str>,
}

impl Request {
    pub(super) fn get(url: &str) -> Request {
        Request {
            url: url.into(),
            body: None,
        }
    }

    pub(super) fn post(url: &str, body: &'static str) -> Request {
        Request {
            url: url.into(),
            body: Some(body),
        }
    }
}

impl Load {
    pub(super) fn oha_command(&self, request: &Request, duration: Duration) -> duct::Expression {
        let mut args = vec![
            "--no-tui".to_string(),
            "--output-format".into(),
            "json".into(),
            "-z".into(),
            format!("{}ms", duration.as_millis()),
            "-c".into(),
            self.connections.to_string(),
            // Requests in flight at the deadline are answered, not counted as errors.
            "--wait-ongoing-requests-after-deadline".into(),
        ];
        if let Some(body) = request.body {
            args.extend(["-m", "POST", "-T", "application/json", "-d", body].map(String::from));
        }
        args.push(request.url.clone());
        cmd(&self.oha, args)
    }

    /// A short warm-up (every connection opened, every instance warm), then `duration` of load;
    /// every answer must have `status`.
    pub(super) fn run(&self, name: &str, request: &Request, status: u16) -> Result<Figures> {
        let warm_up = self
            .oha_command(request, Duration::from_millis(500))
            .read()
            .with_context(|| format!("oha ({name}, warm-up) failed"))?;
        Figures::from_oha(name, &warm_up, status).with_context(|| format!("warming up {name}"))?;
        let json = self
            .oha_command(request, self.duration)
            .read()
            .with_context(|| format!("oha ({name}) failed"))?;
        Figures::from_oha(name, &json, status)
    }
}

/// Throughput and latency of one kind of request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    pub(super) requests: u64,
    pub(super) requests_per_second: f64,
    pub(super) p50_ms: f64,
    pub(super) p90_ms: f64,
    pub(super) p99_ms: f64,
    /// `(percentile, ms)`, for the plot.
    pub(super) curve: Vec<(f64, f64)>,
}

impl Figures {
    /// Reads oha's JSON summary; fails unless every request got an answer with `status`.
    pub(super) fn from_oha(name: &str, json: &str, status: u16) -> Result<Figures> {
        let summary: Value = serde_json::from_str(json)
            .with_context(|| format!("{name}: oha printed no JSON summary: {json}"))?;
        let errors = &summary["errorDistribution"];
        if errors.as_object().is_some_and(|errors| !errors.is_empty()) {
            bail!("{name}: requests failed: {errors}");
        }
        let codes = summary["statusCodeDistribution"]
            .as_object()
            .with_context(|| format!("{name}: oha reported no status codes"))?;
        let expected = status.to_string();
        if let Some((code, count)) = codes.iter().find(|(code, _)| **code != expected) {
            bail!("{name}: {count} answers were {code}, not {status}");
        }
        let requests = codes.get(&expected).and_then(Value::as_u64).unwrap_or(0);
        ensure!(requests > 0, "{name}: no request was answered");
        let percentiles = summary["latencyPercentiles"]
            .as_object()
            .with_context(|| format!("{name}: oha reported no latency percentiles"))?;
        let mut curve = Vec::new();
        for (key, seconds) in percentiles {
            let percentile: f64 = key
                .strip_prefix('p')
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("{name}: unexpected percentile {key}"))?;
            let seconds = seconds
                .as_f64()
                .with_context(|| format!("{name}: {key} is {seconds}"))?;
            curve.push((percentile, seconds * 1000.0));
        }
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        let at = |p: f64| {
            curve
                .iter()
                .find(|(percentile, _)| *percentile == p)
                .map(|(_, ms)| *ms)
                .with_context(|| format!("{name}: oha reported no p{p}"))
        };
        Ok(Figures {
            requests,
            requests_per_second: summary["summary"]["requestsPerSec"]
                .as_f64()
                .with_context(|| format!("{name}: oha reported no requests per second"))?,
            p50_ms: at(50.0)?,
            p90_ms: at(90.0)?,
            p99_ms: at(99.0)?,
            curve,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OHA_JSON: &str = r#"{
        "summary": {"successRate": 1.0, "total": 1.0, "requestsPerSec": 1234.5},
        "latencyPercentiles": {"p10": 0.0005, "p25": 0.0006, "p50": 0.0008, "p75": 0.001,
            "p90": 0.0012, "p95": 0.0015, "p99": 0.003, "p99.9": 0.006, "p99.99": 0.009},
        "statusCodeDistribution": {"202": 1234},
        "errorDistribution": {}
    }"#;

    #[test]
    fn reads_oha_json() {
        let figures = Figures::from_oha("POST", OHA_JSON, 202).unwrap();
        assert_eq!(figures.requests, 1234);
        assert_eq!(figures.requests_per_second, 1234.5);
        assert_eq!(
            (figures.p50_ms, figures.p90_ms, figures.p99_ms),
            (0.8, 1.2, 3.0)
        );
        assert_eq!(figures.curve.len(), 9);
        assert_eq!(figures.curve[0], (10.0, 0.5));
        assert_eq!(figures.curve[8].0, 99.99);
    }

    #[test]
    fn oha_answers_with_other_statuses_or_errors_fail() {
        let error = Figures::from_oha("GET", OHA_JSON, 200).unwrap_err();
        assert!(
            error.to_string().contains("1234 answers were 202, not 200"),
            "{error}"
        );
        let refused = OHA_JSON.replace(
            r#""errorDistribution": {}"#,
            r#""errorDistribution": {"connection refused": 3}"#,
        );
        let error = Figures::from_oha("POST", &refused, 202).unwrap_err();
        assert!(error.to_string().contains("connection refused"), "{error}");
        let error = Figures::from_oha("POST", "oha: error", 202).unwrap_err();
        assert!(error.to_string().contains("no JSON summary"), "{error}");
    }
}
