//! This repository's apps on spin-local against a real redis-server: an order posted to the
//! order-processor is fulfilled by the fulfilment-processor, Redis going away is a 503 and the
//! API recovers by itself, while the Redis trigger ends its app, and every app of its runtime,
//! as Spin's does (a restarted one fulfils again); and both apps talk TLS (`rediss://`) to a
//! server whose CA they trust.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use dev_services::{RedisOptions, RedisServer};
use order_e2e::harness::{
    Running, app_manifest, close_the_subscriber, connection, eventually, post_order, request,
    run_against, spin_local_up, stop, wait_for_subscriber, wait_until_fulfilled, wasm_dir,
    workspace_root,
};

fn start_apps(redis: &RedisServer) -> Running {
    start_apps_placed(redis, "message")
}

/// Both apps with the order-processor's `fulfilment_placement` set to `placement`.
fn start_apps_placed(redis: &RedisServer, placement: &str) -> Running {
    run_against(
        &[
            app_manifest("order-processor"),
            app_manifest("fulfilment-processor"),
        ],
        redis,
        &[("fulfilment_placement", placement)],
    )
}

#[test]
fn an_order_is_accepted_then_fulfilled() {
    let redis = RedisServer::start().unwrap();
    let running = start_apps(&redis);
    wait_for_subscriber(&redis);

    let reply = post_order(running.address, "two pizzas");
    assert_eq!(reply.status, 202, "{reply:?}");
    let location = reply.header("location").unwrap().to_string();
    assert!(reply.body.contains(r#""status":"created""#), "{reply:?}");
    wait_until_fulfilled(running.address, &location);

    let unknown = running.get("/order/0d5b6c1e-2f7a-4c43-9a55-2f1a3b4c5d6e", &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(running.get("/.well-known/spin/health", &[]).status, 200);
}

/// One app (`apps/<name>/spin.toml`) in a runtime of its own, as on a cluster.
fn start_app(name: &str, redis: &RedisServer) -> Running {
    run_against(&[app_manifest(name)], redis, &[])
}

#[test]
fn composed_the_receiver_fulfils_in_process_and_publishes_nothing() {
    let redis = RedisServer::start().unwrap();
    let running = start_apps_placed(&redis, "composed");
    wait_for_subscriber(&redis);
    let mut monitor = connection(&redis);
    let mut pubsub = monitor.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    let reply = post_order(running.address, "two pizzas");
    assert_eq!(reply.status, 202, "{reply:?}");
    assert!(reply.body.contains(r#""status":"fulfilled""#), "{reply:?}");
    let location = reply.header("location").unwrap().to_string();
    let order = request(running.address, "GET", &location, &[], b"");
    assert!(order.body.contains(r#""status":"fulfilled""#), "{order:?}");
    let published = pubsub.get_message();
    assert!(
        published.is_err(),
        "the composed receiver published {published:?}"
    );
}

#[test]
fn a_placement_that_is_neither_is_a_500_that_names_the_variable() {
    let redis = RedisServer::start().unwrap();
    let running = start_apps_placed(&redis, "nearby");
    let reply = post_order(running.address, "two pizzas");
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(
        !reply.body.contains("fulfilment_placement"),
        "causes stay in the log: {reply:?}"
    );
}

#[test]
fn without_redis_the_api_answers_503_and_recovers_and_the_trigger_ends_its_app() {
    let mut redis = RedisServer::start().unwrap();
    let api = start_app("order-processor", &redis);
    let fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);

    redis.kill().unwrap();
    let reply = post_order(api.address, "while Redis is down");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("2"));
    let failure = fulfilment.failure(Duration::from_secs(30));
    assert_eq!(
        failure,
        format!("disconnected from 127.0.0.1:{}", redis.port())
    );

    redis.restart().unwrap();
    // Started again, as kubelet restarts the pod.
    let _fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    let reply = post_order(api.address, "after Redis is back");
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_until_fulfilled(api.address, reply.header("location").unwrap());
}

/// As `spin up` stops every trigger when one exits ("A trigger exited unexpectedly.
/// Terminating.", Spin's `src/commands/up.rs`): the HTTP app stops with the failed Redis trigger.
#[test]
fn a_failed_trigger_stops_every_app_of_its_runtime() {
    let redis = RedisServer::start().unwrap();
    let both = start_apps(&redis);
    wait_for_subscriber(&redis);
    let address = both.address;
    close_the_subscriber(&redis);
    let failure = both.failure(Duration::from_secs(30));
    assert_eq!(
        failure,
        format!("disconnected from 127.0.0.1:{}", redis.port())
    );
    assert!(
        std::net::TcpStream::connect(address).is_err(),
        "the HTTP app still listens on {address}"
    );
}

/// spin-local with `apps` (names under `apps/`) in a child process, so that `environment` is
/// its own.
fn spawn_apps(
    apps: &[&str],
    listen: &str,
    redis: &RedisServer,
    environment: &[(&str, &Path)],
) -> Child {
    wasm_dir();
    let mut arguments = Vec::new();
    for app in apps {
        let manifest = workspace_root().join("apps").join(app).join("spin.toml");
        arguments.extend(["-f".to_string(), manifest.to_string_lossy().into_owned()]);
    }
    arguments.extend(["--listen".to_string(), listen.to_string()]);
    arguments.extend(["--variable".to_string(), "redis_scheme=rediss".to_string()]);
    arguments.extend([
        "--variable".to_string(),
        format!("redis_port={}", redis.port()),
    ]);
    let arguments: Vec<&str> = arguments.iter().map(String::as_str).collect();
    let mut command = spin_local_up(&arguments);
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR");
    for (name, value) in environment {
        command.env(name, value);
    }
    command.spawn().unwrap()
}

/// How many subscribe to the order channel, asked over TLS with `redis-cli`.
fn subscribers_over_tls(redis: &RedisServer, ca: &Path) -> Option<String> {
    let output = Command::new("redis-cli")
        .args(["--tls", "--cacert"])
        .arg(ca)
        .args(["-h", "127.0.0.1", "-p", &redis.port().to_string()])
        .args(["PUBSUB", "NUMSUB", "neworders"])
        .output()
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .nth(1)
        .map(str::to_string)
}

#[test]
fn both_apps_reach_redis_over_tls_and_trust_only_known_cas() {
    let redis = RedisServer::start_with(RedisOptions {
        tls: true,
        ..RedisOptions::default()
    })
    .unwrap();
    let ca = redis.ca_file().unwrap();
    let port = dev_services::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let address: SocketAddr = listen.parse().unwrap();

    // The server's CA is not one the system trusts: no connection, a 503 and the reason; and
    // the Redis trigger's app ends at start, as Spin's does.
    let untrusting = spawn_apps(&["order-processor"], &listen, &redis, &[]);
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
    let reply = post_order(address, "refused");
    let output = stop(untrusting);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");
    let output = spawn_apps(&["fulfilment-processor"], &listen, &redis, &[])
        .wait_with_output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "Error: Redis trigger failed to connect to 127.0.0.1:{}",
            redis.port()
        )) && stderr.contains("UnknownIssuer"),
        "{stderr}"
    );

    // Trusting it through SSL_CERT_FILE, as Spin's TLS does.
    let trusting = spawn_apps(
        &["order-processor", "fulfilment-processor"],
        &listen,
        &redis,
        &[("SSL_CERT_FILE", &ca)],
    );
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
    eventually(
        "the fulfiller's subscription over TLS",
        Duration::from_secs(30),
        || (subscribers_over_tls(&redis, &ca).as_deref() == Some("1")).then_some(()),
    );
    let reply = post_order(address, "over TLS");
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_until_fulfilled(address, reply.header("location").unwrap());
    stop(trusting);
}

/// The receiver component reads the request's `traceparent` header and keeps it with the order:
/// in the published message (where a tracing Redis trigger finds its parent) and in the hash
/// (where the reconciler finds it); an invalid one is ignored and the order accepted all the same.
#[test]
fn a_traceparent_header_rides_with_the_order_into_its_message_and_hash() {
    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let redis = RedisServer::start().unwrap();
    let api = start_app("order-processor", &redis);
    let mut client = connection(&redis);
    let mut monitor = connection(&redis);
    let mut pubsub = monitor.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    for (header, expected) in [
        (Some(TRACEPARENT), Some(TRACEPARENT)),
        (
            Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01"),
            None,
        ),
        (None, None),
    ] {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(header.map(|value| ("traceparent", value)));
        let reply = request(
            api.address,
            "POST",
            "/order",
            &headers,
            br#"{"details":"x"}"#,
        );
        assert_eq!(reply.status, 202, "{header:?}: {reply:?}");
        let id = reply
            .header("location")
            .unwrap()
            .trim_start_matches("/order/");
        let payload: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
        let message: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(message["id"], id);
        assert_eq!(
            message.get("traceparent").and_then(|t| t.as_str()),
            expected
        );
        let stored: Option<String> = redis::cmd("HGET")
            .arg(format!("order:{id}"))
            .arg("traceparent")
            .query(&mut client)
            .unwrap();
        assert_eq!(stored.as_deref(), expected, "{header:?}");
    }
}
