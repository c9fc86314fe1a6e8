//! Installs what the tasks need, or says exactly how: the wasm target, Debian packages (when
//! root), and the Python venv for chart and GitOps tooling. A program it cannot install is a
//! [`Tool`]: [`require_tools`] names each one missing with the command that installs it.

use std::ffi::OsStr;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use duct::cmd;

use crate::project::{self, WASM_TARGET};

/// Debian packages the tests start for real: Redis (and openssl for its TLS certificates), an
/// OCI registry, an OCI client, and Prometheus with redis_exporter (tests/metrics.rs).
pub const TEST_PACKAGES: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("openssl", "openssl"),
    ("redis-cli", "redis-tools"),
    ("docker-registry", "docker-registry"),
    ("skopeo", "skopeo"),
    ("prometheus", "prometheus"),
    ("prometheus-redis-exporter", "prometheus-redis-exporter"),
];

/// A program a task needs, why, and the one command that installs it.
pub struct Tool {
    pub program: &'static str,
    pub why: &'static str,
    pub install: &'static str,
}

/// Creates the venvs.
const PYTHON3: Tool = Tool {
    program: "python3",
    why: "runs the chart and GitOps tooling",
    install: "sudo apt-get install -y python3 python3-venv",
};

/// Fails, before anything runs, with one line per tool missing from `path` (a PATH value):
/// "`program` is missing (why): install it with `install`".
pub fn require_tools<'a>(
    tools: impl IntoIterator<Item = &'a Tool>,
    path: Option<&OsStr>,
) -> Result<()> {
    let missing: Vec<String> = tools
        .into_iter()
        .filter(|tool| which_in(tool.program, path).is_none())
        .map(|tool| {
            format!(
                "`{}` is missing ({}): install it with `{}`",
                tool.program, tool.why, tool.install
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

/// Adds the wasm32-wasip2 target through rustup when it is missing.
pub fn wasm_target() -> Result<()> {
    let installed = cmd!("rustup", "target", "list", "--installed")
        .read()
        .context("`rustup` is needed to add the wasm32-wasip2 target; install it from rustup.rs")?;
    if !installed.lines().any(|line| line.trim() == WASM_TARGET) {
        cmd!("rustup", "target", "add", WASM_TARGET)
            .run()
            .with_context(|| {
                format!("adding the {WASM_TARGET} target: run `rustup target add {WASM_TARGET}`")
            })?;
    }
    Ok(())
}

/// Makes sure each `(program, Debian package)` is on PATH: installs the missing packages with
/// apt-get when running as root, else fails with the one command to run.
pub fn debian_packages(needed: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = needed
        .iter()
        .filter(|(program, _)| which(program).is_none())
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", missing.join(" "));
    // As root, or through passwordless sudo (as on CI runners); anyone else is told what to run.
    let mut apt_get = if is_root() {
        vec!["apt-get"]
    } else if passwordless_sudo() {
        vec![
            "sudo",
            "-n",
            "env",
            "DEBIAN_FRONTEND=noninteractive",
            "apt-get",
        ]
    } else {
        bail!(
            "missing Debian packages {missing:?}; install them with `sudo apt-get update && sudo {install}`"
        );
    };
    eprintln!("installing {missing:?} with apt-get");
    let program = apt_get.remove(0);
    let update: Vec<&str> = apt_get.iter().copied().chain(["update", "-qq"]).collect();
    cmd(program, &update).run().context("apt-get update")?;
    let mut args = apt_get;
    args.extend(["install", "-y", "-qq", "--no-install-recommends"]);
    args.extend(&missing);
    cmd(program, &args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .run()
        .with_context(|| format!("`{install}` failed"))?;
    Ok(())
}

/// A program's path on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    which_in(program, std::env::var_os("PATH").as_deref())
}

/// A program's path in the directories of `path`, a PATH-style list.
pub fn which_in(program: &str, path: Option<&OsStr>) -> Option<PathBuf> {
    std::env::split_paths(path?)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

fn passwordless_sudo() -> bool {
    which("sudo").is_some()
        && cmd!("sudo", "-n", "true")
            .stdout_null()
            .stderr_null()
            .run()
            .is_ok()
}

fn is_root() -> bool {
    cmd!("id", "-u")
        .read()
        .map(|uid| uid.trim() == "0")
        .unwrap_or(false)
}

/// The project's Python venv (`target/venv`) with `xtask/python/requirements.txt` installed;
/// returns its `python`.
pub fn python() -> Result<PathBuf> {
    Ok(venv("venv", "requirements.txt")?.join("python"))
}

/// checkov (`xtask/python/checkov-requirements.txt`) in a venv of its own, `target/checkov-venv`:
/// its pins (`packaging<24`) clash with the project venv's. Returns the `checkov` program.
pub fn checkov() -> Result<PathBuf> {
    Ok(venv("checkov-venv", "checkov-requirements.txt")?.join("checkov"))
}

/// The venv `target/<name>` with `xtask/python/<requirements>` installed; returns its `bin`
/// directory. Re-installs only when the requirements file changed.
fn venv(name: &str, requirements: &str) -> Result<PathBuf> {
    let root = project::root();
    let venv = root.join("target").join(name);
    let bin = venv.join("bin");
    let python = bin.join("python");
    let requirements = python_dir().join(requirements);
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("reading {}", requirements.display()))?;
    let stamp = venv.join("requirements.installed");
    if python.is_file() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(&wanted) {
        return Ok(bin);
    }
    require_tools([&PYTHON3], std::env::var_os("PATH").as_deref())?;
    cmd!(PYTHON3.program, "-m", "venv", &venv)
        .run()
        .with_context(|| {
            format!(
                "creating the Python venv in {} (on Debian: `apt-get install -y python3-venv`)",
                venv.display()
            )
        })?;
    cmd!(
        &python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "-r",
        &requirements
    )
    .run()
    .with_context(|| {
        format!(
            "installing {} into {}",
            requirements.display(),
            venv.display()
        )
    })?;
    std::fs::write(&stamp, wanted)?;
    Ok(bin)
}

/// `python <args>` in the project's venv from the project root, with `xtask/python` on the
/// module path (`-m order_chart …`, `-m api_fuzz …`); not yet run.
pub fn python_command(args: Vec<std::ffi::OsString>) -> Result<duct::Expression> {
    Ok(cmd(python()?, args)
        .dir(project::root())
        .env("PYTHONPATH", python_dir()))
}

/// `python <args>`, as [`python_command`], run to the end.
pub fn run_python(args: Vec<std::ffi::OsString>) -> Result<()> {
    python_command(args)?.run()?;
    Ok(())
}

/// The project's Python tooling and its tests.
pub fn python_dir() -> PathBuf {
    project::root().join("xtask").join("python")
}
