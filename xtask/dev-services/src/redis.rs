use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

use crate::process::{free_port, private_dir, require_tool, wait_for_log_line};

#[derive(Clone, Debug, Default)]
pub struct RedisOptions {
    /// Append-only persistence, so a killed server keeps what it acknowledged.
    pub append_only: bool,
    /// Require this password (`requirepass`).
    pub password: Option<String>,
    /// Serve TLS only (`rediss://`), with a certificate for 127.0.0.1 signed by a throwaway
    /// CA: see [`RedisServer::ca_file`].
    pub tls: bool,
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
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--daemonize",
            "no",
            "--loglevel",
            "notice",
            // Redis' default, given explicitly: the order system runs only on a Redis that never
            // evicts (an evicted key is a lost order), and a test that wants another sets it.
            "--maxmemory-policy",
            "noeviction",
        ];
        let dir = self.dir.to_string_lossy().into_owned();
        let log = self.log_file();
        let _ = std::fs::remove_file(&log);
        let log_arg = log.to_string_lossy().into_owned();
        args.extend(["--dir", &dir, "--logfile", &log_arg]);
        let tls_files = if self.options.tls {
            Some(self.issue_certificate()?)
        } else {
            None
        };
        match &tls_files {
            None => args.extend(["--port", &port]),
            Some([certificate, key, ca]) => args.extend([
                "--port",
                "0",
                "--tls-port",
                &port,
                "--tls-cert-file",
                certificate,
                "--tls-key-file",
                key,
                "--tls-ca-cert-file",
                ca,
                "--tls-auth-clients",
                "no",
            ]),
        }
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

    /// Writes a CA and a server certificate for 127.0.0.1 it signed (with `openssl`), once;
    /// returns the certificate's, key's and CA's paths.
    fn issue_certificate(&self) -> Result<[String; 3]> {
        let file = |name: &str| self.dir.join(name).to_string_lossy().into_owned();
        let [ca_key, ca, key, request, certificate, extensions] = [
            "ca.key",
            "ca.crt",
            "server.key",
            "server.csr",
            "server.crt",
            "server.ext",
        ]
        .map(file);
        if !Path::new(&certificate).exists() {
            let openssl = require_tool("openssl", "openssl")?;
            std::fs::write(&extensions, "subjectAltName = IP:127.0.0.1\n")?;
            let steps: [&[&str]; 3] = [
                &[
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "2",
                    "-subj",
                    "/CN=dev-services test CA",
                    "-keyout",
                    &ca_key,
                    "-out",
                    &ca,
                ],
                &[
                    "req",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-subj",
                    "/CN=127.0.0.1",
                    "-keyout",
                    &key,
                    "-out",
                    &request,
                ],
                &[
                    "x509",
                    "-req",
                    "-in",
                    &request,
                    "-CA",
                    &ca,
                    "-CAkey",
                    &ca_key,
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    &extensions,
                    "-out",
                    &certificate,
                ],
            ];
            for step in steps {
                let output = Command::new(&openssl)
                    .args(step)
                    .output()
                    .context("running openssl")?;
                anyhow::ensure!(
                    output.status.success(),
                    "openssl {} failed: {}",
                    step.join(" "),
                    String::from_utf8_lossy(&output.stderr)
                );
            }
        }
        Ok([certificate, key, ca])
    }

    /// The CA that signed the server's certificate, when it serves TLS: what clients trust.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.options.tls.then(|| self.dir.join("ca.crt"))
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("redis.log")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis[s]://[:password@]127.0.0.1:port`, the password percent-encoded (every character but
    /// letters and digits), as a URL must carry it.
    pub fn url(&self) -> String {
        let scheme = if self.options.tls { "rediss" } else { "redis" };
        match self.url_password() {
            Some(password) => format!("{scheme}://:{password}@127.0.0.1:{}", self.port),
            None => format!("{scheme}://127.0.0.1:{}", self.port),
        }
    }

    /// The password it requires, if any.
    pub fn password(&self) -> Option<&str> {
        self.options.password.as_deref()
    }

    /// That password as it stands in [`RedisServer::url`]: the form of the apps' `redis_password`.
    pub fn url_password(&self) -> Option<String> {
        let password = self.options.password.as_deref()?;
        Some(utf8_percent_encode(password, NON_ALPHANUMERIC).to_string())
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
