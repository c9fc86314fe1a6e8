//! The local system that `cargo xtask up`, the tests and the benchmarks run: [`start_local`]
//! builds the components, starts Redis (unless one is named), runs each app in a supervised
//! process of its own (a Redis-triggered app once per fulfilment shard), waits until the order
//! API listens and every trigger has subscribed, then starts the reconciler and, when asked,
//! redis_exporter (super::metrics). The [`LocalSystem`] it returns stops all of it on drop.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use dev_services::{Reconciler, ReconcilerOptions, RedisServer};

use super::app_variables::AppVariables;
use super::metrics::MetricsExporter;
use super::redis_location::RedisLocation;
use super::runtime::{AppRuntime, runtime_command, spin_cli, start};
use super::supervise::{self, BackOff, Supervised};
use crate::project::{self, App};
use crate::{build, provision};

/// What [`start_local`] runs.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Where the order API listens; a free loopback port when `None`.
    pub listen: Option<SocketAddr>,
    /// An existing Redis to use; a new `redis-server` when `None`.
    pub redis_url: Option<String>,
    pub runtime: AppRuntime,
    /// Application variables for both apps (`--variable NAME=VALUE`); `SPIN_VARIABLE_*` and
    /// `.env` come from the process, as for the runtime.
    pub variables: Vec<(String, String)>,
    /// Fulfilment shards (0 or 1: one fulfilment-processor on the plain channel).
    pub shards: u32,
    /// Append the apps' output (a line per request) to this file instead of the terminal.
    pub log: Option<std::path::PathBuf>,
    /// The delays before an app that exited is started again.
    pub back_off: BackOff,
    /// An OTLP/HTTP endpoint every app exports its traces to.
    pub otel: Option<String>,
    /// Run redis_exporter with the chart's `files/metrics.lua` against the system's Redis, on a
    /// free loopback port (`cargo xtask up --metrics`).
    pub metrics: bool,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            listen: None,
            redis_url: None,
            runtime: AppRuntime::default(),
            variables: Vec::new(),
            shards: 1,
            log: None,
            back_off: BackOff::scaled(Duration::from_secs(1)),
            otel: None,
            metrics: false,
        }
    }
}

/// The running system; dropping it stops the apps and the Redis it started.
pub struct LocalSystem {
    /// One per app, as one pod per app.
    processes: Vec<Supervised>,
    /// Stops before the Redis it talks to.
    reconciler: Option<Reconciler>,
    /// Held only so that dropping the system stops the redis-server it started.
    _redis: Option<RedisServer>,
    base_url: String,
    redis_url: String,
    apps: Vec<App>,
    listen: SocketAddr,
    /// Each app's variables with their values, as its runtime resolves them.
    app_values: Vec<HashMap<String, String>>,
    /// Each runtime process: its name, app and variables (a fulfilment shard's differ).
    launches: Vec<Launch>,
    /// redis_exporter, with `metrics`.
    metrics: Option<MetricsExporter>,
}

/// One runtime process of [`start_local`]: one app, as a pod, with its variables.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Launch {
    name: String,
    /// Index into the system's apps.
    app: usize,
    serves_http: bool,
    variables: Vec<(String, String)>,
}

/// The processes that run `apps`, one per app as a pod, on either runtime; with more than one
/// shard, each Redis-triggered app runs once per shard, its `order_channel` the shard's channel,
/// as the chart's one fulfilment-processor per shard. Every process gets `order_shards` then.
fn launches(
    apps: &[App],
    runtime: AppRuntime,
    shards: u32,
    channel: &str,
    variables: &[(String, String)],
) -> Vec<Launch> {
    let mut common = variables.to_vec();
    if shards > 1 {
        common.push(("order_shards".to_string(), shards.to_string()));
    }
    let prefix = match runtime {
        AppRuntime::Local => "spin-local",
        AppRuntime::Spin => "spin up",
    };
    let mut out = Vec::new();
    for (i, app) in apps.iter().enumerate() {
        let launch = |name: String, variables: Vec<(String, String)>| Launch {
            name,
            app: i,
            serves_http: app.serves_http,
            variables,
        };
        if app.serves_http || shards == 1 {
            out.push(launch(format!("{prefix} ({})", app.name), common.clone()));
            continue;
        }
        for shard in 0..shards {
            let mut variables = common.clone();
            variables.push((
                "order_channel".to_string(),
                order_model::shard::shard_channel(channel, shard, shards),
            ));
            out.push(launch(
                format!("{prefix} ({} shard {shard})", app.name),
                variables,
            ));
        }
    }
    out
}

