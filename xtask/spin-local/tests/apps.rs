//! This repository's apps on spin-local against a real redis-server: an order posted to the
//! order-processor is fulfilled by the fulfilment-processor, Redis going away is a 503, and
//! the Redis trigger subscribes again when Redis comes back.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{
    Running, eventually, manifest, post_order, providers, wait_for_subscriber, wasm_dir,
    workspace_root,
};
use dev_services::RedisServer;

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

#[test]
fn a_redis_trigger_over_tls_is_refused_clearly() {
    let app = manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "tls"
        [[trigger.redis]]
        address = "rediss://127.0.0.1:6380"
        channel = "jobs"
        component = "fulfiller"
        [component.fulfiller]
        source = "{}"
        "#,
        wasm_dir().join("fulfiller.wasm").display()
    ));
    let error = spin_local::Runtime::load(&[app], &providers(&[], &[]), &Default::default())
        .err()
        .unwrap();
    assert!(
        format!("{error:#}").contains("TLS (rediss://), which spin-local does not support"),
        "{error:#}"
    );
}
