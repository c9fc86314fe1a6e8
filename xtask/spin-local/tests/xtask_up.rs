//! `cargo xtask up`, which runs the apps on this runtime: it prints the API's address, the
//! system serves orders, and Ctrl-C (SIGINT) stops the runtime and the redis-server it started
//! (but not a Redis it was given). Here rather than in xtask's own tests, which must not build
//! wasmtime.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{eventually, request, wasm_dir};
use dev_services::{OtlpReceiver, RedisOptions, RedisServer};

fn listens(port: u16) -> bool {
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&address, Duration::from_secs(1)).is_ok()
}

/// Runs `cargo xtask up` with `arguments` and `environment` until the system is up, orders one
/// pizza, interrupts it and checks it stopped cleanly; returns the Redis port it announced.
fn up_order_and_interrupt(arguments: &[&str], environment: &[(&str, &str)]) -> u16 {
    wasm_dir();
    let port = dev_services::free_port().unwrap();
    let mut xtask = order_e2e::xtask_up(port)
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
    let redis_port: u16 = up
        .rsplit_once("redis://127.0.0.1:")
        .and_then(|(_, rest)| rest.split(')').next())
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("no Redis address in {up:?}"));

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
    redis_port
}

#[test]
fn starts_its_own_redis_and_stops_it_on_ctrl_c() {
    let redis_port = up_order_and_interrupt(&[], &[]);
    assert!(!listens(redis_port), "its redis-server still runs");
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
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
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
