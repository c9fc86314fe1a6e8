//! Redis passwords with the characters a URL reserves (a managed Redis' access key has `/`, `+`
//! and `=`): given percent-encoded, the one documented form of `redis_password`, both apps work
//! end to end against a real redis-server that requires the password as it is; given raw, the
//! fulfilment app's trigger address does not parse, so it does not start, as on Spin.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use dev_services::{RedisOptions, RedisServer};
use order_e2e::harness::{
    Running, eventually, post_order, providers, request, wait_for_subscriber, wasm_dir,
    workspace_root,
};
use spin_local::Runtime;

/// One of every character the issue names, each in a password of its own.
const SPECIAL: [&str; 10] = ["/", "+", "=", "@", ":", "%", "#", "?", "&", " "];

fn manifests() -> Vec<std::path::PathBuf> {
    let apps = workspace_root().join("apps");
    vec![
        apps.join("order-processor/spin.toml"),
        apps.join("fulfilment-processor/spin.toml"),
    ]
}

fn redis_requiring(password: &str) -> RedisServer {
    RedisServer::start_with(RedisOptions {
        password: Some(password.to_string()),
        ..RedisOptions::default()
    })
    .unwrap()
}

#[test]
fn every_special_character_works_percent_encoded() {
    wasm_dir();
    for special in SPECIAL {
        let password = format!("Ab1{special}cD{special}e");
        let redis = redis_requiring(&password);
        let encoded = redis.url_password().unwrap();
        let running = Running::start(
            &manifests(),
            providers(
                &[
                    ("redis_port", &redis.port().to_string()),
                    ("redis_password", &encoded),
                ],
                &[],
            ),
        );
        wait_for_subscriber(&redis);
        let reply = post_order(running.address, "a pizza");
        assert_eq!(reply.status, 202, "password {password:?}: {reply:?}");
        let location = reply.header("location").unwrap().to_string();
        eventually(
            &format!("the order to be fulfilled with password {password:?}"),
            Duration::from_secs(30),
            || {
                let reply = request(running.address, "GET", &location, &[], b"");
                assert_eq!(reply.status, 200, "{reply:?}");
                reply.body.contains(r#""status":"fulfilled""#).then_some(())
            },
        );
    }
}

#[test]
fn a_raw_password_stops_the_fulfilment_app_as_on_spin() {
    wasm_dir();
    let redis = redis_requiring("Ab1/cD+e=");
    let port = redis.port().to_string();
    let raw = providers(
        &[("redis_port", &port), ("redis_password", "Ab1/cD+e=")],
        &[],
    );
    let error = Runtime::load(&manifests(), &raw, &Default::default())
        .err()
        .unwrap();
    let error = format!("{error:#}");
    assert!(
        error.contains("invalid Redis trigger address") && !error.contains("Ab1/cD+e="),
        "{error}"
    );
}

#[test]
fn a_raw_password_is_a_500_from_the_api_not_a_wrong_password() {
    wasm_dir();
    let redis = redis_requiring("Ab1/cD+e=");
    let port = redis.port().to_string();
    let running = Running::start(
        &[workspace_root().join("apps/order-processor/spin.toml")],
        providers(
            &[("redis_port", &port), ("redis_password", "Ab1/cD+e=")],
            &[],
        ),
    );
    let reply = post_order(running.address, "a pizza");
    assert_eq!(reply.status, 500, "{reply:?}");
    assert!(!reply.body.contains("Ab1/cD+e="), "{reply:?}");
}
