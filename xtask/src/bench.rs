//! `cargo xtask bench`: the system's speed and size, measured together with two baselines in
//! the same run on the same machine and runtime, so the figures read as ratios:
//! - a hello-world HTTP component (`xtask/bench/hello`): the runtime's floor;
//! - `redis-benchmark` for SET and PUBLISH, the two writes an order costs: the data store's ceiling.
//!
//! Load comes from `oha` (installed into target/tools when missing) at fixed concurrency; the
//! end-to-end latency, cold start and plot come from `bench-probe` (xtask/bench/probe), which
//! keeps their dependencies out of xtask. Writes report.md, report.json and latency.svg.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use duct::cmd;
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod fulfilment;
mod nano;

use crate::project::{self, App, WASM_TARGET};
use crate::up::{self, AppRuntime, LocalOptions};
use crate::{build, provision};

/// The load generator, pinned: its JSON output is parsed here.
const OHA_VERSION: &str = "1.16.0";
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
    /// Measure only fulfilment against acceptance with 1 and 2 shards (writes fulfilment.md).
    #[arg(long, conflicts_with = "url")]
    fulfilment_only: bool,
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
        let out = project::root().join(&self.out);
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
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

/// Programs the bench runs, by Debian package; the registry, for the publish timing.
const BENCH_PACKAGES: &[(&str, &str)] = &[
    ("redis-server", "redis-server"),
    ("redis-benchmark", "redis-tools"),
    ("docker-registry", "docker-registry"),
];

fn hello_app() -> Result<App> {
    App::load(
        &project::root()
            .join("xtask")
            .join("bench")
            .join("hello")
            .join("spin.toml"),
    )
}

/// Builds the hello-world baseline (release, wasm32-wasip2, like the product's components).
fn build_hello() -> Result<App> {
    let hello = hello_app()?;
    let mut args = vec!["build", "--release", "--locked", "--target", WASM_TARGET];
    for component in &hello.components {
        args.extend(["--package", &component.crate_name]);
    }
    cmd(project::cargo(), &args)
        .dir(project::root())
        .run()
        .context("building the hello-world baseline (xtask/bench/hello)")?;
    Ok(hello)
}

/// `oha` from target/tools, installed there with `cargo install` when missing.
fn oha() -> Result<PathBuf> {
    let root = project::root().join("target").join("tools");
    let binary = root.join("bin").join("oha");
    let installed = cmd!(&binary, "--version")
        .stderr_null()
        .read()
        .is_ok_and(|version| version.trim_end().ends_with(OHA_VERSION));
    if !installed {
        eprintln!("bench: installing the load generator oha {OHA_VERSION} into target/tools");
        cmd!(
            project::cargo(),
            "install",
            "oha",
            "--version",
            OHA_VERSION,
            "--locked",
            "--root",
            &root
        )
        .run()
        .with_context(|| {
            format!("installing oha: run `cargo install oha --version {OHA_VERSION} --locked`")
        })?;
    }
    Ok(binary)
}

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

/// One load-generator setting: how long and how many connections.
struct Load {
    oha: PathBuf,
    duration: Duration,
    connections: u32,
}

struct Request {
    url: String,
    body: Option<&'static str>,
}

impl Request {
    fn get(url: &str) -> Request {
        Request {
            url: url.into(),
            body: None,
        }
    }

    fn post(url: &str, body: &'static str) -> Request {
        Request {
            url: url.into(),
            body: Some(body),
        }
    }
}

impl Load {
    fn oha_command(&self, request: &Request, duration: Duration) -> duct::Expression {
        let mut args = vec![
            "--no-tui".to_string(),
            "--output-format".into(),
            "json".into(),
            "-z".into(),
            format!("{}ms", duration.as_millis()),
            "-c".into(),
            self.connections.to_string(),
            // Requests in flight at the deadline are answered, not counted as errors.
            "--wait-ongoing-requests-after-deadline".into(),
        ];
        if let Some(body) = request.body {
            args.extend(["-m", "POST", "-T", "application/json", "-d", body].map(String::from));
        }
        args.push(request.url.clone());
        cmd(&self.oha, args)
    }

    /// A short warm-up (every connection opened, every instance warm), then `duration` of load;
    /// every answer must have `status`.
    fn run(&self, name: &str, request: &Request, status: u16) -> Result<Figures> {
        let warm_up = self
            .oha_command(request, Duration::from_millis(500))
            .read()
            .with_context(|| format!("oha ({name}, warm-up) failed"))?;
        Figures::from_oha(name, &warm_up, status).with_context(|| format!("warming up {name}"))?;
        let json = self
            .oha_command(request, self.duration)
            .read()
            .with_context(|| format!("oha ({name}) failed"))?;
        Figures::from_oha(name, &json, status)
    }
}

