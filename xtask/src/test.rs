//! `cargo xtask test`: every test the project has, after provisioning what they need.
//! This is the README's test command and what `.ci/run` calls.

use anyhow::{Context, Result};

use crate::{bench, build, chart, gitops, project, provision, python_lint, up, workflows};

/// Provision tools, build the wasm components, check formatting and lint (Rust, workflows, Python),
/// and run every test suite: Rust (with the fault tests), API fuzzing, the chart's, the GitOps
/// checks, then a smoke run of the benchmark.
#[derive(clap::Args)]
pub struct Test {}

impl Test {
    pub fn run(self) -> Result<()> {
        provision::debian_packages(provision::TEST_PACKAGES)?;
        build::build_components()?;
        project::cargo_command(["fmt", "--all", "--check"])
            .run()
            .context("`cargo fmt --all --check` found unformatted code: run `cargo fmt --all`")?;
        workflows::lint()?;
        python_lint::check()?;
        project::cargo_command(["test", "--workspace", "--locked"])
            .run()
            .context("`cargo test --workspace` failed")?;
        // API fuzzing from docs/openapi.yaml against the apps on the embedded runtime.
        let system = up::start_local(&up::LocalOptions::default())?;
        provision::run_python(vec![
            "-m".into(),
            "api_fuzz".into(),
            "--url".into(),
            system.base_url().into(),
        ])
        .context("API fuzzing (schemathesis, docs/openapi.yaml) failed")?;
        drop(system);
        chart::test()?;
        let crds = gitops::default_crds();
        gitops::test(&crds)?;
        gitops::check(&crds)?;
        // A second of each measurement: the benchmark still runs and its figures are sane.
        bench::smoke()?;
        Ok(())
    }
}
