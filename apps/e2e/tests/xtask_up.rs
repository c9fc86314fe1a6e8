//! `cargo xtask up`, which runs the apps on this runtime: it prints the API's address, the
//! system serves orders, and Ctrl-C (SIGINT) stops the runtime and the redis-server it started
//! (but not a Redis it was given). It runs as the Redis user a URL or `redis_user` names, and
//! refuses, before it starts anything, a Redis whose maxmemory-policy may evict keys. Here rather
//! than in xtask's own tests, which must not build wasmtime.

#![allow(clippy::unwrap_used)]

mod redis_acl;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use dev_services::{OtlpReceiver, RedisOptions, RedisServer};
use order_e2e::harness;
use order_e2e::harness::{connection, eventually, request, wasm_dir};

fn listens(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// `cargo xtask up --runtime local`: where a Spin CLI is installed, `up` would choose it.
fn up_on_this_runtime(port: u16) -> Command {
    let mut command = order_e2e::xtask_up(port);
    command.args(["--runtime", "local"]);
    command
}

/// Runs `cargo xtask up` with `arguments` and `environment` until the system is up, orders one
/// pizza, interrupts it and checks it stopped cleanly; returns the Redis port it announced.
fn up_order_and_interrupt(arguments: &[&str], environment: &[(&str, &str)]) -> u16 {
    up_order_check_and_interrupt(arguments, environment, |_, _| {})
}

/// [`up_order_and_interrupt`], running `while_up` with the announced Redis port and, with
/// `--metrics`, the announced metrics address, once the order is fulfilled.
fn up_order_check_and_interrupt(
    arguments: &[&str],
    environment: &[(&str, &str)],
    while_up: impl FnOnce(u16, Option<SocketAddr>),
) -> u16 {
    wasm_dir();
    let port = dev_services::free_port().unwrap();
    let mut xtask = up_on_this_runtime(port)
        .args(arguments)
        .envs(environment.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(xtask.stdout.take().unwrap()).lines();
    let up = loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("`cargo xtask up` ended before the system was up"))
            .unwrap();
        if line.starts_with("order-system is up") {
            break line;
        }
    };
    let api: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    assert!(
        up.contains(&format!("the order API is at http://{api}")),
        "{up}"
    );
    // `Redis at redis://[user@]127.0.0.1:<port>)`
    let redis_port: u16 = up
        .rsplit_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no Redis address in {up:?}"));
    // `Metrics: redis_exporter serves … at http://127.0.0.1:<port>/metrics (…`, after the apps'
    // first log lines maybe.
    let metrics: Option<SocketAddr> = arguments.contains(&"--metrics").then(|| {
        let line = lines
            .by_ref()
            .map(Result::unwrap)
            .find(|line| line.starts_with("Metrics:"))
            .unwrap_or_else(|| panic!("`cargo xtask up --metrics` printed no Metrics line"));
        line.split_once("http://")
            .and_then(|(_, rest)| rest.split_once("/metrics"))
            .and_then(|(address, _)| address.parse().ok())
            .unwrap_or_else(|| panic!("no metrics address in {line:?}"))
    });

    let reply = request(
        api,
        "POST",
        "/order",
        &[("content-type", "application/json")],
        br#"{"details":"via cargo xtask up"}"#,
    );
    assert_eq!(reply.status, 202, "{reply:?}");
    let location = reply.header("location").unwrap().to_string();
    eventually("the order to be fulfilled", Duration::from_secs(30), || {
        let reply = request(api, "GET", &location, &[], b"");
        reply.body.contains(r#""status":"fulfilled""#).then_some(())
    });
    while_up(redis_port, metrics);

    let interrupted = Command::new("kill")
        .args(["-INT", &xtask.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let rest: Vec<String> = lines.map(Result::unwrap).collect();
    let status = xtask.wait().unwrap();
    assert!(status.success(), "{status}; output after start: {rest:?}");
    assert!(rest.iter().any(|line| line == "Stopped."), "{rest:?}");
    assert!(!listens(port), "the API still listens on {port}");
    if let Some(metrics) = metrics {
        assert!(!listens(metrics.port()), "the exporter still listens");
    }
    redis_port
}

/// `INFO memory`'s `maxmemory_policy` of the Redis on `port` (no password).
fn policy_of(port: u16) -> String {
    let output = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "INFO", "memory"])
        .env_remove("REDISCLI_AUTH")
        .output()
        .unwrap();
    let info = String::from_utf8(output.stdout).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .unwrap_or_else(|| panic!("no maxmemory_policy in {info:?}"))
        .trim()
        .to_string()
}

/// The redis-server it starts never evicts an order: `--maxmemory-policy noeviction`.
#[test]
fn starts_its_own_redis_and_stops_it_on_ctrl_c() {
    let redis_port = up_order_check_and_interrupt(&[], &[], |redis_port, _| {
        assert_eq!(policy_of(redis_port), "noeviction");
    });
    assert!(!listens(redis_port), "its redis-server still runs");
}

/// Runs `cargo xtask up` with `arguments` and `environment`, expecting it to fail before the
/// system is up; returns what it wrote to its error output.
fn up_fails(arguments: &[&str], environment: &[(&str, &str)]) -> String {
    let port = dev_services::free_port().unwrap();
    let Output {
        status,
        stdout,
        stderr,
    } = up_on_this_runtime(port)
        .args(arguments)
        .envs(environment.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr),
    );
    assert!(!status.success(), "{status}: {stdout}\n{stderr}");
    assert!(!stdout.contains("order-system is up"), "{stdout}");
    assert!(!listens(port), "the API listens on {port}");
    stderr.into_owned()
}