/// Throughput and latency of one kind of request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Figures {
    requests: u64,
    requests_per_second: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    /// `(percentile, ms)`, for the plot.
    curve: Vec<(f64, f64)>,
}

impl Figures {
    /// Reads oha's JSON summary; fails unless every request got an answer with `status`.
    fn from_oha(name: &str, json: &str, status: u16) -> Result<Figures> {
        let summary: Value = serde_json::from_str(json)
            .with_context(|| format!("{name}: oha printed no JSON summary: {json}"))?;
        let errors = &summary["errorDistribution"];
        if errors.as_object().is_some_and(|errors| !errors.is_empty()) {
            bail!("{name}: requests failed: {errors}");
        }
        let codes = summary["statusCodeDistribution"]
            .as_object()
            .with_context(|| format!("{name}: oha reported no status codes"))?;
        let expected = status.to_string();
        if let Some((code, count)) = codes.iter().find(|(code, _)| **code != expected) {
            bail!("{name}: {count} answers were {code}, not {status}");
        }
        let requests = codes.get(&expected).and_then(Value::as_u64).unwrap_or(0);
        ensure!(requests > 0, "{name}: no request was answered");
        let percentiles = summary["latencyPercentiles"]
            .as_object()
            .with_context(|| format!("{name}: oha reported no latency percentiles"))?;
        let mut curve = Vec::new();
        for (key, seconds) in percentiles {
            let percentile: f64 = key
                .strip_prefix('p')
                .and_then(|p| p.parse().ok())
                .with_context(|| format!("{name}: unexpected percentile {key}"))?;
            let seconds = seconds
                .as_f64()
                .with_context(|| format!("{name}: {key} is {seconds}"))?;
            curve.push((percentile, seconds * 1000.0));
        }
        curve.sort_by(|a, b| a.0.total_cmp(&b.0));
        let at = |p: f64| {
            curve
                .iter()
                .find(|(percentile, _)| *percentile == p)
                .map(|(_, ms)| *ms)
                .with_context(|| format!("{name}: oha reported no p{p}"))
        };
        Ok(Figures {
            requests,
            requests_per_second: summary["summary"]["requestsPerSec"]
                .as_f64()
                .with_context(|| format!("{name}: oha reported no requests per second"))?,
            p50_ms: at(50.0)?,
            p90_ms: at(90.0)?,
            p99_ms: at(99.0)?,
            curve,
        })
    }
}

/// `redis-benchmark` on a fresh redis-server like the system's: SET (an order's size) and
/// PUBLISH (a new-order message), each at the bench's concurrency. An order costs one of each,
/// so the pair's ceiling is `1 / (1/SET + 1/PUBLISH)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RedisCeiling {
    set_per_second: f64,
    publish_per_second: f64,
    pair_per_second: f64,
}

