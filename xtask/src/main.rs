//! `cargo xtask <task>`: the project's automation, one module per task.
//! This file only parses the command line and dispatches.

mod build;
mod project;
mod provision;
mod publish;
mod test;

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
    Publish(publish::Publish),
    Test(test::Test),
}

/// Errors print as one line (the context chain joined by `: `), without a backtrace.
fn main() {
    let result = match Cli::parse().task {
        Task::Build(task) => task.run(),
        Task::Publish(task) => task.run(),
        Task::Test(task) => task.run(),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}
