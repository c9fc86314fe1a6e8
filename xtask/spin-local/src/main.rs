//! `spin-local up -f <spin.toml>… [--listen ADDRESS] [--variable NAME=VALUE]…`: runs the apps
//! until Ctrl-C or SIGTERM (exit status 0), or until a trigger fails, e.g. a Redis subscription
//! drops: then, as `spin up`, it prints `Error: <why>` and exits with status 1. With
//! `OTEL_EXPORTER_OTLP_ENDPOINT` set it exports traces as Spin does (`spin_local::Telemetry`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use spin_local::{CompilationCache, Runtime, Telemetry, VariableProviders};
use tokio::net::TcpListener;
use tokio::signal::unix::{SignalKind, signal};

#[derive(Parser)]
#[command(
    name = "spin-local",
    about = "Runs Spin apps from their spin.toml on an embedded wasmtime, like `spin up`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Up(Up),
}

/// Run one or more apps until Ctrl-C or SIGTERM.
#[derive(clap::Args)]
struct Up {
    /// An app's manifest (spin.toml); repeat the flag for several apps.
    #[arg(
        short = 'f',
        long = "from",
        alias = "file",
        required = true,
        value_name = "SPIN_TOML"
    )]
    manifests: Vec<PathBuf>,
    /// The address the HTTP app listens on.
    #[arg(long, default_value = "127.0.0.1:3000", value_name = "ADDRESS")]
    listen: SocketAddr,
    /// Sets an application variable; beats `SPIN_VARIABLE_<NAME>`. Repeatable.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
    /// A Wasmtime cache configuration file, as `spin up --cache`; without it, Wasmtime's
    /// default cache (`~/.cache/wasmtime`).
    #[arg(long, value_name = "FILE", conflicts_with = "disable_cache")]
    cache: Option<PathBuf>,
    /// Compile every component at start instead of using the compilation cache.
    #[arg(long)]
    disable_cache: bool,
}

fn parse_variable(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((name, value)) => Ok((name.to_string(), value.to_string())),
        None => bail!("expected NAME=VALUE, got {text:?}"),
    }
}

fn main() {
    let Command::Up(up) = Cli::parse().command;
    // Telemetry first, outside the async runtime: the OTLP exporter's blocking client runs its
    // own. Spans still buffered are exported before the process ends, however it ends.
    let outcome = Telemetry::from_env().and_then(|telemetry| {
        let outcome = tokio::runtime::Runtime::new()
            .context("starting the async runtime")
            .and_then(|runtime| runtime.block_on(up.run()));
        telemetry.shutdown();
        outcome
    });
    if let Err(error) = outcome {
        print_error(&error);
        std::process::exit(1);
    }
}

/// An error as `spin` prints it (`src/bin/spin.rs`): `Error: <error>`, then its causes under
/// `Caused by:` (numbered when there are several), and never a backtrace.
fn print_error(error: &anyhow::Error) {
    eprintln!("Error: {error}");
    let causes: Vec<String> = error
        .chain()
        .skip(1)
        .map(|cause| cause.to_string())
        .collect();
    if !causes.is_empty() {
        eprintln!("\nCaused by:");
    }
    match causes.as_slice() {
        [only] => eprintln!("      {only}"),
        several => {
            for (number, cause) in several.iter().enumerate() {
                eprintln!("{number:>4}: {cause}");
            }
        }
    }
}

impl Up {
    async fn run(self) -> Result<()> {
        let providers = VariableProviders::new(self.variables)?;
        let started = Instant::now();
        let cache = match (self.disable_cache, self.cache) {
            (true, _) => CompilationCache::Disabled,
            (false, Some(file)) => CompilationCache::ConfigFile(file),
            (false, None) => CompilationCache::Default,
        };
        let runtime = Runtime::load(&self.manifests, &providers, &cache)?;
        println!(
            "Loaded {} app(s) in {:.1} s",
            self.manifests.len(),
            started.elapsed().as_secs_f64()
        );
        let listener = if runtime.serves_http() {
            Some(listen(self.listen).await?)
        } else {
            None
        };
        // The address bound, which differs from --listen for port 0.
        let bound = match &listener {
            Some(listener) => listener.local_addr().context("reading the bound address")?,
            None => self.listen,
        };
        let base_url = format!("http://{bound}");
        for line in runtime.summary(&base_url) {
            println!("{line}");
        }
        let mut terminate = signal(SignalKind::terminate()).context("handling SIGTERM")?;
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {},
                _ = terminate.recv() => {},
            }
        };
        // Spin's `crates/trigger/src/cli.rs` logs this line before its main prints
        // `Error: <the trigger's error>` and exits with status 1, as this one's does.
        runtime
            .run(listener, stop)
            .await
            .inspect_err(|_| eprintln!("Trigger executor failed"))?;
        println!("Stopped.");
        Ok(())
    }
}

async fn listen(address: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(address).await.map_err(|error| {
        if error.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "{address} is already in use: stop what listens there, or pick another address with --listen"
            )
        } else {
            anyhow::Error::from(error).context(format!("listening on {address}"))
        }
    })
}