impl RedisCeiling {
    fn measure(connections: u32, duration: f64) -> Result<RedisCeiling> {
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

/// The end-to-end figures, as bench-probe reports them plus the load they were taken under.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EndToEnd {
    method: String,
    #[serde(default)]
    offered_rate_per_s: f64,
    #[serde(default)]
    background_achieved_rate_per_s: f64,
    rate_per_s: f64,
    sent: u64,
    lost: u64,
    latency: Option<ProbeLatency>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ProbeLatency {
    count: u64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    curve: Vec<(f64, f64)>,
}

/// `bench-probe`, built once, run per measurement.
struct Probe {
    binary: PathBuf,
}

impl Probe {
    fn build() -> Result<Probe> {
        cmd!(
            project::cargo(),
            "build",
            "--quiet",
            "--locked",
            "--package",
            "bench-probe"
        )
        .dir(project::root())
        .run()
        .context("building bench-probe (xtask/bench/probe)")?;
        Ok(Probe {
            binary: project::root()
                .join("target")
                .join("debug")
                .join("bench-probe"),
        })
    }

    fn run(&self, args: &[String]) -> Result<Value> {
        let output = cmd(&self.binary, args)
            .read()
            .with_context(|| format!("bench-probe {}", args.join(" ")))?;
        serde_json::from_str(&output)
            .with_context(|| format!("bench-probe {} printed {output:?}", args[0]))
    }

    fn create_order(&self, base: &str) -> Result<String> {
        let answer = self.run(&["create-order".into(), "--url".into(), base.into()])?;
        answer["id"]
            .as_str()
            .map(str::to_string)
            .context("bench-probe create-order printed no id")
    }

    fn end_to_end(
        &self,
        base: &str,
        redis_url: Option<&str>,
        rate: f64,
        duration: Duration,
    ) -> Result<EndToEnd> {
        let mut args: Vec<String> = vec![
            "end-to-end".into(),
            "--url".into(),
            base.into(),
            "--rate".into(),
            rate.to_string(),
            "--duration".into(),
            duration.as_secs_f64().to_string(),
        ];
        if let Some(redis_url) = redis_url {
            args.extend(["--redis".into(), redis_url.into()]);
        }
        Ok(serde_json::from_value(self.run(&args)?)?)
    }

    fn cold_start(&self, url: &str, command: &up::RuntimeCommand) -> Result<f64> {
        let mut args: Vec<String> = vec!["cold-start".into(), "--url".into(), url.into()];
        for (name, value) in &command.environment {
            args.extend(["--env".into(), format!("{name}={value}")]);
        }
        args.push("--".into());
        args.push(command.program.display().to_string());
        args.extend(command.arguments.iter().cloned());
        let answer = self.run(&args)?;
        answer["ms"]
            .as_f64()
            .context("bench-probe cold-start printed no time")
    }

    fn plot(&self, curves: &Path, svg: &Path) -> Result<()> {
        self.run(&[
            "plot".into(),
            "--curves".into(),
            curves.display().to_string(),
            "--out".into(),
            svg.display().to_string(),
        ])?;
        Ok(())
    }
}

/// Bytes of each component's wasm (each pushed artifact's are in [`PublishTimes`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sizes {
    /// Component id → wasm bytes.
    wasm: Vec<(String, u64)>,
    /// Both apps' wasm together.
    apps_wasm_total: u64,
    hello_wasm: u64,
}

impl Sizes {
    fn measure(components: &[(String, PathBuf, u64)], hello: &App) -> Result<Sizes> {
        let hello_wasm = hello
            .components
            .iter()
            .map(|component| {
                std::fs::metadata(&component.wasm)
                    .map(|metadata| metadata.len())
                    .with_context(|| format!("no {}", component.wasm.display()))
            })
            .sum::<Result<u64>>()?;
        Ok(Sizes {
            wasm: components
                .iter()
                .map(|(id, _, bytes)| (id.clone(), *bytes))
                .collect(),
            apps_wasm_total: components.iter().map(|(_, _, bytes)| bytes).sum(),
            hello_wasm,
        })
    }
}

/// `cargo xtask publish` to a local registry: the first push, then the same again unchanged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishTimes {
    first_s: f64,
    unchanged_s: f64,
    /// Blobs the unchanged publish uploaded: 0 when nothing changed, as it should be.
    unchanged_blobs_pushed: u64,
    /// App → bytes of its pushed artifact (config and layers).
    artifact_bytes: Vec<(String, u64)>,
}

