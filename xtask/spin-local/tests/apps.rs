//! This repository's apps on spin-local against a real redis-server: an order posted to the
//! order-processor is fulfilled by the fulfilment-processor, Redis going away is a 503, the
//! Redis trigger subscribes again when Redis comes back, and both apps talk TLS (`rediss://`)
//! to a server whose CA they trust.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use common::{
    Running, eventually, post_order, providers, request, spin_local_up, stop, wait_for_subscriber,
    wasm_dir, workspace_root,
};
use dev_services::{RedisOptions, RedisServer};

fn start_apps(redis: &RedisServer) -> Running {
    start_apps_placed(redis, "message")
}

/// Both apps with the order-processor's `fulfilment_placement` set to `placement`.
fn start_apps_placed(redis: &RedisServer, placement: &str) -> Running {
    wasm_dir();
    let apps = workspace_root().join("apps");
    Running::start(
        &[
            apps.join("order-processor/spin.toml"),
            apps.join("fulfilment-processor/spin.toml"),
        ],
        providers(
            &[
                ("redis_port", &redis.port().to_string()),
                ("fulfilment_placement", placement),
            ],
            &[],
        ),
    )
}

fn wait_until_fulfilled(api: SocketAddr, location: &str) {
    eventually("the order to be fulfilled", Duration::from_secs(30), || {
        let reply = request(api, "GET", location, &[], b"");
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body.contains(r#""status":"fulfilled""#).then_some(())
    });
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

#[test]
fn composed_the_receiver_fulfils_in_process_and_publishes_nothing() {
    let redis = RedisServer::start().unwrap();
    let running = start_apps_placed(&redis, "composed");
    wait_for_subscriber(&redis);
    let mut monitor = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
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
fn without_redis_the_api_answers_503_and_both_apps_recover() {
    let mut redis = RedisServer::start().unwrap();
    let running = start_apps(&redis);
    wait_for_subscriber(&redis);

    redis.kill().unwrap();
    let reply = post_order(running.address, "while Redis is down");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("2"));

    redis.restart().unwrap();
    wait_for_subscriber(&redis);
    let reply = post_order(running.address, "after Redis is back");
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_until_fulfilled(running.address, reply.header("location").unwrap());
}

/// spin-local with both apps in a child process, so that `environment` is its own.
fn spawn_apps(listen: &str, redis: &RedisServer, environment: &[(&str, &Path)]) -> Child {
    wasm_dir();
    let apps = workspace_root().join("apps");
    let [processor, fulfilment] = ["order-processor", "fulfilment-processor"].map(|app| {
        apps.join(app)
            .join("spin.toml")
            .to_string_lossy()
            .into_owned()
    });
    let redis_port = format!("redis_port={}", redis.port());
    let mut command = spin_local_up(&[
        "-f",
        &processor,
        "-f",
        &fulfilment,
        "--listen",
        listen,
        "--variable",
        "redis_scheme=rediss",
        "--variable",
        &redis_port,
    ]);
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

    // The server's CA is not one the system trusts: no connection, a 503 and the reason.
    let untrusting = spawn_apps(&listen, &redis, &[]);
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
    let reply = post_order(address, "refused");
    let output = stop(untrusting);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(reply.status, 503, "{reply:?}");
    assert!(stderr.contains("UnknownIssuer"), "{stderr}");

    // Trusting it through SSL_CERT_FILE, as Spin's TLS does.
    let trusting = spawn_apps(&listen, &redis, &[("SSL_CERT_FILE", &ca)]);
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
