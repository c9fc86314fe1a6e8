//! `cargo xtask <task>`: the project's automation, one module per task.
//! This file only parses the command line and dispatches.

mod build;
mod project;
mod provision;
mod test;
mod up;

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
    Test(test::Test),
    Up(up::Up),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Build(task) => task.run(),
        Task::Test(task) => task.run(),
        Task::Up(task) => task.run(),
    }
}