impl PublishTimes {
    fn measure() -> Result<PublishTimes> {
        eprintln!("bench: cargo xtask publish to a local registry, first and unchanged");
        let registry = dev_services::RegistryServer::start().context("starting docker-registry")?;
        let target = format!("{}/order-system", registry.host());
        let publish = || -> Result<f64> {
            let started = Instant::now();
            cmd!(
                project::cargo(),
                "xtask",
                "publish",
                "--registry",
                &target,
                "--insecure"
            )
            .dir(project::root())
            .stdout_null()
            .run()
            .context("`cargo xtask publish` failed")?;
            Ok(started.elapsed().as_secs_f64())
        };
        let first_s = publish()?;
        let unchanged_s = publish()?;
        let summary_file = project::root().join("target").join("publish.json");
        let summary: Value = serde_json::from_str(
            &std::fs::read_to_string(&summary_file)
                .with_context(|| format!("reading {}", summary_file.display()))?,
        )?;
        let apps = summary["apps"]
            .as_object()
            .context("target/publish.json lists no apps")?;
        let mut unchanged_blobs_pushed = 0;
        let mut artifact_bytes = Vec::new();
        for (name, app) in apps {
            unchanged_blobs_pushed += app["blobsPushed"].as_u64().unwrap_or(0);
            let blob_bytes = std::iter::once(&app["config"])
                .chain(app["layers"].as_array().into_iter().flatten())
                .map(|blob| blob["size"].as_u64().unwrap_or(0))
                .sum();
            artifact_bytes.push((name.clone(), blob_bytes));
        }
        Ok(PublishTimes {
            first_s,
            unchanged_s,
            unchanged_blobs_pushed,
            artifact_bytes,
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Machine {
    cpus: usize,
    cpu_model: String,
    memory: String,
    os: String,
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |text: &str, key: &str, separator: char| {
            text.lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(separator)?;
                    (name.trim() == key).then(|| value.trim().trim_matches('"').to_string())
                })
                .unwrap_or_else(|| "unknown".into())
        };
        Machine {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: field(&cpuinfo, "model name", ':'),
            memory: field(&meminfo, "MemTotal", ':'),
            os: format!(
                "{}, {} {}",
                field(&os_release, "PRETTY_NAME", '='),
                std::env::consts::OS,
                std::env::consts::ARCH
            ),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    runtime: String,
    duration_s: f64,
    connections: u32,
    load_generator: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HttpFigures {
    hello: Option<Figures>,
    post_order: Figures,
    get_order: Figures,
}

/// From spawning the runtime with both apps to the first 2xx of `GET /order/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdStart {
    /// With the compiled components in the compilation cache: every start but the first.
    cached_ms: f64,
    /// Compiling every component (`--disable-cache`): the first start on a machine.
    compiling_ms: f64,
}

/// Everything one run measured; report.json is this, plus the ratios and targets.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    machine: Machine,
    settings: Settings,
    http: HttpFigures,
    redis_benchmark: Option<RedisCeiling>,
    end_to_end: EndToEnd,
    cold_start: Option<ColdStart>,
    sizes: Sizes,
    publish: PublishTimes,
    /// Fulfilment against acceptance with 1 and 2 shards (local runs only).
    #[serde(default)]
    fulfilment: Option<fulfilment::Fulfilment>,
    /// Both fulfilment placements (local runs only).
    #[serde(default)]
    nano_services: Option<nano::NanoServices>,
}

/// What report.json holds: the measurements, and what the issue's targets make of them.
#[derive(Serialize)]
struct Written<'a> {
    #[serde(flatten)]
    report: &'a Report,
    ratios: Ratios,
    targets: Vec<Target>,
}

#[derive(Clone, Copy, Debug, Serialize)]
struct Ratios {
    /// POST /order req/s ÷ hello-world req/s.
    post_vs_hello: Option<f64>,
    /// GET /order/{id} req/s ÷ hello-world req/s.
    get_vs_hello: Option<f64>,
    /// POST /order req/s ÷ the Redis SET+PUBLISH pair's ceiling.
    post_vs_redis_pair: Option<f64>,
}

#[derive(Clone, Copy, Debug, Serialize)]
#[serde(rename_all = "snake_case")]
enum Goal {
    AtLeast(f64),
    Below(f64),
}

#[derive(Debug, Serialize)]
struct Target {
    name: &'static str,
    goal: Goal,
    unit: &'static str,
    measured: Option<f64>,
    /// None when not measured (a deployed URL has no local baseline).
    pass: Option<bool>,
    verdict: String,
}

impl Target {
    fn new(name: &'static str, goal: Goal, unit: &'static str, measured: Option<f64>) -> Target {
        let pass = measured.map(|value| match goal {
            Goal::AtLeast(limit) => value >= limit,
            Goal::Below(limit) => value < limit,
        });
        let verdict = match (measured, pass, goal) {
            (Some(value), Some(true), Goal::AtLeast(limit)) => {
                format!("pass, {:.0}% above", (value / limit - 1.0) * 100.0)
            }
            (Some(value), Some(false), Goal::AtLeast(limit)) => {
                format!("MISS by {:.0}%", (1.0 - value / limit) * 100.0)
            }
            (Some(value), Some(true), Goal::Below(limit)) => {
                format!("pass, {:.0}% below", (1.0 - value / limit) * 100.0)
            }
            (Some(value), Some(false), Goal::Below(limit)) => {
                format!(
                    "MISS by {:.0}% ({:.2} {unit} over)",
                    (value / limit - 1.0) * 100.0,
                    value - limit
                )
            }
            _ => "not measured".to_string(),
        };
        Target {
            name,
            goal,
            unit,
            measured,
            pass,
            verdict,
        }
    }

