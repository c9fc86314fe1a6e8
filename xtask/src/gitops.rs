//! `cargo xtask gitops`: checks gitops/ offline (`--check`) or downloads the CRDs that check reads
//! (`--fetch-crds DIR`). The work is done by `xtask/python/gitops_check` in the project's venv.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use duct::cmd;

use crate::{project, provision};

/// The pinned Flux and Argo CD CRDs, relative to the repository root unless absolute.
const DEFAULT_CRDS: &str = "../shared/crds";

/// Check gitops/ offline, or fetch the CRDs gitops/crds.lock pins.
#[derive(clap::Args)]
#[command(group(clap::ArgGroup::new("task").required(true).args(["check", "fetch_crds"])))]
pub struct Gitops {
    /// Build every kustomization and validate every object, chart value and reference.
    #[arg(long)]
    check: bool,
    /// Directory holding the pinned CRDs (gitops/crds.lock) [default: $GITOPS_CRDS, else ../shared/crds].
    #[arg(long, value_name = "DIR")]
    crds: Option<PathBuf>,
    /// Download exactly the CRDs gitops/crds.lock pins into DIR (needs network; for CI runners).
    #[arg(long, value_name = "DIR")]
    fetch_crds: Option<PathBuf>,
}

impl Gitops {
    pub fn run(self) -> Result<()> {
        match self.fetch_crds {
            Some(dest) => fetch_crds(&project::root().join(dest)),
            None => check(&self.crds.unwrap_or_else(default_crds)),
        }
    }
}

/// `cargo xtask gitops --check --crds <crds>`.
pub fn check(crds: &Path) -> Result<()> {
    let crds = project::root().join(crds);
    gitops_check(&["check".as_ref(), "--crds".as_ref(), crds.as_os_str()]).with_context(|| {
        format!(
            "the gitops check failed (CRDs from {}; `cargo xtask gitops --fetch-crds DIR` downloads them)",
            crds.display()
        )
    })
}

/// The CRD directory `cargo xtask test` checks against: `$GITOPS_CRDS`, else the default.
pub fn default_crds() -> PathBuf {
    std::env::var_os("GITOPS_CRDS").map_or_else(|| PathBuf::from(DEFAULT_CRDS), PathBuf::from)
}

fn fetch_crds(dest: &Path) -> Result<()> {
    gitops_check(&["fetch-crds".as_ref(), dest.as_os_str()])
        .with_context(|| format!("downloading the pinned CRDs into {}", dest.display()))
}

/// The broken-example tests of every check (pytest, fixtures in temp dirs), against the CRDs in
/// `crds`.
pub fn test(crds: &Path) -> Result<()> {
    let python = provision::python()?;
    let tests = python_dir().join("tests").join("gitops");
    cmd!(
        python,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        &tests
    )
    .dir(project::root())
    .env("PYTHONPATH", python_dir())
    .env("PYTHONDONTWRITEBYTECODE", "1")
    .env("GITOPS_CRDS", project::root().join(crds))
    .run()
    .context("the gitops check's tests failed")?;
    Ok(())
}

fn gitops_check(args: &[&std::ffi::OsStr]) -> Result<()> {
    let python = provision::python()?;
    let root = project::root();
    let mut argv: Vec<&std::ffi::OsStr> = vec!["-m".as_ref(), "gitops_check".as_ref()];
    argv.extend(["--root".as_ref(), root.as_os_str()]);
    argv.extend(args);
    cmd(python, argv)
        .dir(&root)
        .env("PYTHONPATH", python_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .run()?;
    Ok(())
}

fn python_dir() -> PathBuf {
    project::root().join("xtask").join("python")
}

#[cfg(test)]
mod tests {
    use clap::{Args, Command, FromArgMatches};

    use super::*;

    fn parse(args: &[&str]) -> Result<Gitops, clap::Error> {
        let matches = Gitops::augment_args(Command::new("gitops"))
            .try_get_matches_from(std::iter::once("gitops").chain(args.iter().copied()))?;
        Gitops::from_arg_matches(&matches)
    }

    #[test]
    fn takes_exactly_one_of_check_and_fetch_crds() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--check", "--fetch-crds", "target/crds"]).is_err());
        let check = parse(&["--check", "--crds", "/crds"]).unwrap();
        assert!(check.check && check.fetch_crds.is_none());
        assert_eq!(check.crds, Some(PathBuf::from("/crds")));
        let fetch = parse(&["--fetch-crds", "target/crds"]).unwrap();
        assert_eq!(fetch.fetch_crds, Some(PathBuf::from("target/crds")));
    }
}
