//! `cargo xtask test`: every test the project has, after provisioning what they need.
//! This is the README's test command and what `.ci/run` calls.

use anyhow::{Context, Result};
use duct::cmd;

use crate::{build, project, provision};

/// Provision tools, build the wasm components, and run every test suite.
#[derive(clap::Args)]
pub struct Test {}

impl Test {
    pub fn run(self) -> Result<()> {
        provision::debian_packages(provision::TEST_PACKAGES)?;
        build::build_components()?;
        cmd!(project::cargo(), "fmt", "--all", "--check")
            .dir(project::root())
            .run()
            .context("`cargo fmt --all --check` found unformatted code: run `cargo fmt --all`")?;
        cmd!(
            project::cargo(),
            "test",
            "--workspace",
            "--locked",
            "--exclude",
            "spin-local"
        )
        .dir(project::root())
        .run()
        .context("`cargo test --workspace` failed")?;
        // The embedded runtime's own suite: Spin's behaviour pinned, the built components
        // run against a real redis-server.
        cmd!(
            project::cargo(),
            "test",
            "--locked",
            "--package",
            "spin-local"
        )
        .dir(project::root())
        .run()
        .context("the embedded runtime's tests (`cargo test -p spin-local`) failed")?;
        Ok(())
    }
}