/// A Redis whose maxmemory-policy may evict (a managed service's `volatile-lru` default, a
/// cache's `allkeys-lru`) would lose accepted orders: `up` reads the policy from `INFO memory`
/// and refuses it, named by `--redis-url` or by the `redis_*` variables alike, saying how to fix
/// it; and says so when it cannot read INFO.
#[test]
fn refuses_a_given_redis_that_may_evict() {
    let (redis, mut db) = redis_acl::redis_with_admin("evicting");
    for policy in ["allkeys-lru", "volatile-lru"] {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg("maxmemory-policy")
            .arg(policy)
            .query(&mut db)
            .unwrap();
        let port = redis.port().to_string();
        for (arguments, environment) in [
            (vec!["--redis-url", &redis.url()], vec![]),
            (
                vec!["--variable", "redis_password=evicting"],
                vec![("SPIN_VARIABLE_REDIS_PORT", port.as_str())],
            ),
        ] {
            let error = up_fails(&arguments, &environment);
            for expected in [
                format!("maxmemory-policy `{policy}`"),
                "needs `noeviction`".to_string(),
                "CONFIG SET maxmemory-policy noeviction".to_string(),
                "parameter group".to_string(),
            ] {
                assert!(error.contains(&expected), "{expected:?} not in {error}");
            }
        }
    }
    // A user that may not run INFO: the policy cannot be read, and `up` says so.
    redis_acl::create_user(
        &mut db,
        "no-info",
        &["~*", "&*", "+@all", "-info"].map(String::from),
        "pw",
    );
    let url = format!("redis://no-info:pw@127.0.0.1:{}", redis.port());
    let error = up_fails(&["--redis-url", &url], &[]);
    assert!(
        error.contains("could not read `maxmemory_policy` from `INFO memory`")
            && error.contains("NOPERM"),
        "{error}"
    );
}

/// A redis-server with a password for `default` (the admin) and the user `order-system`,
/// allowed what `up` runs as it: the chart's order-processor, fulfilment-processor and
/// reconciler roles together, and `PUBSUB NUMSUB` for its readiness wait.
fn redis_with_one_user_for_everything() -> RedisServer {
    let (redis, mut db) = redis_acl::redis_with_admin("admin-only");
    let mut rules = redis_acl::union(
        &["order-processor", "fulfilment-processor", "reconciler"],
        "order:",
        "neworders",
    );
    rules.push("+pubsub|numsub".to_string());
    redis_acl::create_user(&mut db, "order-system", &rules, "all/roles+1=");
    redis
}

/// `--redis-url redis://user:password@…`, or the `redis_user` and `redis_password` variables:
/// both apps, the readiness wait and the reconciler run as that one user (the chart gives each
/// app a user of its own), and Redis refuses none of what they do.
#[test]
fn runs_everything_as_the_given_redis_user() {
    let redis = redis_with_one_user_for_everything();
    // The password `all/roles+1=`, percent-encoded.
    let encoded = "all%2Froles%2B1%3D";
    let url = format!("redis://order-system:{encoded}@127.0.0.1:{}", redis.port());
    assert_eq!(
        up_order_and_interrupt(&["--redis-url", &url], &[]),
        redis.port()
    );
    let port = redis.port().to_string();
    let redis_port = up_order_and_interrupt(
        &[],
        &[
            ("SPIN_VARIABLE_REDIS_PORT", &port),
            ("SPIN_VARIABLE_REDIS_USER", "order-system"),
            ("SPIN_VARIABLE_REDIS_PASSWORD", encoded),
        ],
    );
    assert_eq!(redis_port, redis.port());
    let mut db = connection(&redis);
    assert_eq!(redis_acl::refusals(&mut db), Vec::<String>::new());
}

/// One role's user is not enough for `up`: as the order-processor user, the fulfilment-processor
/// cannot subscribe (so it exits at start) and the readiness wait may not ask who subscribed;
/// whichever `up` sees first, it stops with that error.
#[test]
fn one_roles_user_is_not_enough_for_up() {
    let (redis, mut db) = redis_acl::redis_with_admin("admin-only");
    let rules = redis_acl::rules("order-processor", "order:", "neworders");
    redis_acl::create_user(&mut db, "order-processor", &rules, "pw");
    wasm_dir();
    let url = format!("redis://order-processor:pw@127.0.0.1:{}", redis.port());
    let error = up_fails(&["--redis-url", &url], &[]);
    assert!(
        (error.contains("fulfilment-processor") && error.contains("exited while starting"))
            || error.contains("may not run PUBSUB NUMSUB"),
        "{error}"
    );
}

