//! The chart's reconciler run on this machine: the same script (`files/reconcile.lua`) and the
//! same command as its CronJob, `redis-cli --eval`, on an interval from a background thread.

use std::path::PathBuf;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::process::require_tool;

/// Where the pending orders are and which of them to re-publish.
#[derive(Clone, Debug)]
pub struct ReconcilerOptions {
    /// The apps' Redis.
    pub host: String,
    pub port: u16,
    /// The Redis ACL user (decoded), given to redis-cli as `--user`; `None` for `default`.
    pub user: Option<String>,
    /// Given to redis-cli through `REDISCLI_AUTH`, as the CronJob does (never on its command line).
    pub password: Option<String>,
    /// Talk TLS (`rediss://`).
    pub tls: bool,
    /// The new-orders channel (the apps' `order_channel`).
    pub channel: String,
    /// The key prefix (the apps' `key_prefix`); the pending index is `<prefix>pending`.
    pub key_prefix: String,
    /// Re-publish only orders accepted at least this long ago.
    pub min_age: Duration,
    /// The most orders one run re-publishes.
    pub batch: u32,
    /// The fulfilment shards (the apps' `order_shards`, at least 1): each order is re-published
    /// to its shard's channel under this count (the script's ARGV[5]; docs/api.md).
    pub shards: u32,
}

impl ReconcilerOptions {
    /// For `redis` (plain TCP) as its `default` user with the server's password, and the apps'
    /// defaults: channel `neworders`, prefix `order:`, one shard; orders
    /// pending 1 s are re-published, 100 a run.
    pub fn for_server(redis: &crate::RedisServer) -> ReconcilerOptions {
        ReconcilerOptions {
            host: "127.0.0.1".to_string(),
            port: redis.port(),
            user: None,
            password: redis.password().map(str::to_string),
            tls: false,
            channel: "neworders".to_string(),
            key_prefix: "order:".to_string(),
            min_age: Duration::from_secs(1),
            batch: 100,
            shards: 1,
        }
    }
}

/// What one run did: the script's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconciled {
    pub republished: u64,
    pub dropped: u64,
}

/// The script, shipped in the chart and run from there.
pub fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../charts/order-system/files/reconcile.lua")
}

/// Runs the script once.
pub fn reconcile_once(options: &ReconcilerOptions) -> Result<Reconciled> {
    let program = require_tool("redis-cli", "redis-tools")?;
    let script = script();
    let pending = format!("{}pending", options.key_prefix);
    let min_age_ms = options.min_age.as_millis().to_string();
    let batch = options.batch.to_string();
    let shards = options.shards.to_string();
    let port = options.port.to_string();
    let mut command = std::process::Command::new(&program);
    command.args(["--no-auth-warning", "-h", &options.host, "-p", &port]);
    if let Some(user) = &options.user {
        command.args(["--user", user]);
    }
    match &options.password {
        Some(password) => command.env("REDISCLI_AUTH", password),
        None => command.env_remove("REDISCLI_AUTH"),
    };
    if options.tls {
        command.arg("--tls");
    }
    command.arg("--eval").arg(&script).args([
        pending.as_str(),
        ",",
        &options.channel,
        &options.key_prefix,
        &min_age_ms,
        &batch,
        &shards,
    ]);
    let output = command
        .output()
        .with_context(|| format!("running {}", program.display()))?;
    let answer = String::from_utf8_lossy(&output.stdout);
    // redis-cli exits 0 even on an error reply, so the answer itself must be the two counts.
    let counts: Option<Vec<u64>> = answer
        .split_whitespace()
        .map(|word| word.parse().ok())
        .collect();
    match (output.status.success(), counts.as_deref()) {
        (true, Some(&[republished, dropped])) => Ok(Reconciled {
            republished,
            dropped,
        }),
        _ => bail!(
            "the reconciler ({}) failed: {} {}",
            script.display(),
            answer.trim(),
            String::from_utf8_lossy(&output.stderr).trim()
        ),
    }
}

/// [`reconcile_once`] every `interval` on a background thread until dropped; each run that did
/// something, and each failure (Redis down: the next run tries again), is printed.
pub struct Reconciler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Reconciler {
    pub fn start(options: ReconcilerOptions, interval: Duration) -> Result<Reconciler> {
        require_tool("redis-cli", "redis-tools")?;
        let (stop, stopped) = mpsc::channel();
        let thread = std::thread::spawn(move || {
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                match reconcile_once(&options) {
                    Ok(Reconciled {
                        republished: 0,
                        dropped: 0,
                    }) => {}
                    Ok(run) => println!(
                        "[reconciler] re-published {} pending orders, dropped {} stale index entries",
                        run.republished, run.dropped
                    ),
                    Err(error) => eprintln!("[reconciler] {error:#}"),
                }
            }
        });
        Ok(Reconciler {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Reconciler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