/// How long the apps may take to listen and subscribe after they are started.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the local reconciler runs, and how old an unfulfilled order must be to be
/// re-published (the chart's CronJob: every minute, 30 s).
pub(super) const RECONCILE_EVERY: Duration = Duration::from_secs(5);
pub(super) const RECONCILE_MIN_AGE: Duration = Duration::from_secs(5);

/// Builds the components and starts Redis (unless given) and both apps, and returns once the
/// order API accepts connections and every Redis trigger has subscribed.
pub fn start_local(options: &LocalOptions) -> Result<LocalSystem> {
    let apps = project::apps()?;
    let variables = AppVariables::from_process(&options.variables)?;
    let settings = variables.settings(&apps)?;
    let given_redis = given_redis_variables(&variables)?;
    let redis_url = match (&options.redis_url, given_redis.is_empty()) {
        (Some(url), true) => {
            RedisLocation::parse(url)?;
            Some(url.clone())
        }
        (Some(_), false) => bail!(
            "--redis-url and the variable(s) {given_redis:?} both say where Redis is: give one"
        ),
        // The apps will use the Redis their variables name: so does everything else here.
        (None, false) => Some(settings.redis_address()),
        (None, true) => None,
    };
    if options.runtime == AppRuntime::Spin {
        spin_cli()?;
    }
    let listen = match options.listen {
        Some(listen) => listen,
        None => SocketAddr::from(([127, 0, 0, 1], dev_services::free_port()?)),
    };
    ensure_free(listen)?;
    provision::debian_packages(&[("redis-cli", "redis-tools")])?;
    if options.metrics {
        provision::debian_packages(&[(
            dev_services::EXPORTER_PROGRAM,
            dev_services::EXPORTER_PACKAGE,
        )])?;
    }
    // A Redis it did not start may evict keys, which loses accepted orders: refuse it before
    // anything is built or started (the apps' scripts refuse to write to it too).
    if let Some(url) = &redis_url {
        RedisLocation::parse(url)?.check_never_evicts()?;
    }
    build::build_components()?;
    if options.runtime == AppRuntime::Local {
        project::cargo_command(["build", "--locked", "--package", "spin-local"])
            .run()
            .context("building the embedded runtime (xtask/spin-local)")?;
    }
    let (redis, redis_url) = match redis_url {
        Some(url) => (None, url),
        None => {
            provision::debian_packages(&[("redis-server", "redis-server")])?;
            let server = RedisServer::start().context("starting redis-server")?;
            let url = server.url();
            (Some(server), url)
        }
    };
    // `--shards` or, as the apps read it, the `order_shards` variable.
    let shards = if options.shards > 1 {
        options.shards
    } else {
        settings.shards
    };
    let mut system = LocalSystem {
        processes: Vec::new(),
        reconciler: None,
        _redis: redis,
        base_url: format!("http://{listen}"),
        redis_url,
        app_values: apps
            .iter()
            .map(|app| variables.app_values(app))
            .collect::<Result<_>>()?,
        launches: launches(
            &apps,
            options.runtime,
            shards,
            &settings.channel,
            &options.variables,
        ),
        apps,
        listen,
        metrics: None,
    };
    for launch in system.launches.clone() {
        let app = &system.apps[launch.app];
        let mut command = runtime_command(
            options.runtime,
            &[app],
            launch.serves_http.then_some(listen),
            Some(&system.redis_url),
            &launch.variables,
        )?;
        command
            .environment
            .extend(otel_environment(options.otel.as_deref(), &app.name));
        let (name, log) = (launch.name.clone(), options.log.clone());
        let starter = Box::new(move || start(&command, &name, log.as_deref()));
        system
            .processes
            .push(Supervised::start(&launch.name, starter, options.back_off)?);
    }
    system.wait_until_ready()?;
    let location = RedisLocation::parse(&system.redis_url)?;
    let reconciler = ReconcilerOptions {
        host: location.host.clone(),
        port: location.port,
        user: location.user_name(),
        password: location.auth(),
        tls: location.scheme == "rediss",
        channel: settings.channel.clone(),
        key_prefix: settings.keys.prefix().to_string(),
        min_age: RECONCILE_MIN_AGE,
        batch: 500,
        shards,
    };
    system.reconciler = Some(Reconciler::start(reconciler, RECONCILE_EVERY)?);
    if options.metrics {
        let exporter = MetricsExporter::start(
            &system.redis_url,
            settings.keys.prefix(),
            &settings.channel,
            shards,
            options.log.clone(),
            options.back_off,
            &|| system.check_started(),
        )?;
        system.metrics = Some(exporter);
    }
    Ok(system)
}