#[test]
fn uses_a_given_redis_and_leaves_it_running() {
    let redis = RedisServer::start().unwrap();
    let redis_port = up_order_and_interrupt(&["--redis-url", &redis.url()], &[]);
    assert_eq!(redis_port, redis.port());
    assert!(listens(redis.port()), "the given Redis was stopped");
}

/// A managed Redis' access key has `/`, `+` and `=`: given percent-encoded in the URL, as any
/// URL carries a password, the apps, the readiness wait and the reconciler all authenticate.
#[test]
fn uses_a_given_redis_whose_password_has_url_special_characters() {
    let redis = RedisServer::start_with(RedisOptions {
        password: Some("Ab1/cD+e=@:%#?& x".to_string()),
        ..RedisOptions::default()
    })
    .unwrap();
    let redis_port = up_order_and_interrupt(&["--redis-url", &redis.url()], &[]);
    assert_eq!(redis_port, redis.port());
}

/// The variables the README documents, set in the environment, reach the apps, the readiness
/// wait (which waits for the fulfiller on that channel) and the reconciler alike.
#[test]
fn variables_from_the_environment_reach_everything_it_starts() {
    let redis = RedisServer::start().unwrap();
    let redis_port = up_order_and_interrupt(
        &[],
        &[
            ("SPIN_VARIABLE_REDIS_PORT", &redis.port().to_string()),
            ("SPIN_VARIABLE_ORDER_CHANNEL", "orders-v2"),
            ("SPIN_VARIABLE_KEY_PREFIX", "shop2:"),
        ],
    );
    assert_eq!(redis_port, redis.port(), "the Redis the variables name");
    let mut connection = connection(&redis);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("shop2:*")
        .query(&mut connection)
        .unwrap();
    assert!(!keys.is_empty(), "no key under the given prefix");
}

/// `--otel URL` points both apps' OpenTelemetry export at a collector: the order's HTTP span
/// (service `order-processor`) and its message's span (service `fulfilment-processor`) arrive
/// there in one trace.
#[test]
fn otel_exports_both_apps_traces_to_the_given_collector() {
    let otlp = OtlpReceiver::start().unwrap();
    up_order_and_interrupt(
        &["--otel", &otlp.endpoint()],
        &[("OTEL_BSP_SCHEDULE_DELAY", "100")],
    );
    otlp.wait_for(
        "one trace over both apps",
        Duration::from_secs(30),
        |spans| {
            let server = spans
                .iter()
                .find(|s| s.name == "POST /order" && s.service == "order-processor")?;
            spans
                .iter()
                .find(|s| {
                    s.name == "neworders receive"
                        && s.service == "fulfilment-processor"
                        && s.trace_id == server.trace_id
                })
                .map(|_| ())
        },
    )
    .unwrap();
}

/// The figure of `key` in an exporter's raw `/metrics` page.
fn script_value(page: &str, key: &str) -> Option<f64> {
    let prefix = format!("redis_script_values{{key=\"{key}\"}} ");
    page.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

/// `--metrics` runs redis_exporter with the chart's metrics.lua filled with the run's prefix,
/// channel and shards, against the run's Redis: its page shows the order counted, the backlog
/// empty and every shard's subscriber; it stops with the rest. The README's quick-start command
/// greps that page.
#[test]
fn metrics_runs_the_exporter_with_the_runs_settings() {
    up_order_check_and_interrupt(
        &[
            "--metrics",
            "--shards",
            "2",
            "--variable",
            "key_prefix=shop4:",
        ],
        &[],
        |_, metrics| {
            let metrics = metrics.unwrap();
            let page = dev_services::http_get(metrics, "/metrics").unwrap();
            for (key, expected) in [
                ("order_system_orders_pending", 0.0),
                ("order_system_orders_accepted_total", 1.0),
                ("order_system_orders_fulfilled_total", 1.0),
                ("order_system_channel_subscribers:0", 1.0),
                ("order_system_channel_subscribers:1", 1.0),
                ("order_system_redis_noeviction", 1.0),
            ] {
                assert_eq!(script_value(&page, key), Some(expected), "{key}: {page}");
            }
            assert!(page.contains("redis_up 1"), "{page}");
            // The README's command: `curl -s <address> | grep order_system_orders_pending`.
            let readme =
                std::fs::read_to_string(harness::workspace_root().join("README.md")).unwrap();
            assert!(
                readme.contains("--metrics")
                    && readme.contains("| grep order_system_orders_pending"),
                "the README's quick start lacks the backlog command"
            );
        },
    );
}
