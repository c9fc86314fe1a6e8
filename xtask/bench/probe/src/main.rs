//! `bench-probe`: the instruments `cargo xtask bench` cannot borrow from a load generator.
//! Each subcommand prints one JSON object on stdout; progress and errors go to stderr.
//!
//! - `end-to-end`: POST→fulfilled latency of paced orders, timed by Redis keyspace
//!   notifications (no polling bias) or, without Redis access, by polling at a fixed interval.
//! - `cold-start`: time from spawning a runtime to its first 2xx answer.
//! - `create-order`: one order, for load on `GET /order/{id}`.
//! - `plot`: latency-by-percentile curves as an SVG.

mod cold_start;
mod end_to_end;
mod plot;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bench-probe",
    about = "Measuring instruments for `cargo xtask bench`"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    EndToEnd(end_to_end::EndToEnd),
    CreateOrder(end_to_end::CreateOrder),
    ColdStart(cold_start::ColdStart),
    Plot(plot::Plot),
}

fn main() {
    let result = match Cli::parse().command {
        Command::EndToEnd(command) => command.run(),
        Command::CreateOrder(command) => command.run(),
        Command::ColdStart(command) => command.run(),
        Command::Plot(command) => command.run(),
    };
    match result {
        Ok(report) => println!("{report}"),
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::exit(1);
        }
    }
}
