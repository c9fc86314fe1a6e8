//! `cargo xtask bench`: the system's speed and size, measured together with two baselines in
//! the same run on the same machine and runtime, so the figures read as ratios:
//! - a hello-world HTTP component (`xtask/bench/hello`): the runtime's floor;
//! - `redis-benchmark` for SET and PUBLISH, the two writes an order costs: the data store's ceiling.
//!
//! Load comes from `oha` (installed into target/tools when missing) at fixed concurrency; the
//! end-to-end latency, cold start and plot come from `bench-probe` (xtask/bench/probe), which
//! keeps their dependencies out of xtask. Bytes per order in Redis come from the apps' own
//! store on a `redis-server` of its own (bench/capacity.rs). Writes report.md, report.json and
//! latency.svg.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;

mod baselines;
mod capacity;
mod fulfilment;
mod load;
mod machine;
mod nano;
mod probe;
mod report;
mod sizes_and_times;
mod targets;

use crate::project::{self, App};
use crate::up::{self, AppRuntime, LocalOptions};
use crate::{build, provision};

use baselines::{RedisCeiling, build_hello, hello_app};
use load::{Figures, Load, OHA_VERSION, Request, oha};
use machine::Machine;
use probe::{EndToEnd, Probe};
use report::{HttpFigures, Report, Settings};
use sizes_and_times::{ColdStart, PublishTimes, Sizes};

/// What every benchmark order says.
const ORDER_BODY: &str = r#"{"details":"cargo xtask bench"}"#;
/// The orders per second the end-to-end probe sends (at most a quarter of the load).
const PROBE_RATE: f64 = 50.0;

/// Measure req/s and latency of the order API and of the baselines, end-to-end latency, sizes,
/// cold start and an unchanged publish; write target/bench/report.{md,json} and latency.svg.
#[derive(clap::Args)]
pub struct Bench {
    /// What runs the apps and the hello-world baseline (`embedded` is another name for `local`).
    #[arg(long, value_enum, default_value_t = AppRuntime::Local)]
    runtime: AppRuntime,
    /// Measure the order API deployed at this base URL instead of starting it locally. The
    /// hello-world baseline, Redis ceiling and cold start need the local system and are skipped;
    /// end-to-end latency is polled.
    #[arg(long, value_name = "URL")]
    url: Option<String>,
    /// Seconds of load per measurement.
    #[arg(long, default_value_t = 10.0, value_name = "S")]
    duration: f64,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 16, value_name = "N")]
    connections: u32,
    /// Where the report goes.
    #[arg(long, default_value = "target/bench", value_name = "DIR")]
    out: PathBuf,
    /// Measure only fulfilment against acceptance, for each placement with 1 and 2 shards
    /// (writes fulfilment.md).
    #[arg(long, conflicts_with = "url")]
    fulfilment_only: bool,
    /// Measure only the bytes per order in Redis (writes capacity.md); needs only redis-server.
    #[arg(long, conflicts_with_all = ["url", "fulfilment_only"])]
    capacity_only: bool,
    /// Orders of each kind the bytes-per-order figures are measured over.
    #[arg(long, default_value_t = capacity::DEFAULT_ORDERS, value_name = "N")]
    capacity_orders: u64,
}

impl Bench {
    pub fn run(self) -> Result<()> {
        ensure!(
            self.duration > 0.0 && self.duration <= 3600.0,
            "--duration is in seconds, more than 0 and at most 3600"
        );
        ensure!(
            (1..=10_000).contains(&self.connections),
            "--connections must be between 1 and 10000"
        );
        if let Some(url) = &self.url {
            ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "--url must be the order API's base URL, like http://127.0.0.1:3000"
            );
        }
        ensure!(
            (100..=1_000_000).contains(&self.capacity_orders),
            "--capacity-orders must be between 100 and 1000000"
        );
        let out = project::root().join(&self.out);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        if self.capacity_only {
            provision::debian_packages(&BENCH_PACKAGES[..1])?;
            let capacity = capacity::Capacity::measure(self.capacity_orders)?;
            capacity.check_sane()?;
            let md = capacity.markdown();
            std::fs::write(out.join("capacity.md"), &md)?;
            std::fs::write(
                out.join("capacity.json"),
                serde_json::to_string_pretty(&capacity)? + "\n",
            )?;
            println!("{md}");
            return Ok(());
        }
        provision::debian_packages(BENCH_PACKAGES)?;
        let oha = oha()?;
        if self.fulfilment_only {
            let log = out.join("runtime.log");
            let figures = fulfilment::Fulfilment::measure(&self.load(&oha), self.runtime, &log)?;
            let md = figures.markdown();
            std::fs::write(out.join("fulfilment.md"), &md)?;
            println!("{md}");
            return Ok(());
        }
        let probe = Probe::build()?;
        let hello = build_hello()?;
        let components = build::build_components()?;

