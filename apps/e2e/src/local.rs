//! The system run locally for the suite: a `redis-server` of its own and the real
//! `cargo xtask up` (the embedded runtime, or the Spin CLI) pointed at it, stopped with Ctrl-C
//! afterwards.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use dev_services::RedisServer;

use crate::System;

/// How long `cargo xtask up` may take to build and start on a cold cache (2 cores).
const START_DEADLINE: Duration = Duration::from_secs(15 * 60);

/// `cargo xtask up` (through `cargo run`, so it is built first) serving the order API on
/// `127.0.0.1:port`; more arguments may follow.
pub fn xtask_up(port: u16) -> Command {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .args([
            "run",
            "--locked",
            "--quiet",
            "--package",
            "xtask",
            "--",
            "up",
        ])
        .args(["--listen", &format!("127.0.0.1:{port}")]);
    command
}

pub struct LocalDeployment {
    redis: RedisServer,
    xtask: Child,
    log: PathBuf,
    system: System,
}

/// What runs the apps under `cargo xtask up` (its `--runtime`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Runtime {
    Embedded,
    SpinCli,
}

impl Runtime {
    /// The embedded runtime always; the Spin CLI too when `spin` is on PATH. Without it the
    /// caller's test skips it, saying so, except where `ORDER_SYSTEM_REQUIRE_SPIN` is set (the
    /// GitHub CI job that installs Spin): there a missing Spin fails. `.ci/run` cannot install
    /// Spin (no package registry carries it), so it runs these tests on the embedded runtime.
    pub fn available() -> Vec<Runtime> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        if std::env::split_paths(&path).any(|dir| dir.join("spin").is_file()) {
            return vec![Runtime::Embedded, Runtime::SpinCli];
        }
        assert!(
            std::env::var_os("ORDER_SYSTEM_REQUIRE_SPIN").is_none(),
            "the Spin CLI is not on PATH, and ORDER_SYSTEM_REQUIRE_SPIN asks for it (CI installs it with fermyon/actions/spin/setup)"
        );
        eprintln!("the Spin CLI is not on PATH: running on the embedded runtime only");
        vec![Runtime::Embedded]
    }

    fn argument(self) -> &'static str {
        match self {
            Runtime::Embedded => "local",
            Runtime::SpinCli => "spin",
        }
    }
}

impl LocalDeployment {
    /// On the embedded runtime.
    pub fn start() -> Result<LocalDeployment> {
        Self::start_on(Runtime::Embedded)
    }

    pub fn start_on(runtime: Runtime) -> Result<LocalDeployment> {
        let redis = RedisServer::start()?;
        let port = dev_services::free_port()?;
        let log = dev_services::private_dir("e2e-up")?.join("xtask-up.log");
        let log_file = std::fs::File::create(&log)?;
        let mut command = xtask_up(port);
        command
            .args(["--redis-url", &redis.url()])
            .args(["--runtime", runtime.argument()]);
        if let Ok(placement) = std::env::var(crate::PLACEMENT_VAR) {
            command.args(["--placement", &placement]);
        }
        let xtask = command
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("running `cargo xtask up`")?;
        let system = System::new(format!("http://127.0.0.1:{port}"), redis.url());
        let mut deployment = LocalDeployment {
            redis,
            xtask,
            log,
            system,
        };
        deployment.wait_until_serving()?;
        Ok(deployment)
    }

    fn wait_until_serving(&mut self) -> Result<()> {
        let start = Instant::now();
        while start.elapsed() < START_DEADLINE {
            if let Some(status) = self.xtask.try_wait()? {
                bail!("`cargo xtask up` exited ({status}):\n{}", self.log_tail());
            }
            if self.log_text().contains("order-system is up") {
                return self.system.wait_until_healthy(Duration::from_secs(10));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "`cargo xtask up` was not up within {START_DEADLINE:?}:\n{}",
            self.log_tail()
        )
    }

    pub fn system(&self) -> &System {
        &self.system
    }

    /// The suite's own Redis, to stop and start it.
    pub fn redis(&mut self) -> &mut RedisServer {
        &mut self.redis
    }

    /// Everything `cargo xtask up` and the apps have written so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last lines `cargo xtask up` wrote, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for LocalDeployment {
    /// Ctrl-C, as a user would: `cargo xtask up` stops the runtime it started.
    fn drop(&mut self) {
        let interrupted = Command::new("kill")
            .args(["-INT", &self.xtask.id().to_string()])
            .status()
            .is_ok_and(|status| status.success());
        let deadline = Instant::now() + Duration::from_secs(30);
        while interrupted && Instant::now() < deadline {
            if let Ok(Some(_)) = self.xtask.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.xtask.kill();
        let _ = self.xtask.wait();
    }
}
