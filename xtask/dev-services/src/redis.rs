use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::process::{free_port, private_dir, require_tool, wait_for_log_line};

#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// Append-only persistence, so a killed server keeps what it acknowledged.
    pub append_only: bool,
    /// Require this password (`requirepass`).
    pub password: Option<String>,
}

/// A `redis-server` on a free loopback port with its data in a private temporary directory.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    options: RedisOptions,
}

impl RedisServer {
    pub fn start() -> Result<RedisServer> {
        Self::start_with(RedisOptions::default())
    }

    pub fn start_with(options: RedisOptions) -> Result<RedisServer> {
        let dir = private_dir("redis")?;
        let mut server = RedisServer {
            child: None,
            port: 0,
            dir,
            options,
        };
        // A free port can be taken between our look and redis' bind: then try another.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn() {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("redis-server did not start")))
    }

    fn spawn(&mut self) -> Result<()> {
        let program = require_tool("redis-server", "redis-server")?;
        let port = self.port.to_string();
        let mut args = vec![
            "--port",
            &port,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "notice",
        ];
        let dir = self.dir.to_string_lossy().into_owned();
        let log = self.log_file();
        let _ = std::fs::remove_file(&log);
        let log_arg = log.to_string_lossy().into_owned();
        args.extend(["--dir", &dir, "--logfile", &log_arg]);
        if self.options.append_only {
            args.extend(["--appendonly", "yes", "--appendfsync", "always"]);
        } else {
            args.extend(["--appendonly", "no"]);
        }
        if let Some(password) = &self.options.password {
            args.extend(["--requirepass", password]);
        }
        let child = Command::new(&program)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        self.child = Some(child);
        let server = format!("redis-server on port {}", self.port);
        wait_for_log_line(
            &mut self.child,
            &log,
            "Ready to accept connections",
            &server,
        )
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://[:password@]127.0.0.1:port`
    pub fn url(&self) -> String {
        match &self.options.password {
            Some(password) => format!("redis://:{password}@127.0.0.1:{}", self.port),
            None => format!("redis://127.0.0.1:{}", self.port),
        }
    }

    /// The password it requires, if any.
    pub fn password(&self) -> Option<&str> {
        self.options.password.as_deref()
    }

    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Kills the server with SIGKILL: no shutdown save, as in a crash.
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing redis-server")?;
            child.wait().context("reaping redis-server")?;
        }
        Ok(())
    }

    /// Starts the server again on the same port and data directory.
    pub fn restart(&mut self) -> Result<()> {
        self.kill()?;
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
