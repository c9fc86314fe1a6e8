//! One runtime process: what runs an app ([`AppRuntime`]: the embedded spin-local or the Spin
//! CLI), the command line both take ([`runtime_command`]) and starting it ([`start`]), its
//! output to the terminal or appended to a log file.

use std::net::SocketAddr;

use anyhow::{Context, Result, ensure};
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

pub(super) fn spin_cli() -> Result<std::path::PathBuf> {
    provision::which("spin").context(
        "`--runtime spin` runs the apps with the Spin CLI, which is not on PATH: install it \
         (https://spinframework.dev/install) or leave out `--runtime spin` to use the embedded runtime",
    )
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
    pub program: std::path::PathBuf,
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

pub fn start(
    command: &RuntimeCommand,
    what: &str,
    log: Option<&std::path::Path>,
) -> Result<Handle> {
    start_logged(command.to_expression().unchecked(), what, log)
}

/// Starts `expression` (`what`, for the error), its output to the terminal or, with `log`,
/// appended to that file (stdout and stderr alike).
pub(super) fn start_logged(
    mut expression: duct::Expression,
    what: &str,
    log: Option<&std::path::Path>,
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
