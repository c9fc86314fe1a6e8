use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

use crate::process::{free_port, private_dir, require_tool, wait_for_log_line};

#[derive(Clone, Debug, Default)]
pub struct RegistryOptions {
    /// Require HTTP basic auth with this `(user, password)` (an htpasswd file).
    pub credentials: Option<(String, String)>,
}

/// An OCI registry (Debian's `docker-registry`, CNCF distribution 2.8) over plain HTTP on a
/// free loopback port, storing blobs in a private temporary directory.
pub struct RegistryServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

impl RegistryServer {
    pub fn start() -> Result<RegistryServer> {
        Self::start_with(RegistryOptions::default())
    }

    pub fn start_with(options: RegistryOptions) -> Result<RegistryServer> {
        let mut server = RegistryServer {
            child: None,
            port: 0,
            dir: private_dir("registry")?,
        };
        if let Some((user, password)) = &options.credentials {
            // Cost 4, the minimum: the registry checks the hash on every request.
            let hash = bcrypt::hash(password, 4).context("hashing the registry password")?;
            std::fs::write(server.dir.join("htpasswd"), format!("{user}:{hash}\n"))?;
        }
        // A free port can be taken between our look and the registry's bind: then try another.
        let mut last_error = None;
        for _ in 0..5 {
            server.port = free_port()?;
            match server.spawn(&options) {
                Ok(()) => return Ok(server),
                Err(error) => last_error = Some(error),
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("docker-registry did not start")))
    }

    fn spawn(&mut self, options: &RegistryOptions) -> Result<()> {
        let program = require_tool("docker-registry", "docker-registry")?;
        let auth = match &options.credentials {
            Some(_) => format!(
                "auth:\n  htpasswd:\n    realm: order-system\n    path: {}\n",
                self.dir.join("htpasswd").display()
            ),
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\n\
             log:\n  level: info\n\
             storage:\n  filesystem:\n    rootdirectory: {storage}\n  delete:\n    enabled: true\n\
             http:\n  addr: 127.0.0.1:{port}\n\
             {auth}",
            storage = self.dir.join("storage").display(),
            port = self.port,
        );
        let config_file = self.dir.join("config.yml");
        std::fs::write(&config_file, config)?;
        let log = std::fs::File::create(self.log_file())?;
        let child = Command::new(&program)
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", program.display()))?;
        self.child = Some(child);
        let server = format!("docker-registry on port {}", self.port);
        let listening = format!("listening on 127.0.0.1:{}", self.port);
        let log = self.log_file();
        wait_for_log_line(&mut self.child, &log, &listening, &server)
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// Everything the registry logged so far, including one access-log line per request
    /// (`"PUT /v2/<name>/blobs/uploads/… HTTP/1.1" 201`).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_file()).unwrap_or_default()
    }

    /// `127.0.0.1:<port>`: the registry host for image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the registry (SIGKILL).
    pub fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing docker-registry")?;
            child.wait().context("reaping docker-registry")?;
        }
        Ok(())
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