        let report = match &self.url {
            Some(url) => self.measure_deployed(&oha, &probe, url, &components)?,
            None => self.measure_local(&oha, &probe, &hello, &components, &out)?,
        };
        report.check_sane()?;
        report.write(&out, &probe)?;
        println!("{}", report.markdown());
        println!("wrote {}", out.join("report.md").display());
        Ok(())
    }

    fn load(&self, oha: &Path) -> Load {
        Load {
            oha: oha.to_path_buf(),
            duration: Duration::from_secs_f64(self.duration),
            connections: self.connections,
        }
    }

    fn measure_local(
        &self,
        oha: &Path,
        probe: &Probe,
        hello: &App,
        components: &[(String, PathBuf, u64)],
        out: &Path,
    ) -> Result<Report> {
        let load = self.load(oha);
        // The runtimes log a line per request: to a file, not through this terminal.
        let log = out.join("runtime.log");
        let _ = std::fs::remove_file(&log);
        let system = up::start_local(&LocalOptions {
            runtime: self.runtime,
            log: Some(log.clone()),
            ..LocalOptions::default()
        })?;
        let base = system.base_url().to_string();

        eprintln!("bench: hello-world baseline on the same runtime");
        let hello_listen = SocketAddr::from(([127, 0, 0, 1], dev_services::free_port()?));
        let hello_process = up::start(
            &up::runtime_command(self.runtime, &[hello], Some(hello_listen), None, &[])?,
            "the hello-world baseline",
            Some(&log),
        )?;
        let hello_url = format!("http://{hello_listen}/");
        dev_services::wait_for_port(hello_listen.port(), Duration::from_secs(120))
            .context("the hello-world baseline did not listen")?;
        let hello_figures = load.run("hello world", &Request::get(&hello_url), 200);
        let _ = hello_process.kill();
        let hello_figures = hello_figures?;

        let (post, get) = measure_order_api(&load, probe, &base)?;

        eprintln!("bench: redis-benchmark, SET and PUBLISH");
        let redis = RedisCeiling::measure(self.connections, self.duration)?;

        let end_to_end = measure_end_to_end(
            &load,
            probe,
            &base,
            Some(system.redis_url()),
            post.requests_per_second,
        )?;

        eprintln!("bench: cold start");
        // spin-local runs both apps in one process; the Spin CLI one per app, so only the HTTP one.
        let cold_apps = project::apps()?
            .into_iter()
            .filter(|app| self.runtime == AppRuntime::Local || app.serves_http)
            .collect::<Vec<_>>();
        let cold_listen = SocketAddr::from(([127, 0, 0, 1], dev_services::free_port()?));
        let command = up::runtime_command(
            self.runtime,
            &cold_apps.iter().collect::<Vec<_>>(),
            Some(cold_listen),
            Some(system.redis_url()),
            &[],
        )?;
        let existing_order = probe.create_order(&base)?;
        let first_answer = format!("http://{cold_listen}/order/{existing_order}");
        // Both runtimes keep compiled components in Wasmtime's cache, which the runs above
        // filled: a start as every start after the first. The compiling start is reported too.
        let cached_ms = probe.cold_start(&first_answer, &command)?;
        let mut compiling = command;
        compiling.arguments.push("--disable-cache".into());
        let compiling_ms = probe.cold_start(&first_answer, &compiling)?;
        drop(system);
        // Systems of their own (1, then 2 shards), once the one above is stopped.
        let fulfilment = fulfilment::Fulfilment::measure(&load, self.runtime, &log)?;

        let message = nano::PlacementFigures {
            post_order: post.clone(),
            end_to_end: end_to_end.clone(),
        };
        let nano_services = nano::measure(&load, probe, self.runtime, message, &log)?;

        Ok(Report {
            machine: Machine::describe(),
            settings: self.settings(),
            http: HttpFigures {
                hello: Some(hello_figures),
                post_order: post,
                get_order: get,
            },
            redis_benchmark: Some(redis),
            end_to_end,
            cold_start: Some(ColdStart {
                cached_ms,
                compiling_ms,
            }),
            sizes: Sizes::measure(components, hello)?,
            publish: PublishTimes::measure()?,
            fulfilment: Some(fulfilment),
            nano_services: Some(nano_services),
            capacity: Some(capacity::Capacity::measure(self.capacity_orders)?),
        })
    }

    fn measure_deployed(
        &self,
        oha: &Path,
        probe: &Probe,
        url: &str,
        components: &[(String, PathBuf, u64)],
    ) -> Result<Report> {
        let load = self.load(oha);
        let base = url.trim_end_matches('/');
        let (post, get) = measure_order_api(&load, probe, base)?;
        let end_to_end = measure_end_to_end(&load, probe, base, None, post.requests_per_second)?;
        Ok(Report {
            machine: Machine::describe(),
            settings: self.settings(),
            http: HttpFigures {
                hello: None,
                post_order: post,
                get_order: get,
            },
            redis_benchmark: None,
            end_to_end,
            cold_start: None,
            sizes: Sizes::measure(components, &hello_app()?)?,
            publish: PublishTimes::measure()?,
            fulfilment: None,
            nano_services: None,
            // A property of what the apps store, measured on a local redis-server.
            capacity: Some(capacity::Capacity::measure(self.capacity_orders)?),
        })
    }

    fn settings(&self) -> Settings {
        Settings {
            runtime: match (&self.url, self.runtime) {
                (Some(url), _) => format!("deployed at {url}"),
                (None, AppRuntime::Local) => "embedded (spin-local)".into(),
                (None, AppRuntime::Spin) => "Spin CLI".into(),
            },
            duration_s: self.duration,
            connections: self.connections,
            load_generator: format!("oha {OHA_VERSION}"),
        }
    }
}