    fn goal_text(&self) -> String {
        match self.goal {
            Goal::AtLeast(limit) => format!("≥ {} {}", short(limit), self.unit),
            Goal::Below(limit) => format!("< {} {}", short(limit), self.unit),
        }
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// A goal's limit with at most two decimals and no trailing zeros (`0.33`, `1.5`, `100`).
fn short(limit: f64) -> String {
    let text = format!("{limit:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Report {
    fn ratios(&self) -> Ratios {
        let post = self.http.post_order.requests_per_second;
        let hello = self
            .http
            .hello
            .as_ref()
            .map(|hello| hello.requests_per_second);
        Ratios {
            post_vs_hello: hello.map(|hello| post / hello),
            get_vs_hello: hello.map(|hello| self.http.get_order.requests_per_second / hello),
            post_vs_redis_pair: self
                .redis_benchmark
                .as_ref()
                .map(|redis| post / redis.pair_per_second),
        }
    }

    /// The issue's targets, each with its verdict.
    fn targets(&self) -> Vec<Target> {
        let ratios = self.ratios();
        vec![
            Target::new(
                "POST /order req/s vs hello world",
                Goal::AtLeast(0.7),
                "×",
                ratios.post_vs_hello,
            ),
            Target::new(
                "GET /order/{id} req/s vs hello world",
                Goal::AtLeast(0.8),
                "×",
                ratios.get_vs_hello,
            ),
            Target::new(
                "POST→fulfilled p99 at half the maximum load",
                Goal::Below(10.0),
                "ms",
                self.end_to_end
                    .latency
                    .as_ref()
                    .map(|latency| latency.p99_ms),
            ),
            Target::new(
                "both apps' wasm together",
                Goal::Below(1.0),
                "MiB",
                Some(self.sizes.apps_wasm_total as f64 / MIB),
            ),
            Target::new(
                "cold start to the first 2xx",
                Goal::Below(100.0),
                "ms",
                self.cold_start.as_ref().map(|cold| cold.cached_ms),
            ),
            Target::new(
                "unchanged `cargo xtask publish`",
                Goal::Below(2.0),
                "s",
                Some(self.publish.unchanged_s),
            ),
        ]
        .into_iter()
        .chain(
            self.nano_services
                .iter()
                .flat_map(nano::NanoServices::targets),
        )
        .collect()
    }

    /// Fails when a figure cannot be right: nothing measured, a lost order, a non-finite or
    /// non-positive number, percentiles out of order, a publish that was not unchanged.
    fn check_sane(&self) -> Result<()> {
        let positive = |what: &str, value: f64| {
            ensure!(
                value.is_finite() && value > 0.0,
                "{what} is {value}, not a positive figure"
            );
            Ok(())
        };
        let http = [
            Some(&self.http.post_order),
            Some(&self.http.get_order),
            self.http.hello.as_ref(),
        ];
        for figures in http.into_iter().flatten() {
            positive("a request rate", figures.requests_per_second)?;
            positive("a latency", figures.p50_ms)?;
            ensure!(
                figures.p50_ms <= figures.p90_ms && figures.p90_ms <= figures.p99_ms,
                "latency percentiles out of order: {figures:?}"
            );
        }
        if let Some(redis) = &self.redis_benchmark {
            positive("redis-benchmark SET/s", redis.set_per_second)?;
            positive("redis-benchmark PUBLISH/s", redis.publish_per_second)?;
        }
        let end_to_end = &self.end_to_end;
        ensure!(
            end_to_end.lost == 0,
            "{} of {} timed orders were never fulfilled",
            end_to_end.lost,
            end_to_end.sent
        );
        let latency = end_to_end
            .latency
            .as_ref()
            .context("no order was timed end to end")?;
        positive("the end-to-end p50", latency.p50_ms)?;
        ensure!(
            latency.p50_ms <= latency.p99_ms,
            "end-to-end percentiles out of order: {latency:?}"
        );
        if let Some(cold) = &self.cold_start {
            positive("the cold start", cold.cached_ms)?;
            positive("the compiling start", cold.compiling_ms)?;
        }
        for (component, bytes) in &self.sizes.wasm {
            positive(&format!("{component}'s wasm size"), *bytes as f64)?;
        }
        positive("the hello-world wasm size", self.sizes.hello_wasm as f64)?;
        positive("the first publish", self.publish.first_s)?;
        positive("the unchanged publish", self.publish.unchanged_s)?;
        ensure!(
            self.publish.unchanged_blobs_pushed == 0,
            "the unchanged publish uploaded {} blobs",
            self.publish.unchanged_blobs_pushed
        );
        ensure!(
            !self.publish.artifact_bytes.is_empty(),
            "no artifact was published"
        );
        for (app, bytes) in &self.publish.artifact_bytes {
            positive(&format!("{app}'s artifact size"), *bytes as f64)?;
        }
        Ok(())
    }

    /// report.json, report.md, and latency.svg drawn from the latency curves.
    fn write(&self, out: &Path, probe: &Probe) -> Result<()> {
        let written = Written {
            report: self,
            ratios: self.ratios(),
            targets: self.targets(),
        };
        std::fs::write(
            out.join("report.json"),
            serde_json::to_string_pretty(&written)? + "\n",
        )?;
        std::fs::write(out.join("report.md"), self.markdown())?;
        let mut curves = Vec::new();
        let http = [
            ("hello world", self.http.hello.as_ref()),
            ("POST /order", Some(&self.http.post_order)),
            ("GET /order/{id}", Some(&self.http.get_order)),
        ];
        for (name, figures) in http {
            if let Some(figures) = figures {
                curves.push(serde_json::json!({ "name": name, "curve": figures.curve }));
            }
        }
        if let Some(latency) = &self.end_to_end.latency {
            curves.push(serde_json::json!({ "name": "POST→fulfilled", "curve": latency.curve }));
        }
        let curves_file = out.join("curves.json");
        std::fs::write(&curves_file, serde_json::to_string(&curves)?)?;
        probe.plot(&curves_file, &out.join("latency.svg"))
    }

    fn markdown(&self) -> String {
        let mut md = String::new();
        let machine = &self.machine;
        let settings = &self.settings;
        md += "# order-system benchmark\n\n";
        md += &format!(
            "Machine: {} CPUs ({}), {} memory, {}. Runtime: {}. Load: {} at {} connections, {} s per measurement.\n\n",
            machine.cpus,
            machine.cpu_model,
            machine.memory,
            machine.os,
            settings.runtime,
            settings.load_generator,
            settings.connections,
            settings.duration_s
        );
        md += "## Targets\n\n| target | goal | measured | verdict |\n|---|---|---|---|\n";
        for target in self.targets() {
            let measured = target.measured.map_or_else(
                || "–".to_string(),
                |value| format!("{value:.2} {}", target.unit),
            );
            md += &format!(
                "| {} | {} | {measured} | {} |\n",
                target.name,
                target.goal_text(),
                target.verdict
            );
        }
        md += "\n## HTTP at full load\n\n| request | req/s | p50 ms | p90 ms | p99 ms |\n|---|---:|---:|---:|---:|\n";
        let http = [
            ("hello world (baseline)", self.http.hello.as_ref()),
            ("POST /order", Some(&self.http.post_order)),
            ("GET /order/{id}", Some(&self.http.get_order)),
        ];
        for (name, figures) in http {
            if let Some(f) = figures {
                md += &format!(
                    "| {name} | {:.0} | {:.2} | {:.2} | {:.2} |\n",
                    f.requests_per_second, f.p50_ms, f.p90_ms, f.p99_ms
                );
            }
        }
        let ratios = self.ratios();
        let ratio =
            |value: Option<f64>| value.map_or_else(|| "–".to_string(), |v| format!("{v:.2}×"));
        md += &format!(
            "\nRatios: POST /order ÷ hello world {}, GET /order/{{id}} ÷ hello world {}, POST /order ÷ Redis SET+PUBLISH ceiling {}.\n",
            ratio(ratios.post_vs_hello),
            ratio(ratios.get_vs_hello),
            ratio(ratios.post_vs_redis_pair)
        );
        if let Some(redis) = &self.redis_benchmark {
            md += &format!(
                "\nredis-benchmark (same connections): SET {:.0}/s, PUBLISH {:.0}/s, so at most {:.0} SET+PUBLISH pairs/s.\n",
                redis.set_per_second, redis.publish_per_second, redis.pair_per_second
            );
        }
        let e2e = &self.end_to_end;
        md += &format!(
            "\n## POST→fulfilled\n\nAt {:.0} orders/s offered (half the maximum POST rate: oha asked for {:.0}/s of them and got {:.0}/s), {} of {} orders timed by {} at {:.0}/s",
            e2e.offered_rate_per_s,
            e2e.offered_rate_per_s - e2e.rate_per_s,
            e2e.background_achieved_rate_per_s,
            e2e.sent - e2e.lost,
            e2e.sent,
            e2e.method,
            e2e.rate_per_s
        );
        match &e2e.latency {
            Some(l) => {
                md += &format!(
                    ": p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms.\n",
                    l.p50_ms, l.p90_ms, l.p99_ms, l.max_ms
                )
            }
            None => md += ".\n",
        }
        md += "\n## Sizes and times\n\n| what | figure |\n|---|---:|\n";
        for (component, bytes) in &self.sizes.wasm {
            md += &format!("| {component}.wasm | {bytes} bytes |\n");
        }
        md += &format!(
            "| both apps' wasm | {} bytes ({:.2} MiB) |\n| hello-world wasm (baseline) | {} bytes |\n",
            self.sizes.apps_wasm_total,
            self.sizes.apps_wasm_total as f64 / MIB,
            self.sizes.hello_wasm
        );
        for (app, bytes) in &self.publish.artifact_bytes {
            md += &format!("| {app} artifact (config + layers) | {bytes} bytes |\n");
        }
        if let Some(cold) = &self.cold_start {
            md += &format!(
                "| cold start (process start to first 2xx; components from the compilation cache) | {:.0} ms |\n| first start (compiling the components, `--disable-cache`) | {:.0} ms |\n",
                cold.cached_ms, cold.compiling_ms
            );
        }
        md += &format!(
            "| first `cargo xtask publish` (local registry) | {:.2} s |\n| unchanged `cargo xtask publish` | {:.2} s |\n",
            self.publish.first_s, self.publish.unchanged_s
        );
        if let Some(fulfilment) = &self.fulfilment {
            md += &fulfilment.markdown();
        }
        md += "\nThe latency distribution is plotted in latency.svg.\n";
        if let Some(nano) = &self.nano_services {
            md += &nano.markdown();
        }
        md
    }
}

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
    }
    .run()
    .context("the benchmark's smoke run failed")?;
    let out = project::root().join(out);
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out.join("report.json"))?)?;
    let targets = report["targets"]
        .as_array()
        .context("report.json has no targets")?;
    // Six against same-run baselines, and (a local run measures both placements) the two
    // nano-services ratios.
    ensure!(
        targets.len() == 8 && targets.iter().all(|target| target["measured"].is_f64()),
        "report.json lacks a measured target: {targets:?}"
    );
    ensure!(
        report["nano_services"].is_object(),
        "report.json lacks the nano-services placements"
    );
    let svg = std::fs::read_to_string(out.join("latency.svg"))?;
    ensure!(
        svg.contains("POST→fulfilled"),
        "latency.svg lacks the end-to-end curve"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OHA_JSON: &str = r#"{
        "summary": {"successRate": 1.0, "total": 1.0, "requestsPerSec": 1234.5},
        "latencyPercentiles": {"p10": 0.0005, "p25": 0.0006, "p50": 0.0008, "p75": 0.001,
            "p90": 0.0012, "p95": 0.0015, "p99": 0.003, "p99.9": 0.006, "p99.99": 0.009},
        "statusCodeDistribution": {"202": 1234},
        "errorDistribution": {}
    }"#;

