//! `cargo xtask up`: the whole system on this machine until Ctrl-C. It builds the components,
//! starts a `redis-server` that never evicts on a free loopback port (unless `--redis-url`, or
//! the apps' `redis_*` variables, name a Redis: then it first checks that Redis' maxmemory-policy
//! is `noeviction`) and runs each app in a process of its own, as a pod: on the Spin CLI when a
//! supported `spin` is on PATH, else on the embedded runtime (`xtask/spin-local`, built only
//! then), or as `--runtime spin|local` says; it prints which and why. As kubelet does, it
//! restarts an app that exits (the Redis trigger exits when its subscription drops), with a growing
//! back-off (`supervise`). Beside them, the chart's reconciler script re-publishes orders still
//! unfulfilled after a few seconds, as the CronJob does in a cluster; with `--metrics`,
//! redis_exporter runs the chart's order-flow script next to them. The apps' variables
//! (`--variable`, `SPIN_VARIABLE_*`, `.env`) reach everything it starts: `app_variables` resolves
//! them as the runtime does. [`start_local`] does the same for tests and returns a guard that stops
//! everything on drop.
//! `--cluster k3d` hands over to the `cluster` module instead.
//!
//! This file is the command: its flags and how they become [`LocalOptions`]. Starting and
//! supervising the local system is in `local`; one runtime process (spin-local or `spin up`)
//! in `runtime`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use signal_hook::consts::{SIGINT, SIGTERM};

use crate::cluster;

mod app_variables;
mod local;
mod metrics;
mod redis_location;
mod runtime;
mod supervise;

use redis_location::RedisLocation;
use runtime::choose_runtime;
use supervise::BackOff;

pub use local::{LocalOptions, start_local};
pub use runtime::{AppRuntime, RuntimeCommand, runtime_command, start};

use local::{RECONCILE_EVERY, RECONCILE_MIN_AGE};

/// Build and run the whole system locally until Ctrl-C, or deploy it to a local cluster with
/// `--cluster k3d`; prints the order API's address.
#[derive(clap::Args)]
pub struct Up {
    #[command(flatten)]
    cluster: cluster::ClusterArgs,
    /// The address the order API listens on.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDRESS")]
    listen: SocketAddr,
    /// Use this Redis instead of starting a redis-server: redis://[[user]:password@]host[:port]
    /// (rediss:// for TLS), user and password percent-encoded as in any URL. Both apps, the
    /// readiness wait and the reconciler run as that one Redis user, so it needs what all of
    /// them do (the chart gives each app a user of its own). Its maxmemory-policy must be
    /// `noeviction`: it is read from `INFO memory` before anything starts. Setting the apps'
    /// `redis_*` variables instead (flags, SPIN_VARIABLE_*) names an existing Redis too.
    #[arg(long, value_name = "URL")]
    redis_url: Option<String>,
    /// What runs the apps: the embedded runtime, or the Spin CLI (`spin`) from PATH. By default
    /// the Spin CLI when a supported one (3.6 or later, or 4.x) is on PATH, as it needs no build;
    /// else the embedded runtime, which compiles wasmtime on its first run.
    #[arg(long, value_enum)]
    runtime: Option<AppRuntime>,
    /// Sets an application variable of both apps; repeatable. Like `SPIN_VARIABLE_<NAME>` in the
    /// environment (or a `.env` file here), which it beats, it reaches the apps, the readiness
    /// wait and the reconciler.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// Fulfilment shards: one fulfilment-processor per shard channel, as the chart's
    /// `fulfilmentProcessor.shards` (docs/api.md).
    #[arg(long, default_value_t = 1, value_parser = parse_shards)]
    shards: u32,
    /// An app that exits is restarted at once, then after this many seconds, doubling up to 30×
    /// this, from the start again once it ran 60× this: kubelet's CrashLoopBackOff (10, 300 and
    /// 600 s), scaled down by default.
    #[arg(long, default_value_t = 1.0, value_name = "SECONDS", value_parser = parse_seconds)]
    restart_backoff: f64,
    /// Where fulfilment runs (docs/nano-services.md): the order-processor's
    /// `fulfilment_placement` variable; the manifest's default (`message`) when not given.
    /// The values are the receiver's own (`order_model::Placement::NAMES`).
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(order_model::Placement::NAMES))]
    placement: Option<String>,
    /// Export OpenTelemetry traces from both apps to this OTLP/HTTP endpoint (a Collector's or
    /// Jaeger's port 4318, e.g. http://127.0.0.1:4318): sets the standard
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` and `OTEL_SERVICE_NAME` (the app's name) of each app's
    /// process, which both runtimes read (docs/observability.md).
    #[arg(long, value_name = "URL", value_parser = parse_otlp_endpoint)]
    otel: Option<String>,
    /// Also run redis_exporter (Debian's `prometheus-redis-exporter`) with the chart's
    /// order-flow script (charts/order-system/files/metrics.lua) against the system's Redis, as
    /// its Redis user, on a free loopback port; prints its /metrics address
    /// (docs/observability.md, Metrics).
    #[arg(long)]
    metrics: bool,
}

/// An OTLP endpoint is an `http://` or `https://` URL.
fn parse_otlp_endpoint(text: &str) -> Result<String> {
    let authority = text
        .strip_prefix("http://")
        .or_else(|| text.strip_prefix("https://"))
        .map(|rest| rest.split('/').next().unwrap_or_default());
    ensure!(
        authority.is_some_and(|authority| !authority.is_empty() && !authority.contains(' ')),
        "{text:?} is not an OTLP/HTTP endpoint: give http://HOST:PORT (a Collector listens on 4318)"
    );
    Ok(text.to_string())
}

