//! One runtime process: what runs an app ([`AppRuntime`]: the embedded spin-local or the Spin
//! CLI) and which one `cargo xtask up` takes when not told ([`choose_runtime`]), the command line
//! both take ([`runtime_command`]) and starting it ([`start`]), its output to the terminal or
//! appended to a log file.

use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, ensure};
use duct::{Handle, cmd};

use super::redis_location::RedisLocation;
use crate::project::{self, App};
use crate::provision;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AppRuntime {
    /// spin-local, the embedded runtime on wasmtime.
    #[default]
    #[value(alias = "embedded")]
    Local,
    /// The Spin CLI: one `spin up` per app.
    Spin,
}

pub(super) fn spin_cli() -> Result<PathBuf> {
    spin_cli_in(std::env::var_os("PATH").as_deref())
}

fn spin_cli_in(path: Option<&OsStr>) -> Result<PathBuf> {
    provision::which_in("spin", path).ok_or_else(no_spin_cli)
}

fn no_spin_cli() -> anyhow::Error {
    anyhow!(
        "`--runtime spin` runs the apps with the Spin CLI, which is not on PATH: install it \
         (https://spinframework.dev/install) or leave out `--runtime spin` to use the embedded runtime"
    )
}

/// The Spin versions this project's apps run on (CONTRACT: Spin 3.6.x under the shim, the Spin
/// CLI 4.0.x): 3.6 or later within 3, and any 4.
const SUPPORTED_SPIN: &str = "3.6 or later, or 4.x";

/// `major.minor.patch` from `spin --version`'s first line, `spin 4.0.2 (2a9bf8c 2025-10-01)`
/// (a pre-release's `-rc.1` dropped).
fn spin_version(output: &str) -> Option<(u64, u64, u64)> {
    let version = output.lines().next()?.strip_prefix("spin ")?;
    let version = version.split_whitespace().next()?;
    let version = version.split(['-', '+']).next()?;
    let mut numbers = version.split('.').map(|number| number.parse::<u64>().ok());
    let version = (numbers.next()??, numbers.next()??, numbers.next()??);
    numbers.next().is_none().then_some(version)
}

fn spin_supported((major, minor, _): (u64, u64, u64)) -> bool {
    (major == 3 && minor >= 6) || major == 4
}

/// The `spin` in the directories of `path`, if any, and what it is.
enum SpinOnPath {
    Missing,
    /// `spin --version` failed or said something else than a version.
    Unreadable {
        program: PathBuf,
        why: String,
    },
    Found {
        program: PathBuf,
        version: (u64, u64, u64),
    },
}

impl SpinOnPath {
    fn find(path: Option<&OsStr>) -> SpinOnPath {
        let Some(program) = provision::which_in("spin", path) else {
            return SpinOnPath::Missing;
        };
        match cmd!(&program, "--version").stderr_to_stdout().read() {
            Ok(output) => match spin_version(&output) {
                Some(version) => SpinOnPath::Found { program, version },
                None => SpinOnPath::Unreadable {
                    program,
                    why: format!("its --version printed {:?}", output.trim()),
                },
            },
            Err(error) => SpinOnPath::Unreadable {
                program,
                why: format!("its --version failed: {error}"),
            },
        }
    }
}

fn dotted((major, minor, patch): (u64, u64, u64)) -> String {
    format!("{major}.{minor}.{patch}")
}

/// The runtime `cargo xtask up` runs the apps on, and why, as one line for the terminal.
#[derive(Debug, PartialEq, Eq)]
pub struct RuntimeChoice {
    pub runtime: AppRuntime,
    pub why: String,
}

/// `--runtime` when given, else the Spin CLI when a supported `spin` is in the directories of
/// `path` (PATH), the embedded runtime otherwise: the Spin CLI needs no build, the embedded
/// runtime compiles wasmtime on its first run. `--runtime spin` with no supported `spin` is an
/// error.
pub fn choose_runtime(forced: Option<AppRuntime>, path: Option<&OsStr>) -> Result<RuntimeChoice> {
    let embedded = |why: String| RuntimeChoice {
        runtime: AppRuntime::Local,
        why: format!("runtime: embedded, spin-local ({why})"),
    };
    if forced == Some(AppRuntime::Local) {
        return Ok(embedded("--runtime local".to_string()));
    }
    let spin = SpinOnPath::find(path);
    let unsupported = match (spin, forced) {
        (SpinOnPath::Found { program, version }, _) if spin_supported(version) => {
            let why = match forced {
                Some(_) => "--runtime spin".to_string(),
                None => format!(
                    "{} on PATH; --runtime local forces the embedded one",
                    program.display()
                ),
            };
            return Ok(RuntimeChoice {
                runtime: AppRuntime::Spin,
                why: format!("runtime: Spin CLI {} ({why})", dotted(version)),
            });
        }
        (SpinOnPath::Missing, Some(_)) => return Err(no_spin_cli()),
        (SpinOnPath::Missing, None) => {
            return Ok(embedded(
                "no spin on PATH: install Spin (https://spinframework.dev/install) for a faster \
                 first run, without building wasmtime"
                    .to_string(),
            ));
        }
        (SpinOnPath::Found { program, version }, _) => format!(
            "{} is Spin {}, which this project does not support: it needs Spin {SUPPORTED_SPIN}",
            program.display(),
            dotted(version)
        ),
        (SpinOnPath::Unreadable { program, why }, _) => format!(
            "{} is not a Spin this project knows ({why}): it needs Spin {SUPPORTED_SPIN}",
            program.display()
        ),
    };
    ensure!(
        forced.is_none(),
        "`--runtime spin`: {unsupported}. Install a supported Spin \
         (https://spinframework.dev/install) or leave out `--runtime spin` to use the embedded runtime"
    );
    Ok(embedded(unsupported))
}