/// The standard OpenTelemetry environment for an app exporting to `endpoint`, named as the
/// chart names it; nothing without an endpoint.
fn otel_environment(endpoint: Option<&str>, app: &str) -> Vec<(&'static str, String)> {
    match endpoint {
        Some(endpoint) => vec![
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.to_string()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string()),
            ("OTEL_SERVICE_NAME", app.to_string()),
        ],
        None => Vec::new(),
    }
}

/// The `redis_*` variables given by a flag or the environment: they name an existing Redis.
fn given_redis_variables(variables: &AppVariables) -> Result<Vec<&'static str>> {
    use order_model::config::vars;
    let mut given = Vec::new();
    for name in [
        vars::REDIS_SCHEME,
        vars::REDIS_HOST,
        vars::REDIS_PORT,
        vars::REDIS_USER,
        vars::REDIS_PASSWORD,
    ] {
        if variables.given(name)?.is_some() {
            given.push(name);
        }
    }
    Ok(given)
}

fn ensure_free(listen: SocketAddr) -> Result<()> {
    match TcpListener::bind(listen) {
        Ok(_) => Ok(()),
        Err(error) if error.kind() == std::io::ErrorKind::AddrInUse => bail!(
            "{listen} is already in use: stop what listens there, or choose another address with --listen"
        ),
        Err(error) => Err(error).with_context(|| format!("checking that {listen} is free")),
    }
}

impl LocalSystem {
    /// The order API, e.g. `http://127.0.0.1:3000`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The Redis the apps use.
    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// redis_exporter's `/metrics`, with `metrics`.
    pub fn metrics_url(&self) -> Option<String> {
        self.metrics.as_ref().map(MetricsExporter::url)
    }

    /// An error if an app process has exited before the system was up: at start, that is a
    /// mistake to report rather than a crash loop to wait out.
    fn check_started(&self) -> Result<()> {
        for process in &self.processes {
            ensure!(
                process.exits() == 0,
                "{} exited while starting (its output above says why)",
                process.name()
            );
        }
        Ok(())
    }

