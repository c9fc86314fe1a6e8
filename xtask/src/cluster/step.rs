//! A command as data: what it is for and its argv, built first and run later, so that tests
//! check the exact command lines without a cluster.

use anyhow::{Context, Result};

use crate::project;

/// One command of a plan: what it is for (progress and error context) and its argv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Step {
    pub(super) what: String,
    pub(super) argv: Vec<String>,
    /// Extra environment; never printed (it may hold a password).
    pub(super) env: Vec<(String, String)>,
}

impl Step {
    pub(super) fn new(
        what: impl Into<String>,
        argv: impl IntoIterator<Item = impl Into<String>>,
    ) -> Step {
        Step {
            what: what.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    pub(super) fn env(mut self, name: &str, value: impl Into<String>) -> Step {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    pub(super) fn expression(&self) -> duct::Expression {
        let mut expression = duct::cmd(&self.argv[0], &self.argv[1..]).dir(project::root());
        for (name, value) in &self.env {
            expression = expression.env(name, value);
        }
        expression
    }

    pub(super) fn run(&self) -> Result<()> {
        eprintln!("==> {}", self.what);
        self.expression()
            .run()
            .with_context(|| format!("{} (`{}`)", self.what, self.argv.join(" ")))?;
        Ok(())
    }

    pub(super) fn read(&self) -> Result<String> {
        self.expression()
            .read()
            .with_context(|| format!("{} (`{}`)", self.what, self.argv.join(" ")))
    }
}

/// A step's command line, as the tests compare it.
#[cfg(test)]
pub(super) fn argv(step: &Step) -> String {
    step.argv.join(" ")
}
