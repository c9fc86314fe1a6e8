//! `cargo xtask up --metrics`: redis_exporter with the chart's `files/metrics.lua`, supervised as
//! the apps are, against the apps' Redis as their Redis user, configured through its environment
//! as the chart's sidecar is.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use duct::cmd;

use super::redis_location::RedisLocation;
use super::runtime::start_logged;
use super::supervise::{self, BackOff, Supervised};
use crate::provision;

/// A running redis_exporter; stopped, and its filled-in `metrics.lua` removed, on drop.
pub struct MetricsExporter {
    process: Supervised,
    listen: SocketAddr,
    /// Dropped after the process has stopped.
    _script_dir: ScriptDir,
}

/// The private directory of the filled-in `metrics.lua`, removed on drop, however `start` ends.
struct ScriptDir(PathBuf);

impl Drop for ScriptDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl MetricsExporter {
    /// Starts redis_exporter against `redis_url` with `files/metrics.lua` filled with the run's
    /// prefix, channel and shards (in a private temporary file), and waits until it listens;
    /// supervised as the apps are (its output to `log`, restarted after `back_off`).
    /// `check_started` fails if an app process exited meanwhile.
    ///
    /// Errors: the script fails against this Redis as its user (a user without the `metrics`
    /// role's rules, named), the exporter is not installed, or it does not listen within 30 s.
    pub fn start(
        redis_url: &str,
        prefix: &str,
        channel: &str,
        shards: u32,
        log: Option<PathBuf>,
        back_off: BackOff,
        check_started: &dyn Fn() -> Result<()>,
    ) -> Result<MetricsExporter> {
        let script = dev_services::write_metrics_script(prefix, channel, shards)?;
        let script_dir = ScriptDir(
            script
                .parent()
                .context("metrics.lua has no directory")?
                .to_path_buf(),
        );
        // The exporter only logs a script that fails, on every scrape: say why here, once.
        let text = std::fs::read_to_string(&script)?;
        let location = RedisLocation::parse(redis_url)?;
        let answer = location
            .redis_cli(&["EVAL", &text, "0"])
            .unchecked()
            .stderr_to_stdout()
            .read()
            .unwrap_or_else(|error| error.to_string());
        ensure!(
            answer.contains("order_system_orders_pending"),
            "--metrics: files/metrics.lua fails against this Redis as {}: {}. With --redis-url \
             or `redis_user`, that user also needs the `metrics` role's rules of \
             charts/order-system/files/redis-acl.conf",
            location
                .user_name()
                .unwrap_or_else(|| "default".to_string()),
            answer.trim()
        );
        let program = provision::which(dev_services::EXPORTER_PROGRAM)
            .context("prometheus-redis-exporter is not on PATH")?;
        let listen = SocketAddr::from(([127, 0, 0, 1], dev_services::free_port()?));
        let environment: HashMap<OsString, OsString> =
            dev_services::exporter_environment(redis_url, &script, listen)
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .chain(std::env::var_os("PATH").map(|path| ("PATH".into(), path)))
                .collect();
        let name = "redis_exporter (metrics)";
        let starter = Box::new(move || {
            let expression = cmd!(&program).full_env(&environment).unchecked();
            start_logged(expression, name, log.as_deref())
        });
        let exporter = MetricsExporter {
            process: Supervised::start(name, starter, back_off)?,
            listen,
            _script_dir: script_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_err() {
            check_started()?;
            ensure!(
                exporter.process.exits() == 0,
                "{name} exited while starting (its output above says why)"
            );
            ensure!(
                Instant::now() < deadline,
                "{name} did not listen on {listen} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(exporter)
    }

    /// Its `/metrics` page, e.g. `http://127.0.0.1:9121/metrics`.
    pub fn url(&self) -> String {
        format!("http://{}/metrics", self.listen)
    }
}

impl Drop for MetricsExporter {
    fn drop(&mut self) {
        // Stopped before its script is removed, which a restart would read.
        supervise::stop_all(std::slice::from_mut(&mut self.process));
    }
}
