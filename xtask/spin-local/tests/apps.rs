//! This repository's apps on spin-local against a real redis-server: an order posted to the
//! order-processor is fulfilled by the fulfilment-processor, Redis going away is a 503, the
//! Redis trigger subscribes again when Redis comes back, and both apps talk TLS (`rediss://`)
//! to a server whose CA they trust.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    Running, eventually, post_order, providers, request, wait_for_subscriber, wasm_dir,
    workspace_root,
};
use dev_services::{RedisOptions, RedisServer};

fn start_apps(redis: &RedisServer) -> Running {
    wasm_dir();
    let apps = workspace_root().join("apps");
    Running::start(
        &[
            apps.join("order-processor/spin.toml"),
            apps.join("fulfilment-processor/spin.toml"),
        ],
        providers(&[("redis_port", &redis.port().to_string())], &[]),
    )
}

fn wait_until_fulfilled(running: &Running, location: &str) {
    eventually("the order to be fulfilled", Duration::from_secs(30), || {
        let reply = running.get(location, &[]);
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body.contains(r#""status":"fulfilled""#).then_some(())
    });
}

#[test]
fn an_order_is_accepted_then_fulfilled() {
    let redis = RedisServer::start().unwrap();
    let running = start_apps(&redis);
    wait_for_subscriber(&redis);

    let reply = post_order(&running, "two pizzas");
    assert_eq!(reply.status, 202, "{reply:?}");
    let location = reply.header("location").unwrap().to_string();
    assert!(reply.body.contains(r#""status":"created""#), "{reply:?}");
    wait_until_fulfilled(&running, &location);

    let unknown = running.get("/order/0d5b6c1e-2f7a-4c43-9a55-2f1a3b4c5d6e", &[]);
    assert_eq!(unknown.status, 404);
    assert_eq!(running.get("/.well-known/spin/health", &[]).status, 200);
}

#[test]
fn without_redis_the_api_answers_503_and_both_apps_recover() {
    let mut redis = RedisServer::start().unwrap();
    let running = start_apps(&redis);
    wait_for_subscriber(&redis);

    redis.kill().unwrap();
    let reply = post_order(&running, "while Redis is down");
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.header("retry-after"), Some("2"));

    redis.restart().unwrap();
    wait_for_subscriber(&redis);
    let reply = post_order(&running, "after Redis is back");
    assert_eq!(reply.status, 202, "{reply:?}");
    wait_until_fulfilled(&running, reply.header("location").unwrap());
}

/// spin-local with both apps in a child process, so that `environment` is its own.
fn spawn_apps(listen: &str, redis: &RedisServer, environment: &[(&str, &Path)]) -> Child {
    wasm_dir();
    let apps = workspace_root().join("apps");
    let mut command = Command::new(env!("CARGO_BIN_EXE_spin-local"));
    command
        .arg("up")
        .arg("-f")
        .arg(apps.join("order-processor/spin.toml"))
        .arg("-f")
        .arg(apps.join("fulfilment-processor/spin.toml"))
        .args(["--listen", listen, "--variable", "redis_scheme=rediss"])
        .arg("--variable")
        .arg(format!("redis_port={}", redis.port()))
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (name, value) in environment {
        command.env(name, value);
    }
    command.spawn().unwrap()
}

fn stop(mut child: Child) -> String {
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
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
    let new_order = |details: &str| {
        request(
            address,
            "POST",
            "/order",
            &[("content-type", "application/json")],
            format!(r#"{{"details":"{details}"}}"#).as_bytes(),
        )
    };

    // The server's CA is not one the system trusts: no connection, a 503 and the reason.
    let untrusting = spawn_apps(&listen, &redis, &[]);
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
    let reply = new_order("refused");
    let stderr = stop(untrusting);
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
    let reply = new_order("over TLS");
    assert_eq!(reply.status, 202, "{reply:?}");
    let location = reply.header("location").unwrap().to_string();
    eventually("the order to be fulfilled", Duration::from_secs(30), || {
        let reply = request(address, "GET", &location, &[], b"");
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.body.contains(r#""status":"fulfilled""#).then_some(())
    });
    stop(trusting);
}
