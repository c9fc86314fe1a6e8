//! Cold start: from spawning a runtime process to its first 2xx answer, polled every
//! millisecond (refused connections fail at once, so the poll adds at most that).

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;

const POLL: Duration = Duration::from_millis(1);

/// Spawn PROGRAM ARGS…, time it to the first 2xx from --url, then stop it.
#[derive(clap::Args)]
pub struct ColdStart {
    /// What to GET until it answers 2xx.
    #[arg(long)]
    url: String,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 120.0)]
    timeout: f64,
    /// An environment variable of the runtime (NAME=VALUE); repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = parse_env)]
    environment: Vec<(String, String)>,
    /// The runtime's command line.
    #[arg(last = true, required = true, value_name = "PROGRAM ARGS")]
    command: Vec<String>,
}

fn parse_env(text: &str) -> Result<(String, String)> {
    let (name, value) = text
        .split_once('=')
        .with_context(|| format!("expected NAME=VALUE, got {text:?}"))?;
    Ok((name.to_string(), value.to_string()))
}

impl ColdStart {
    pub fn run(self) -> Result<String> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let (program, args) = self.command.split_first().context("no command to start")?;
        let started = Instant::now();
        let mut child = Command::new(program)
            .args(args)
            .envs(self.environment.iter().map(|(name, value)| (name, value)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {program}"))?;
        let deadline = started + Duration::from_secs_f64(self.timeout);
        let outcome = loop {
            if let Ok(response) = agent.get(&self.url).call()
                && response.status().is_success()
            {
                break Ok(started.elapsed());
            }
            if let Some(status) = child.try_wait()? {
                break Err(anyhow::anyhow!(
                    "{program} exited ({status}) before answering"
                ));
            }
            if Instant::now() > deadline {
                break Err(anyhow::anyhow!(
                    "{} answered no 2xx within {} s",
                    self.url,
                    self.timeout
                ));
            }
            std::thread::sleep(POLL);
        };
        let _ = child.kill();
        child.wait().context("reaping the runtime")?;
        match outcome {
            Ok(elapsed) => Ok(json!({
                "ms": elapsed.as_secs_f64() * 1000.0,
                "poll_interval_ms": POLL.as_secs_f64() * 1000.0,
            })
            .to_string()),
            Err(error) => bail!(error),
        }
    }
}
