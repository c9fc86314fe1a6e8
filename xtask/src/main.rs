//! `cargo xtask <task>`: the project's automation, one module per task.
//! This file only parses the command line and dispatches.

mod bench;
mod build;
mod chart;
mod cluster;
mod gitops;
mod project;
mod provision;
mod publish;
mod python_lint;
mod test;
mod up;
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
    Bench(bench::Bench),
    Build(build::Build),
    Chart(chart::Chart),
    Gitops(gitops::Gitops),
    Publish(publish::Publish),
    Test(test::Test),
    Up(up::Up),
    Down(cluster::Down),
    LintWorkflows(workflows::LintWorkflows),
}

/// Errors print as one line (the context chain joined by `: `), without a backtrace.
fn main() {
    let result = match Cli::parse().task {
        Task::Bench(task) => task.run(),
        Task::Build(task) => task.run(),
        Task::Chart(task) => task.run(),
        Task::Gitops(task) => task.run(),
        Task::Publish(task) => task.run(),
        Task::Test(task) => task.run(),
        Task::Up(task) => task.run(),
        Task::Down(task) => task.run(),
        Task::LintWorkflows(task) => task.run(),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