/// `up -f <each spin.toml> --listen … --variable …`, the arguments spin-local and `spin up` share.
fn up_arguments<'a>(
    manifests: impl IntoIterator<Item = &'a App>,
    listen: Option<SocketAddr>,
    variables: &[(String, String)],
) -> Vec<String> {
    let mut arguments = vec!["up".to_string()];
    for app in manifests {
        arguments.extend(["-f".to_string(), app.manifest.display().to_string()]);
    }
    if let Some(listen) = listen {
        arguments.extend(["--listen".to_string(), listen.to_string()]);
    }
    for (name, value) in variables {
        arguments.extend(["--variable".to_string(), format!("{name}={value}")]);
    }
    arguments
}

/// One runtime process to start: program, arguments, environment.
pub struct RuntimeCommand {
    pub program: PathBuf,
    pub arguments: Vec<String>,
    /// The Redis location as `SPIN_VARIABLE_*`, when the apps use Redis.
    pub environment: Vec<(&'static str, String)>,
}

impl RuntimeCommand {
    pub fn to_expression(&self) -> duct::Expression {
        let mut command = cmd(&self.program, &self.arguments);
        for (name, value) in &self.environment {
            command = command.env(name, value);
        }
        command
    }
}

/// The process that runs `apps` on `runtime` (built already): one spin-local for any number
/// of apps, or one `spin up` for one app. `listen` only for apps that serve HTTP.
pub fn runtime_command(
    runtime: AppRuntime,
    apps: &[&App],
    listen: Option<SocketAddr>,
    redis_url: Option<&str>,
    variables: &[(String, String)],
) -> Result<RuntimeCommand> {
    let program = match runtime {
        AppRuntime::Local => project::root().join("target/debug/spin-local"),
        AppRuntime::Spin => {
            ensure!(apps.len() == 1, "`spin up` runs one app per process");
            spin_cli()?
        }
    };
    let environment = match redis_url {
        Some(url) => RedisLocation::parse(url)?.environment().to_vec(),
        None => Vec::new(),
    };
    Ok(RuntimeCommand {
        program,
        arguments: up_arguments(apps.iter().copied(), listen, variables),
        environment,
    })
}

pub fn start(command: &RuntimeCommand, what: &str, log: Option<&Path>) -> Result<Handle> {
    start_logged(command.to_expression().unchecked(), what, log)
}

/// Starts `expression` (`what`, for the error), its output to the terminal or, with `log`,
/// appended to that file (stdout and stderr alike).
pub(super) fn start_logged(
    mut expression: duct::Expression,
    what: &str,
    log: Option<&Path>,
) -> Result<Handle> {
    if let Some(log) = log {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        // Outer redirections apply first: stdout to the file, then stderr to that stdout.
        expression = expression.stderr_to_stdout().stdout_file(file);
    }
    expression
        .start()
        .with_context(|| format!("starting {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_versions_are_read_from_the_first_line() {
        for (output, version) in [
            ("spin 4.0.2 (2a9bf8c 2025-10-01)\n", Some((4, 0, 2))),
            ("spin 3.6.3 (9e3a4e2 2025-07-30)", Some((3, 6, 3))),
            ("spin 4.1.0-rc.1 (abcdef0 2026-01-01)", Some((4, 1, 0))),
            ("spin 10.20.30", Some((10, 20, 30))),
            ("spin 4.0", None),
            ("spin 4.0.2.1", None),
            ("spin version 4.0.2", None),
            ("wasmtime 48.0.0", None),
            ("", None),
        ] {
            assert_eq!(spin_version(output), version, "{output:?}");
        }
        let supported: Vec<bool> = [(2, 7, 0), (3, 0, 0), (3, 5, 9), (3, 6, 0), (3, 7, 1)]
            .into_iter()
            .chain([(4, 0, 0), (4, 0, 2), (4, 9, 0), (5, 0, 0)])
            .map(spin_supported)
            .collect();
        assert_eq!(
            supported,
            [false, false, false, true, true, true, true, true, false]
        );
    }

    /// A directory for PATH holding a `spin` that runs `script` (sh), or none.
    fn path_with_spin(script: Option<&str>) -> PathBuf {
        let dir = dev_services::private_dir("fake-spin").unwrap();
        if let Some(script) = script {
            let source = dir.join("spin.sh");
            std::fs::write(&source, format!("#!/bin/sh\n{script}\n")).unwrap();
            // Copied executable by another process: a file this (multi-threaded) test process
            // had open for writing could be inherited by a child forked meanwhile, and running
            // it would fail with ETXTBSY.
            cmd!("install", "-m", "755", &source, dir.join("spin"))
                .run()
                .unwrap();
        }
        dir
    }

    fn choose(forced: Option<AppRuntime>, dir: &Path) -> Result<RuntimeChoice> {
        choose_runtime(forced, Some(dir.as_os_str()))
    }

    #[test]
    fn up_takes_a_supported_spin_on_path_unless_told_otherwise() {
        for version in ["4.0.2", "3.6.3"] {
            let dir = path_with_spin(Some(&format!("echo 'spin {version} (2a9bf8c 2025-10-01)'")));
            let spin = dir.join("spin").display().to_string();
            let chosen = choose(None, &dir).unwrap();
            assert_eq!(chosen.runtime, AppRuntime::Spin);
            assert_eq!(
                chosen.why,
                format!(
                    "runtime: Spin CLI {version} ({spin} on PATH; --runtime local forces the embedded one)"
                )
            );
            let forced = choose(Some(AppRuntime::Spin), &dir).unwrap();
            assert_eq!(
                forced.why,
                format!("runtime: Spin CLI {version} (--runtime spin)")
            );
            let local = choose(Some(AppRuntime::Local), &dir).unwrap();
            assert_eq!(local.runtime, AppRuntime::Local);
            assert_eq!(local.why, "runtime: embedded, spin-local (--runtime local)");
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn without_spin_up_takes_the_embedded_runtime_and_refuses_to_be_forced() {
        let dir = path_with_spin(None);
        let chosen = choose(None, &dir).unwrap();
        assert_eq!(chosen.runtime, AppRuntime::Local);
        assert!(
            chosen
                .why
                .starts_with("runtime: embedded, spin-local (no spin on PATH: install Spin"),
            "{}",
            chosen.why
        );
        let error = choose(Some(AppRuntime::Spin), &dir)
            .unwrap_err()
            .to_string();
        assert!(error.contains("not on PATH"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn an_unsupported_spin_is_passed_over_and_refused_when_forced() {
        for (script, reason) in [
            (
                "echo 'spin 2.7.0 (1b2c3d4 2024-08-01)'",
                "is Spin 2.7.0, which this project does not support: it needs Spin 3.6 or later, or 4.x",
            ),
            (
                "echo 'spin 5.0.0 (1b2c3d4 2027-01-01)'",
                "is Spin 5.0.0, which this project does not support",
            ),
            (
                "echo 'not spin at all'",
                r#"its --version printed "not spin at all""#,
            ),
            ("exit 3", "its --version failed"),
        ] {
            let dir = path_with_spin(Some(script));
            let spin = dir.join("spin").display().to_string();
            let chosen = choose(None, &dir).unwrap();
            assert_eq!(chosen.runtime, AppRuntime::Local, "{script}");
            assert!(
                chosen
                    .why
                    .starts_with(&format!("runtime: embedded, spin-local ({spin} ")),
                "{}",
                chosen.why
            );
            assert!(chosen.why.contains(reason), "{script}: {}", chosen.why);
            let error = choose(Some(AppRuntime::Spin), &dir)
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with("`--runtime spin`: ")
                    && error.contains(reason)
                    && error.contains("leave out `--runtime spin`"),
                "{script}: {error}"
            );
            std::fs::remove_dir_all(dir).unwrap();
        }
    }

    #[test]
    fn both_runtimes_get_the_same_flags() {
        let apps = project::apps().unwrap();
        let listen: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let arguments = up_arguments(
            &apps,
            Some(listen),
            &[("key_prefix".to_string(), "test:".to_string())],
        );
        let manifests: Vec<_> = apps
            .iter()
            .map(|app| app.manifest.display().to_string())
            .collect();
        assert_eq!(
            arguments,
            [
                "up",
                "-f",
                &manifests[0],
                "-f",
                &manifests[1],
                "--listen",
                "127.0.0.1:3000",
                "--variable",
                "key_prefix=test:",
            ]
        );
    }
}