    /// Waits until the order API accepts connections and every Redis trigger is subscribed.
    fn wait_until_ready(&self) -> Result<()> {
        let listen = self.listen;
        let deadline = Instant::now() + READY_TIMEOUT;
        let wait = |what: &str, ready: &dyn Fn() -> Result<bool, String>| -> Result<()> {
            loop {
                self.check_started()?;
                let why_not = match ready() {
                    Ok(true) => return Ok(()),
                    Ok(false) => String::new(),
                    // Waiting will not change an ACL.
                    Err(why) if why.contains("NOPERM") => bail!(
                        "cannot wait for the apps' Redis subscriptions: the Redis user may not \
                         run PUBSUB NUMSUB ({}). `cargo xtask up` runs both apps, this readiness \
                         wait and the reconciler as the one user of --redis-url (or \
                         `redis_user`), so that user needs what every role does (README, \
                         Configuration); the chart gives each app a user of its own",
                        why.trim()
                    ),
                    Err(why) => format!(": {why}"),
                };
                ensure!(
                    Instant::now() < deadline,
                    "{what} within {READY_TIMEOUT:?}{why_not}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        };
        wait(
            &format!("the order API did not listen on {listen}"),
            &|| Ok(TcpStream::connect_timeout(&listen, Duration::from_millis(200)).is_ok()),
        )?;
        for launch in &self.launches {
            let app = &self.apps[launch.app];
            let mut values = self.app_values[launch.app].clone();
            values.extend(launch.variables.iter().cloned());
            for template in &app.redis_channels {
                let channel = spin_manifest::Template::parse(template)
                    .and_then(|template| template.resolve(&values))
                    .with_context(|| format!("the Redis trigger channel of {}", app.name))?;
                wait(
                    &format!("{} did not subscribe to {channel:?}", app.name),
                    &|| self.subscribers(&channel).map(|count| count > 0),
                )?;
            }
        }
        Ok(())
    }

    /// How many clients are subscribed to `channel`, by `redis-cli PUBSUB NUMSUB` as the apps'
    /// Redis user.
    fn subscribers(&self, channel: &str) -> Result<u64, String> {
        let location = RedisLocation::parse(&self.redis_url).map_err(|error| error.to_string())?;
        let reply = location
            .redis_cli(&["PUBSUB", "NUMSUB", channel])
            .read()
            .map_err(|error| error.to_string())?;
        reply
            .lines()
            .last()
            .and_then(|count| count.trim().parse().ok())
            .ok_or_else(|| format!("redis-cli answered {reply:?}"))
    }
}

impl Drop for LocalSystem {
    /// SIGTERM to each app process (so it stops cleanly), SIGKILL after 10 s; then the
    /// reconciler and the redis-server are stopped by their own drops.
    fn drop(&mut self) {
        supervise::stop_all(&mut self.processes);
        // Before the Redis it reads.
        drop(self.metrics.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::up::parse_otlp_endpoint;

    #[test]
    fn shards_run_one_fulfilment_process_per_shard_channel() {
        let apps = project::apps().unwrap();
        let given = [("key_prefix".to_string(), "shop1:".to_string())];
        let one = launches(&apps, AppRuntime::Local, 1, "neworders", &given);
        assert_eq!(one.len(), apps.len(), "each app in a process of its own");
        for launch in &one {
            assert_eq!(launch.variables, given);
        }

        for runtime in [AppRuntime::Local, AppRuntime::Spin] {
            let three = launches(&apps, runtime, 3, "neworders", &given);
            let http: Vec<&Launch> = three.iter().filter(|l| l.serves_http).collect();
            assert_eq!(http.len(), 1, "{runtime:?}: order-processor runs once");
            let shards: Vec<&Launch> = three.iter().filter(|l| !l.serves_http).collect();
            let channels: Vec<&str> = shards
                .iter()
                .map(|l| {
                    assert_eq!(apps[l.app].name, "fulfilment-processor");
                    let (_, channel) = l
                        .variables
                        .iter()
                        .rfind(|(n, _)| n == "order_channel")
                        .unwrap();
                    channel.as_str()
                })
                .collect();
            assert_eq!(channels, ["neworders.0", "neworders.1", "neworders.2"]);
            for launch in &three {
                assert!(
                    launch
                        .variables
                        .contains(&("order_shards".to_string(), "3".to_string()))
                );
                assert!(launch.variables.contains(&given[0]));
            }
        }
    }

    #[test]
    fn otel_sets_the_standard_environment_of_each_app_and_only_then() {
        for good in ["http://127.0.0.1:4318", "https://collector.example:4318/"] {
            assert_eq!(parse_otlp_endpoint(good).unwrap(), good);
        }
        for bad in ["127.0.0.1:4318", "grpc://x:4317", "http://", "ftp://x", ""] {
            let error = parse_otlp_endpoint(bad).unwrap_err().to_string();
            assert!(error.contains("OTLP/HTTP endpoint"), "{bad}: {error}");
        }
        assert_eq!(
            otel_environment(Some("http://127.0.0.1:4318"), "order-processor"),
            [
                (
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    "http://127.0.0.1:4318".to_string()
                ),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf".to_string()),
                ("OTEL_SERVICE_NAME", "order-processor".to_string()),
            ]
        );
        assert!(otel_environment(None, "order-processor").is_empty());
    }

    #[test]
    fn a_redis_url_and_redis_variables_are_one_too_many() {
        let error = start_local(&LocalOptions {
            redis_url: Some("redis://127.0.0.1:6390".to_string()),
            variables: vec![("redis_port".to_string(), "6391".to_string())],
            ..LocalOptions::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("--redis-url") && error.contains("redis_port"),
            "{error}"
        );
    }

    #[test]
    fn a_redis_user_variable_names_a_redis_too() {
        let error = start_local(&LocalOptions {
            redis_url: Some("redis://127.0.0.1:6390".to_string()),
            variables: vec![("redis_user".to_string(), "order-processor".to_string())],
            ..LocalOptions::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("--redis-url") && error.contains("redis_user"),
            "{error}"
        );
    }

    #[test]
    fn a_redis_url_with_a_raw_password_is_refused_before_anything_starts() {
        let error = start_local(&LocalOptions {
            redis_url: Some("redis://:Ab1/cD+e=@127.0.0.1:6390".to_string()),
            ..LocalOptions::default()
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("redis://:Ab1%2FcD%2Be%3D@127.0.0.1:6390"),
            "{error}"
        );
    }

    #[test]
    fn a_taken_address_is_refused() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = taken.local_addr().unwrap();
        let error = ensure_free(address).unwrap_err().to_string();
        assert!(
            error.contains("already in use") && error.contains("--listen"),
            "{error}"
        );
        drop(taken);
        ensure_free(address).unwrap();
    }
}