    #[test]
    fn reads_oha_json() {
        let figures = Figures::from_oha("POST", OHA_JSON, 202).unwrap();
        assert_eq!(figures.requests, 1234);
        assert_eq!(figures.requests_per_second, 1234.5);
        assert_eq!(
            (figures.p50_ms, figures.p90_ms, figures.p99_ms),
            (0.8, 1.2, 3.0)
        );
        assert_eq!(figures.curve.len(), 9);
        assert_eq!(figures.curve[0], (10.0, 0.5));
        assert_eq!(figures.curve[8].0, 99.99);
    }

    #[test]
    fn oha_answers_with_other_statuses_or_errors_fail() {
        let error = Figures::from_oha("GET", OHA_JSON, 200).unwrap_err();
        assert!(
            error.to_string().contains("1234 answers were 202, not 200"),
            "{error}"
        );
        let refused = OHA_JSON.replace(
            r#""errorDistribution": {}"#,
            r#""errorDistribution": {"connection refused": 3}"#,
        );
        let error = Figures::from_oha("POST", &refused, 202).unwrap_err();
        assert!(error.to_string().contains("connection refused"), "{error}");
        let error = Figures::from_oha("POST", "oha: error", 202).unwrap_err();
        assert!(error.to_string().contains("no JSON summary"), "{error}");
    }

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