/// Programs the bench runs, by Debian package (redis-server first: all `--capacity-only` needs);
/// the registry, for the publish timing.
const BENCH_PACKAGES: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-benchmark", "redis-tools"),
    ("docker-registry", "docker-registry"),
];

/// POST /order at full load, then GET /order/{id} of one order at full load.
fn measure_order_api(load: &Load, probe: &Probe, base: &str) -> Result<(Figures, Figures)> {
    eprintln!("bench: POST /order");
    let post = load.run(
        "POST /order",
        &Request::post(&format!("{base}/order"), ORDER_BODY),
        202,
    )?;
    eprintln!("bench: GET /order/{{id}}");
    let id = probe.create_order(base)?;
    let get = load.run(
        "GET /order/{id}",
        &Request::get(&format!("{base}/order/{id}")),
        200,
    )?;
    Ok((post, get))
}

/// POST→fulfilled latency at half the measured maximum POST rate: oha sends the background
/// orders, the probe the timed ones.
fn measure_end_to_end(
    load: &Load,
    probe: &Probe,
    base: &str,
    redis_url: Option<&str>,
    max_post_rate: f64,
) -> Result<EndToEnd> {
    let total_rate = max_post_rate / 2.0;
    let probe_rate = PROBE_RATE.min(total_rate / 4.0);
    let background_rate = total_rate - probe_rate;
    eprintln!(
        "bench: POST→fulfilled at {total_rate:.0} orders/s ({probe_rate:.0}/s timed by the probe)"
    );
    let request = Request::post(&format!("{base}/order"), ORDER_BODY);
    // The background load runs a second longer, so the probe's orders all meet it.
    let background = load
        .oha_command(&request, load.duration + Duration::from_secs(1))
        .before_spawn(move |command| {
            command.arg("-q").arg(format!("{background_rate:.1}"));
            Ok(())
        })
        .stdout_capture()
        .start()
        .context("starting oha for the background load")?;
    let timed = probe.end_to_end(base, redis_url, probe_rate, load.duration);
    let background = background.wait().context("oha (background load) failed")?;
    let background = Figures::from_oha(
        "background POST /order",
        &String::from_utf8_lossy(&background.stdout),
        202,
    )?;
    let timed = timed?;
    Ok(EndToEnd {
        offered_rate_per_s: total_rate,
        background_achieved_rate_per_s: background.requests_per_second,
        ..timed
    })
}

/// Orders per kind in the smoke run's bytes-per-order figures: enough for a sane figure.
const SMOKE_CAPACITY_ORDERS: u64 = 1_000;

/// `cargo xtask test`'s smoke run: a second of load per measurement at two connections, into
/// target/bench/smoke; fails unless every figure and file is there and sane.
pub fn smoke() -> Result<()> {
    let out = PathBuf::from("target").join("bench").join("smoke");
    Bench {
        runtime: AppRuntime::Local,
        url: None,
        duration: 1.0,
        connections: 2,
        out: out.clone(),
        fulfilment_only: false,
        capacity_only: false,
        capacity_orders: SMOKE_CAPACITY_ORDERS,
    }
    .run()
    .context("the benchmark's smoke run failed")?;
    let out = project::root().join(out);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json"))?)?;
    let targets = report["targets"]
        .as_array()
        .context("report.json has no targets")?;
    // Six against same-run baselines, (a local run measures both placements) the two
    // nano-services ratios and the fulfilled-orders ratio, and the budget of bytes per typical
    // order in Redis.
    ensure!(
        targets.len() == 10 && targets.iter().all(|target| target["measured"].is_f64()),
        "report.json lacks a measured target: {targets:?}"
    );
    ensure!(
        report["nano_services"].is_object(),
        "report.json lacks the nano-services placements"
    );
    ensure!(
        report["capacity"]["kinds"]
            .as_array()
            .is_some_and(|kinds| kinds.len() == 7),
        "report.json lacks the bytes per order in Redis"
    );
    let svg = std::fs::read_to_string(out.join("latency.svg"))?;
    ensure!(
        svg.contains("POST→fulfilled"),
        "latency.svg lacks the end-to-end curve"
    );
    Ok(())
}
