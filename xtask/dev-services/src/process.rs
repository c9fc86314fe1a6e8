use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// Whether cargo sets the environment variable `name` for a program it runs (`cargo run`, a
/// test): the package's `CARGO_MANIFEST_DIR`, `CARGO_PKG_*` and the like, not the user's own
/// `CARGO_*` settings. A cargo started from such a program must not inherit them: build scripts
/// that watch one (ring's watches `CARGO_MANIFEST_DIR`) would rebuild their crate, and all that
/// depends on it, whenever the program that starts cargo changes.
pub fn set_by_cargo_for_its_program(name: &str) -> bool {
    const SET: [&str; 8] = [
        "CARGO_MANIFEST_DIR",
        "CARGO_MANIFEST_PATH",
        "CARGO_MANIFEST_LINKS",
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "CARGO_RUSTC_CURRENT_DIR",
    ];
    SET.contains(&name) || name.starts_with("CARGO_PKG_") || name.starts_with("CARGO_BIN_EXE_")
}

/// Those of this process' environment variables that [`set_by_cargo_for_its_program`]: what to
/// remove from a nested cargo's environment.
pub fn cargo_program_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(name, _)| name.into_string().ok())
        .filter(|name| set_by_cargo_for_its_program(name))
        .collect()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?.port())
}

/// Waits until something accepts TCP connections on `127.0.0.1:port`.
pub fn wait_for_port(port: u16, timeout: Duration) -> Result<()> {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&address, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    bail!("nothing listened on {address} within {timeout:?}")
}

/// A new empty directory under the system temp dir, unique to this process and call.
pub fn private_dir(what: &str) -> Result<PathBuf> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "order-system-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    Ok(dir)
}

/// The path of `program` on PATH, or an error naming the Debian package that provides it.
pub fn require_tool(program: &str, debian_package: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .with_context(|| {
            format!(
                "`{program}` is not installed; install it with `sudo apt-get install -y {debian_package}` \
                 (or run `cargo xtask test`, which installs it when run as root)"
            )
        })
}

/// Waits until `log` contains `ready_line`, written by *this* server once it serves (a port that
/// answers may belong to another process). If the server exits first, fails with its last log
/// line and clears `child`.
pub(crate) fn wait_for_log_line(
    child: &mut Option<Child>,
    log: &Path,
    ready_line: &str,
    server: &str,
) -> Result<()> {
    let timeout = Duration::from_secs(10);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(ready_line) {
            return Ok(());
        }
        if let Some(running) = child.as_mut()
            && let Some(status) = running.try_wait()?
        {
            *child = None;
            bail!(
                "{server} exited ({status}): {}",
                text.lines().last().unwrap_or("no log")
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    bail!("{server} was not ready within {timeout:?}")
}

/// A program serving on a free loopback port, its output in a log in its private directory;
/// killed, and the directory removed, when dropped.
pub(crate) struct LoopbackServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    log: PathBuf,
}

impl LoopbackServer {
    /// Spawns `command(port)`, its stdout and stderr to `dir/log_name`, on free ports until it
    /// logs `ready`: another process may take a free port first, so up to 5 tries, each after
    /// the last one's process is gone. `name` names the program in errors.
    pub(crate) fn start(
        name: &str,
        dir: PathBuf,
        log_name: &str,
        ready: &str,
        command: impl Fn(u16) -> Command,
    ) -> Result<LoopbackServer> {
        let log = dir.join(log_name);
        let mut last_error = None;
        for _ in 0..5 {
            let port = free_port()?;
            let child = command(port)
                .stdin(Stdio::null())
                .stdout(std::fs::File::create(&log)?)
                .stderr(std::fs::File::options().append(true).open(&log)?)
                .spawn()
                .with_context(|| format!("starting {name}"))?;
            let mut child = Some(child);
            match wait_for_log_line(&mut child, &log, ready, &format!("{name} on port {port}")) {
                Ok(()) => {
                    return Ok(LoopbackServer {
                        child,
                        port,
                        dir,
                        log,
                    });
                }
                Err(error) => {
                    if let Some(mut child) = child {
                        let _ = child.kill();
                        let _ = child.wait();
                    }
                    last_error = Some(error);
                }
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
        Err(last_error.unwrap_or_else(|| anyhow::anyhow!("{name} did not start")))
    }

    pub(crate) fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// What it logged so far.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