    #[test]
    fn verdicts_say_by_how_much() {
        let pass = Target::new("ratio", Goal::AtLeast(0.7), "×", Some(0.84));
        assert_eq!(
            (pass.pass, pass.verdict.as_str()),
            (Some(true), "pass, 20% above")
        );
        let miss = Target::new("ratio", Goal::AtLeast(0.8), "×", Some(0.6));
        assert_eq!(
            (miss.pass, miss.verdict.as_str()),
            (Some(false), "MISS by 25%")
        );
        let slow = Target::new("p99", Goal::Below(10.0), "ms", Some(15.0));
        assert_eq!(slow.verdict, "MISS by 50% (5.00 ms over)");
        let fast = Target::new("p99", Goal::Below(10.0), "ms", Some(2.5));
        assert_eq!(fast.verdict, "pass, 75% below");
        let third = Target::new("p99 ratio", Goal::Below(1.0 / 3.0), "×", Some(0.3));
        assert_eq!(third.goal_text(), "< 0.33 ×");
        assert_eq!(
            Target::new("x", Goal::AtLeast(1.5), "×", None).goal_text(),
            "≥ 1.5 ×"
        );
        assert_eq!(
            Target::new("x", Goal::Below(100.0), "ms", None).goal_text(),
            "< 100 ms"
        );
        let unmeasured = Target::new("cold start", Goal::Below(100.0), "ms", None);
        assert_eq!(
            (unmeasured.pass, unmeasured.verdict.as_str()),
            (None, "not measured")
        );
    }

