//! The two baselines measured in the same run: the hello-world HTTP component
//! (`xtask/bench/hello`), the runtime's floor, and `redis-benchmark` SET and PUBLISH, the data
//! store's ceiling.

use anyhow::{Context, Result, ensure};
use duct::cmd;
use serde::{Deserialize, Serialize};

use crate::project::{self, App, WASM_TARGET};

pub(super) fn hello_app() -> Result<App> {
    App::load(
        &project::root()
            .join("xtask")
            .join("bench")
            .join("hello")
            .join("spin.toml"),
    )
}

/// Builds the hello-world baseline (release, wasm32-wasip2, like the product's components).
pub(super) fn build_hello() -> Result<App> {
    let hello = hello_app()?;
    let mut args = vec!["build", "--release", "--locked", "--target", WASM_TARGET];
    for component in &hello.components {
        args.extend(["--package", &component.crate_name]);
    }
    project::cargo_command(&args)
        .run()
        .context("building the hello-world baseline (xtask/bench/hello)")?;
    Ok(hello)
}

/// `redis-benchmark` on a fresh redis-server like the system's: SET (an order's size) and
/// PUBLISH (a new-order message), each at the bench's concurrency. An order costs one of each,
/// so the pair's ceiling is `1 / (1/SET + 1/PUBLISH)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RedisCeiling {
    pub(super) set_per_second: f64,
    pub(super) publish_per_second: f64,
    pub(super) pair_per_second: f64,
}

impl RedisCeiling {
    pub(super) fn measure(connections: u32, duration: f64) -> Result<RedisCeiling> {
        let server = dev_services::RedisServer::start().context("starting redis-server")?;
        // About a second per command on this kind of machine at full duration; fewer for short runs.
        let requests = ((duration * 10_000.0) as u64)
            .clamp(2_000, 200_000)
            .to_string();
        let port = server.port().to_string();
        let connections = connections.to_string();
        let common = [
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-c",
            &connections,
            "-n",
            &requests,
            "--csv",
        ];
        let run = |command: &[&str]| -> Result<f64> {
            let args: Vec<&str> = common.iter().chain(command).copied().collect();
            let csv = cmd("redis-benchmark", &args)
                .read()
                .with_context(|| format!("redis-benchmark {}", command.join(" ")))?;
            parse_redis_benchmark_csv(&csv)
        };
        let set_per_second = run(&["-d", "160", "-t", "set"])?;
        let message = r#"{"id":"00000000-0000-4000-8000-000000000000","details":"cargo xtask bench","status":"created"}"#;
        let publish_per_second = run(&["PUBLISH", "neworders", message])?;
        Ok(RedisCeiling {
            set_per_second,
            publish_per_second,
            pair_per_second: 1.0 / (1.0 / set_per_second + 1.0 / publish_per_second),
        })
    }
}

/// The requests per second of the one test in `redis-benchmark --csv` output.
fn parse_redis_benchmark_csv(csv: &str) -> Result<f64> {
    let mut lines = csv.lines().filter(|line| !line.trim().is_empty());
    let header = lines.next().context("redis-benchmark printed nothing")?;
    ensure!(
        header.starts_with(r#""test","rps""#),
        "unexpected redis-benchmark CSV header {header:?}"
    );
    let row = lines.next().context("redis-benchmark printed no result")?;
    // A custom command is the test's name, commas and quotes included: count from the end,
    // where the seven figures are.
    let rps = row
        .rsplit(',')
        .nth(6)
        .map(|field| field.trim_matches('"'))
        .and_then(|field| field.parse::<f64>().ok())
        .with_context(|| format!("no requests per second in redis-benchmark's {row:?}"))?;
    Ok(rps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_redis_benchmark_csv() {
        let csv = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                   \"SET\",\"85470.09\",\"0.322\",\"0.080\",\"0.303\",\"0.527\",\"0.775\",\"1.999\"\n";
        assert_eq!(parse_redis_benchmark_csv(csv).unwrap(), 85470.09);
        let custom = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
                      \"PUBLISH neworders {\"id\":\"1\",\"status\":\"created\"}\",\"49751.25\",\"0.106\",\"0.024\",\"0.095\",\"0.151\",\"0.255\",\"9.967\"\n";
        assert_eq!(parse_redis_benchmark_csv(custom).unwrap(), 49751.25);
        assert!(parse_redis_benchmark_csv("").is_err());
        assert!(parse_redis_benchmark_csv("\"test\",\"rps\"\n\"SET\",\"fast\"\n").is_err());
    }
}
