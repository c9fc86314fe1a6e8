//! `cargo xtask <task>`: the project's automation, one module per task.
//! This file only parses the command line and dispatches.

mod build;
mod chart;
mod cluster;
mod gitops;
mod project;
mod provision;
mod publish;
mod test;
mod workflows;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "order-system's build, test and deploy tasks"
)]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    Build(build::Build),
    Chart(chart::Chart),
    Gitops(gitops::Gitops),
    Publish(publish::Publish),
    Test(test::Test),
    /// Run the system; `--cluster k3d` deploys it to a local k3d cluster with the Spin shim
    Up(cluster::ClusterArgs),
    Down(cluster::Down),
    LintWorkflows(workflows::LintWorkflows),
}

/// Errors print as one line (the context chain joined by `: `), without a backtrace.
fn main() {
    let result = match Cli::parse().task {
        Task::Build(task) => task.run(),
        Task::Chart(task) => task.run(),
        Task::Gitops(task) => task.run(),
        Task::Publish(task) => task.run(),
        Task::Test(task) => task.run(),
        // The embedded-runtime `up` (no `--cluster`) lives on the runtime branch; at merge its
        // `Up` flattens `cluster::ClusterArgs` and calls `cluster::up` when `--cluster` is given.
        Task::Up(args) => match args.cluster {
            Some(kind) => cluster::up(kind, &args),
            None => Err(anyhow::anyhow!(
                "`cargo xtask up` needs `--cluster k3d` in this build"
            )),
        },
        Task::Down(task) => task.run(),
        Task::LintWorkflows(task) => task.run(),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
