//! `spin-oci push …`: packs Spin apps and pushes them; `cargo xtask publish` drives it.
//! Failures print one line and exit 1.

use std::path::PathBuf;

use anyhow::{Context, Result};
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use spin_oci::{Format, Provenance, Target};

#[derive(Parser)]
#[command(
    name = "spin-oci",
    about = "Spin apps as OCI artifacts, pushed by digest"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Push(Push),
}

/// Pack each app (given by its spin.toml) and push it to <registry>/<app name>:<tag>.
#[derive(clap::Args)]
struct Push {
    /// Where to push: host[:port]/namespace (e.g. ghcr.io/OWNER, 127.0.0.1:5000/order-system).
    #[arg(long)]
    registry: String,
    /// Tag for every app.
    #[arg(long)]
    tag: String,
    /// Artifact form.
    #[arg(long, value_enum, default_value = "spin")]
    format: Format,
    /// Talk plain HTTP to the registry (a local one).
    #[arg(long)]
    insecure: bool,
    /// Pack and print the digests, push nothing.
    #[arg(long)]
    dry_run: bool,
    /// `org.opencontainers.image.source`: the source repository's URL.
    #[arg(long)]
    source: Option<String>,
    /// `org.opencontainers.image.revision`: the source commit.
    #[arg(long)]
    revision: Option<String>,
    /// Build time in seconds since the epoch (`SOURCE_DATE_EPOCH`, or the commit time), for
    /// `org.opencontainers.image.created` and the image layer's file times.
    #[arg(long, env = "SOURCE_DATE_EPOCH")]
    created_epoch: i64,
    /// Also write the machine-readable summary here (JSON; its shape: `spin_oci::summary`).
    #[arg(long)]
    summary: Option<PathBuf>,
    /// The apps' spin.toml files.
    #[arg(required = true)]
    manifests: Vec<PathBuf>,
}

fn main() {
    let Cli {
        command: Command::Push(push),
    } = Cli::parse();
    if let Err(error) = push.run() {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

impl Push {
    fn run(self) -> Result<()> {
        let created = DateTime::<Utc>::from_timestamp(self.created_epoch, 0)
            .context("--created-epoch is out of range")?;
        let provenance = Provenance {
            source: self.source,
            revision: self.revision,
            version: self.tag.clone(),
            created,
        };
        let target = Target {
            registry: self.registry,
            tag: self.tag,
            format: self.format,
            insecure: self.insecure,
            dry_run: self.dry_run,
        };
        let summary = spin_oci::publish(&self.manifests, &target, &provenance)?;
        if let Some(path) = self.summary {
            summary.write(&path)?;
        }
        Ok(())
    }
}
