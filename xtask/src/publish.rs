//! `cargo xtask publish`: builds the components, then packs each Spin app as an OCI artifact
//! and pushes it by digest with `spin-oci` (its own crate: the registry client is heavy to
//! compile, and only this task needs it).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use duct::cmd;
use spin_oci::Summary;

use crate::{build, project};

/// Build every component, then push each app to <registry>/<app>:<tag> and print
/// `repository@sha256:…` per app. Writes target/publish.json (repository, tag, digest, format
/// and per-layer digests and sizes per app; its shape is `spin_oci::summary`) for the chart
/// install, the bench and the release workflow.
///
/// Credentials: REGISTRY_USERNAME/REGISTRY_PASSWORD, else what `docker login` stored, else
/// anonymous. Digests repeat for the same source: times come from SOURCE_DATE_EPOCH or the
/// commit.
#[derive(clap::Args)]
pub struct Publish {
    /// Registry and namespace: host[:port]/namespace, e.g. ghcr.io/OWNER or
    /// 127.0.0.1:5000/order-system.
    #[arg(long)]
    registry: String,
    /// Tag for every app [default: the workspace version].
    #[arg(long)]
    tag: Option<String>,
    /// Publish only this app (repeat for more) [default: every app under apps/].
    #[arg(long = "app", value_name = "APP")]
    apps: Vec<String>,
    /// Talk plain HTTP to the registry (a local one).
    #[arg(long)]
    insecure: bool,
    /// `spin`: what `spin registry push` writes (for containerd-shim-spin and `spin up
    /// --from`); `image`: a plain wasi/wasm image with /spin.toml and the wasm it names.
    #[arg(long, default_value = "spin", value_parser = ["spin", "image"])]
    format: String,
    /// Build and pack, print the digests, push nothing.
    #[arg(long)]
    dry_run: bool,
}

impl Publish {
    pub fn run(self) -> Result<()> {
        let apps = project::apps()?;
        for wanted in &self.apps {
            if !apps.iter().any(|app| &app.name == wanted) {
                let known: Vec<_> = apps.iter().map(|app| app.name.as_str()).collect();
                bail!("unknown app `{wanted}`; the apps are {}", known.join(", "));
            }
        }
        let manifests: Vec<_> = apps
            .iter()
            .filter(|app| self.apps.is_empty() || self.apps.contains(&app.name))
            .map(|app| app.manifest.clone())
            .collect();
        build::build_components()?;

        let tag = self.tag.unwrap_or_else(|| env!("CARGO_PKG_VERSION").into());
        let summary = summary_path();
        let mut args: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--quiet".into(),
            "--locked".into(),
            "--package".into(),
            "spin-oci".into(),
            "--".into(),
            "push".into(),
            "--registry".into(),
            self.registry.into(),
            "--tag".into(),
            tag.into(),
            "--format".into(),
            self.format.into(),
            "--source".into(),
            env!("CARGO_PKG_REPOSITORY").into(),
            "--created-epoch".into(),
            source_date_epoch()?.into(),
            "--summary".into(),
            summary.clone().into(),
        ];
        if let Some(revision) = git(&["rev-parse", "HEAD"]) {
            args.extend(["--revision".into(), revision.into()]);
        }
        if self.insecure {
            args.push("--insecure".into());
        }
        if self.dry_run {
            args.push("--dry-run".into());
        }
        args.extend(manifests.into_iter().map(Into::into));
        // The epoch travels as --created-epoch; in the environment it would make some build
        // scripts (aws-lc-sys) rebuild spin-oci whenever it changes.
        let status = project::cargo_command(&args)
            .env_remove("SOURCE_DATE_EPOCH")
            .unchecked()
            .run()
            .context("running spin-oci")?
            .status;
        if !status.success() {
            // spin-oci has said why, in one line.
            std::process::exit(status.code().unwrap_or(1));
        }
        eprintln!("wrote {}", summary.display());
        Ok(())
    }
}

/// Where the last `cargo xtask publish` wrote its [`Summary`].
fn summary_path() -> PathBuf {
    project::root().join("target").join("publish.json")
}

/// What the last `cargo xtask publish` pushed, from `target/publish.json`.
pub fn summary() -> Result<Summary> {
    Summary::read(&summary_path())
}

/// `SOURCE_DATE_EPOCH` when set (reproducible-builds convention), else the commit's time.
fn source_date_epoch() -> Result<String> {
    if let Ok(epoch) = std::env::var("SOURCE_DATE_EPOCH") {
        return Ok(epoch);
    }
    git(&["log", "-1", "--format=%ct"]).context(
        "no commit time to date the artifacts with: set SOURCE_DATE_EPOCH (seconds since 1970)",
    )
}

/// A git query's trimmed output, or None outside a git checkout.
fn git(args: &[&str]) -> Option<String> {
    cmd("git", args)
        .dir(project::root())
        .stderr_null()
        .read()
        .ok()
        .map(|out| out.trim().to_string())
        .filter(|out| !out.is_empty())
}
