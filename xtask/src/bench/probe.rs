//! `bench-probe` (xtask/bench/probe), which keeps the end-to-end timing, cold start and plot's
//! dependencies out of xtask: built once, run per measurement, its JSON answers read here.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use duct::cmd;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{project, up};

/// The end-to-end figures, as bench-probe reports them plus the load they were taken under.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndToEnd {
    pub(super) method: String,
    #[serde(default)]
    pub(super) offered_rate_per_s: f64,
    #[serde(default)]
    pub(super) background_achieved_rate_per_s: f64,
    pub(super) rate_per_s: f64,
    pub(super) sent: u64,
    pub(super) lost: u64,
    pub(super) latency: Option<ProbeLatency>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeLatency {
    pub(super) count: u64,
    pub(super) p50_ms: f64,
    pub(super) p90_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
    pub(super) curve: Vec<(f64, f64)>,
}

/// `bench-probe`, built once, run per measurement.
pub(super) struct Probe {
    binary: PathBuf,
}

impl Probe {
    pub(super) fn build() -> Result<Probe> {
        project::cargo_command(["build", "--quiet", "--locked", "--package", "bench-probe"])
            .run()
            .context("building bench-probe (xtask/bench/probe)")?;
        Ok(Probe {
            binary: project::root()
                .join("target")
                .join("debug")
                .join("bench-probe"),
        })
    }

    fn run(&self, args: &[String]) -> Result<Value> {
        let output = cmd(&self.binary, args)
            .read()
            .with_context(|| format!("bench-probe {}", args.join(" ")))?;
        serde_json::from_str(&output)
            .with_context(|| format!("bench-probe {} printed {output:?}", args[0]))
    }

    pub(super) fn create_order(&self, base: &str) -> Result<String> {
        let answer = self.run(&["create-order".into(), "--url".into(), base.into()])?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .context("bench-probe create-order printed no id")
    }

    pub(super) fn end_to_end(
        &self,
        base: &str,
        redis_url: Option<&str>,
        rate: f64,
        duration: Duration,
    ) -> Result<EndToEnd> {
        let mut args: Vec<String> = vec![
            "end-to-end".into(),
            "--url".into(),
            base.into(),
            "--rate".into(),
            rate.to_string(),
            "--duration".into(),
            duration.as_secs_f64().to_string(),
        ];
        if let Some(redis_url) = redis_url {
            args.extend(["--redis".into(), redis_url.into()]);
        }
        Ok(serde_json::from_value(self.run(&args)?)?)
    }

    pub(super) fn cold_start(&self, url: &str, command: &up::RuntimeCommand) -> Result<f64> {
        let mut args: Vec<String> = vec!["cold-start".into(), "--url".into(), url.into()];
        for (name, value) in &command.environment {
            args.extend(["--env".into(), format!("{name}={value}")]);
        }
        args.push("--".into());
        args.push(command.program.display().to_string());
        args.extend(command.arguments.iter().cloned());
        let answer = self.run(&args)?;
        answer["ms"]
            .as_f64()
            .context("bench-probe cold-start printed no time")
    }

    pub(super) fn plot(&self, curves: &Path, svg: &Path) -> Result<()> {
        self.run(&[
            "plot".into(),
            "--curves".into(),
            curves.display().to_string(),
            "--out".into(),
            svg.display().to_string(),
        ])?;
        Ok(())
    }
}
