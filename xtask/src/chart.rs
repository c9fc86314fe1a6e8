//! `cargo xtask chart <step>`: lint, render, test, package and push `charts/order-system` with
//! Helm's own engine, offline and without a `helm` binary. The work is done by
//! `xtask/python/order_chart` (helm-python-sdk, kubernetes-validate) in the project's venv.

use std::ffi::OsString;

use anyhow::{Context, Result};

use crate::provision;

#[derive(clap::Args)]
pub struct Chart {
    #[command(subcommand)]
    step: Step,
}

#[derive(clap::Subcommand)]
enum Step {
    /// Strict `helm lint` and strict validation of every object, for each ci/*-values.yaml (or `-f`/`--set`).
    Lint(PassOn),
    /// Render like `helm template` (`-f`, `--set`, `--release`, `--namespace`) and validate every object.
    Template(PassOn),
    /// Run the helm-unittest suites in charts/order-system/tests.
    Unittest(PassOn),
    /// Regenerate the README's values table from values.yaml (`--check`: fail when it is stale).
    Readme(PassOn),
    /// `helm package` into target/chart (`--destination DIR`).
    Package(PassOn),
    /// Package, then push to an OCI registry (`--remote oci://host/path`, `--plain-http`, `--dry-run`).
    Push(PassOn),
    /// Every chart test: scenarios, schemas, helm-unittest suites, security, README, package and push.
    Test,
}

/// Options for the step itself; `cargo xtask chart <step> -- --help` lists them.
#[derive(clap::Args)]
struct PassOn {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

impl Chart {
    pub fn run(self) -> Result<()> {
        let (step, PassOn { args }) = match self.step {
            Step::Lint(args) => ("lint", args),
            Step::Template(args) => ("template", args),
            Step::Unittest(args) => ("unittest", args),
            Step::Readme(args) => ("readme", args),
            Step::Package(args) => ("package", args),
            Step::Push(args) => ("push", args),
            Step::Test => return test(),
        };
        let mut command = vec![OsString::from("-m"), "order_chart".into(), step.into()];
        command.extend(args);
        provision::run_python(command).with_context(|| format!("`cargo xtask chart {step}` failed"))
    }
}

/// Every chart test (pytest over `xtask/python/tests/chart`); part of `cargo xtask test`.
pub fn test() -> Result<()> {
    // Real programs behind the tests: a registry to push to, curl for the helm test hook's
    // script, Redis (with redis-cli) to run the rendered Redis and reconciler command lines, and
    // Prometheus' promtool and redis_exporter for the metrics tests.
    provision::debian_packages(&[
        ("docker-registry", "docker-registry"),
        ("curl", "curl"),
        ("redis-server", "redis-server"),
        ("promtool", "prometheus"),
        ("prometheus-redis-exporter", "prometheus-redis-exporter"),
    ])?;
    let tests = provision::python_dir().join("tests").join("chart");
    let checkov = provision::checkov()?;
    provision::python_command(vec![
        "-m".into(),
        "pytest".into(),
        "-q".into(),
        "-p".into(),
        "no:cacheprovider".into(),
        tests.into(),
    ])?
    // test_checkov.py runs it on every rendered scenario.
    .env("CHECKOV", checkov)
    .run()
    .context("the chart tests failed")?;
    Ok(())
}