/// `--variable fulfilment_placement=<placement>`: one of `order_model::Placement::NAMES`.
pub fn placement_variable(placement: &str) -> (String, String) {
    (
        order_model::config::vars::FULFILMENT_PLACEMENT.to_string(),
        placement.to_string(),
    )
}

fn parse_shards(text: &str) -> Result<u32, String> {
    order_model::shard::parse_shards(text)
}

fn parse_seconds(text: &str) -> Result<f64> {
    let seconds: f64 = text
        .parse()
        .with_context(|| format!("{text:?} is not a number of seconds"))?;
    ensure!(
        seconds > 0.0 && seconds <= 600.0,
        "the restart back-off must be over 0 and at most 600 seconds, not {seconds}"
    );
    Ok(seconds)
}

fn parse_variable(text: &str) -> Result<(String, String)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("expected NAME=VALUE, got {text:?}"))?;
    Ok((name.to_string(), value.to_string()))
}

impl Up {
    pub fn run(self) -> Result<()> {
        if let Some(kind) = self.cluster.cluster {
            return cluster::up(kind, &self.cluster);
        }
        let stop = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, stop.clone()).context("handling Ctrl-C")?;
        }
        let choice = choose_runtime(self.runtime, std::env::var_os("PATH").as_deref())?;
        println!("{}", choice.why);
        let mut variables = self.variables;
        variables.extend(self.placement.as_deref().map(placement_variable));
        let system = start_local(&LocalOptions {
            listen: Some(self.listen),
            redis_url: self.redis_url,
            runtime: choice.runtime,
            variables,
            shards: self.shards,
            log: None,
            back_off: BackOff::scaled(Duration::from_secs_f64(self.restart_backoff)),
            otel: self.otel,
            metrics: self.metrics,
        })?;
        println!(
            "\norder-system is up: the order API is at {} (Redis at {}). Every {RECONCILE_EVERY:?} \
             the reconciler re-publishes orders unfulfilled for {RECONCILE_MIN_AGE:?}; an app that \
             exits is restarted. Ctrl-C stops it.",
            system.base_url(),
            RedisLocation::parse(system.redis_url())?.without_password()
        );
        if let Some(url) = system.metrics_url() {
            println!(
                "Metrics: redis_exporter serves the order-flow figures at {url} (raw, as \
                 redis_script_values{{key=\"order_system_…\"}}; docs/observability.md, Metrics)."
            );
        }
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(Duration::from_millis(100));
        }
        println!("Stopping…");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project;
    use app_variables::AppVariables;

    #[test]
    fn placements_are_the_receivers_variable_values() {
        let apps = project::apps().unwrap();
        assert_eq!(
            AppVariables::with_environment(&[], |_| Ok(None))
                .unwrap()
                .value(&apps, "fulfilment_placement")
                .unwrap(),
            "message"
        );
        for placement in order_model::Placement::NAMES {
            let (name, value) = placement_variable(placement);
            assert!(
                order_model::Placement::load(|asked| {
                    assert_eq!(asked, name);
                    Ok(value.clone())
                })
                .is_ok()
            );
        }
    }
}
