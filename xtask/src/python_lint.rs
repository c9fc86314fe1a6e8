//! ruff (lint and format check) and mypy over `xtask/python`, configured in
//! `xtask/python/pyproject.toml` and pinned in its `requirements.txt` (the project venv); run by
//! `cargo xtask test`.

use std::ffi::OsString;

use anyhow::{Context, Result};
use duct::cmd;

use crate::{project, provision};

/// What each mypy run checks: the packages with one test directory at a time, as the two are
/// separate pytest roots, each with its own `conftest` module.
const MYPY_RUNS: &[&[&str]] = &[
    &["order_chart", "gitops_check", "api_fuzz", "tests/chart"],
    &["order_chart", "gitops_check", "api_fuzz", "tests/gitops"],
];

/// `ruff check`, `ruff format --check` and `mypy` in `xtask/python`, their caches under `target/`.
pub fn check() -> Result<()> {
    let python = provision::python()?;
    let dir = provision::python_dir();
    let target = project::root().join("target");
    let ruff = python.with_file_name("ruff");
    let ruff_cache = target.join("ruff-cache");
    cmd!(&ruff, "check", "--cache-dir", &ruff_cache, ".")
        .dir(&dir)
        .run()
        .context("ruff found problems in xtask/python (listed above)")?;
    cmd!(&ruff, "format", "--check", "--cache-dir", &ruff_cache, ".")
        .dir(&dir)
        .run()
        .context("xtask/python is not formatted: run `target/venv/bin/ruff format xtask/python`")?;
    for files in MYPY_RUNS {
        let mut args: Vec<OsString> = vec!["--cache-dir".into(), target.join("mypy-cache").into()];
        args.extend(files.iter().map(OsString::from));
        cmd(python.with_file_name("mypy"), args)
            .dir(&dir)
            .run()
            .with_context(|| {
                format!("mypy found problems in xtask/python ({})", files.join(" "))
            })?;
    }
    Ok(())
}