    fn sample_report() -> Report {
        let figures = |rps: f64| Figures {
            requests: 100,
            requests_per_second: rps,
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms: 3.0,
            curve: vec![(50.0, 1.0), (99.0, 3.0)],
        };
        Report {
            machine: Machine::describe(),
            settings: Settings {
                runtime: "embedded (spin-local)".into(),
                duration_s: 1.0,
                connections: 2,
                load_generator: format!("oha {OHA_VERSION}"),
            },
            http: HttpFigures {
                hello: Some(figures(1000.0)),
                post_order: figures(750.0),
                get_order: figures(780.0),
            },
            redis_benchmark: Some(RedisCeiling {
                set_per_second: 50_000.0,
                publish_per_second: 50_000.0,
                pair_per_second: 25_000.0,
            }),
            end_to_end: EndToEnd {
                method: "redis keyspace notifications".into(),
                offered_rate_per_s: 375.0,
                background_achieved_rate_per_s: 325.0,
                rate_per_s: 50.0,
                sent: 50,
                lost: 0,
                latency: Some(ProbeLatency {
                    count: 50,
                    p50_ms: 2.0,
                    p90_ms: 3.0,
                    p99_ms: 12.0,
                    max_ms: 13.0,
                    curve: vec![(50.0, 2.0), (99.0, 12.0)],
                }),
            },
            cold_start: Some(ColdStart {
                cached_ms: 80.0,
                compiling_ms: 900.0,
            }),
            sizes: Sizes {
                wasm: vec![("receiver".into(), 400_000), ("fulfiller".into(), 300_000)],
                apps_wasm_total: 700_000,
                hello_wasm: 100_000,
            },
            publish: PublishTimes {
                first_s: 3.0,
                unchanged_s: 1.0,
                unchanged_blobs_pushed: 0,
                artifact_bytes: vec![("order-processor".into(), 500_000)],
            },
            fulfilment: None,
            nano_services: None,
        }
    }

    #[test]
    fn ratios_and_targets_come_from_the_figures() {
        let report = sample_report();
        report.check_sane().unwrap();
        let ratios = report.ratios();
        assert_eq!(ratios.post_vs_hello, Some(0.75));
        assert_eq!(ratios.get_vs_hello, Some(0.78));
        assert_eq!(ratios.post_vs_redis_pair, Some(0.03));
        let verdicts: Vec<_> = report.targets().into_iter().map(|t| t.pass).collect();
        assert_eq!(
            verdicts,
            [
                Some(true),
                Some(false),
                Some(false),
                Some(true),
                Some(true),
                Some(true)
            ]
        );
        let markdown = report.markdown();
        assert!(
            markdown.contains(
                "| GET /order/{id} req/s vs hello world | ≥ 0.8 × | 0.78 × | MISS by 3% |"
            ),
            "{markdown}"
        );
        assert!(markdown.contains("p99 12.00 ms"), "{markdown}");
    }

    #[test]
    fn nano_services_targets_compare_composed_with_message() {
        let mut report = sample_report();
        let message = nano::PlacementFigures {
            post_order: report.http.post_order.clone(),
            end_to_end: report.end_to_end.clone(),
        };
        let mut composed = message.clone();
        composed.post_order.requests_per_second *= 2.0;
        if let Some(latency) = composed.end_to_end.latency.as_mut() {
            latency.p99_ms /= 2.0;
        }
        report.nano_services = Some(nano::NanoServices {
            message,
            composed,
            artifact_wasm_bytes: vec![("order-processor".into(), 600_000)],
            composed_cold_start_ms: Some(70.0),
        });
        let nano: Vec<_> = report.targets().into_iter().skip(6).collect();
        let verdicts: Vec<_> = nano.iter().map(|t| (t.name, t.measured, t.pass)).collect();
        assert_eq!(
            verdicts,
            [
                (
                    "composed vs message: POST /order req/s",
                    Some(2.0),
                    Some(true)
                ),
                (
                    "composed vs message: POST→fulfilled p99 at half load",
                    Some(0.5),
                    Some(false)
                ),
            ]
        );
        let markdown = report.markdown();
        assert!(markdown.contains("## Nano-services"), "{markdown}");
        assert!(
            markdown.contains("Cold start of the composed order-processor: 70.0 ms"),
            "{markdown}"
        );
    }

    #[test]
    fn insane_figures_fail_the_run() {
        let mut lost = sample_report();
        lost.end_to_end.lost = 2;
        assert!(
            lost.check_sane()
                .unwrap_err()
                .to_string()
                .contains("never fulfilled")
        );
        let mut disordered = sample_report();
        disordered.http.get_order.p90_ms = 9.0;
        assert!(
            disordered
                .check_sane()
                .unwrap_err()
                .to_string()
                .contains("out of order")
        );
        let mut idle = sample_report();
        idle.http.post_order.requests_per_second = 0.0;
        assert!(
            idle.check_sane()
                .unwrap_err()
                .to_string()
                .contains("not a positive figure")
        );
        let mut republished = sample_report();
        republished.publish.unchanged_blobs_pushed = 1;
        assert!(
            republished
                .check_sane()
                .unwrap_err()
                .to_string()
                .contains("uploaded 1 blobs")
        );
    }
}
