//! Least privilege in Redis, end to end: a real redis-server with one ACL user per role, made
//! from the chart's rules (`charts/order-system/files/redis-acl.conf`), and this repository's
//! apps on the embedded runtime, each app as its own user (`redis_user`, `redis_password`), as
//! the chart runs them: order-processor, fulfilment-processor, and the reconciler script. An
//! order is accepted, read back and fulfilled; one accepted while fulfilment is down is
//! re-published by the reconciler; Redis refused none of what they did (`ACL LOG`), and no app
//! ran as the `default` user.

#![allow(clippy::unwrap_used)]

mod redis_acl;

use std::path::PathBuf;
use std::time::Duration;

use dev_services::RedisServer;
use order_e2e::harness::{
    Running, connection, post_order, providers, request, wait_for_subscriber, wait_until_fulfilled,
    wasm_dir, workspace_root,
};

const PREFIX: &str = "order:";
const CHANNEL: &str = "neworders";

fn manifest(app: &str) -> PathBuf {
    workspace_root().join("apps").join(app).join("spin.toml")
}

/// `app` on the embedded runtime as the Redis user `role`, with `more` variables.
fn start_as(app: &str, role: &str, redis: &RedisServer, more: &[(&str, &str)]) -> Running {
    wasm_dir();
    let port = redis.port().to_string();
    let password = redis_acl::encoded(&redis_acl::password(role));
    let mut variables = vec![
        ("redis_port", port.as_str()),
        ("redis_user", role),
        ("redis_password", password.as_str()),
    ];
    variables.extend_from_slice(more);
    Running::start(&[manifest(app)], providers(&variables, &[]))
}

/// `POST /order`, expecting 202; returns the order's location.
fn place(api: &Running, details: &str) -> String {
    let reply = post_order(api.address, details);
    assert_eq!(reply.status, 202, "{reply:?}");
    reply.header("location").unwrap().to_string()
}

/// The users of the clients connected now, by `CLIENT LIST`, but the admin's own connection.
fn connected_users(db: &mut redis::Connection) -> Vec<(String, String)> {
    let list: String = redis::cmd("CLIENT").arg("LIST").query(db).unwrap();
    list.lines()
        .filter(|line| !line.contains("cmd=client|list"))
        .map(|line| {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            (field("user"), field("cmd"))
        })
        .collect()
}

#[test]
fn each_app_runs_as_its_own_redis_user() {
    let redis = redis_acl::redis_with_users(
        &["order-processor", "fulfilment-processor", "reconciler"],
        PREFIX,
        CHANNEL,
    );
    let mut db = connection(&redis);
    let api = start_as("order-processor", "order-processor", &redis, &[]);
    let _reconciler = redis_acl::reconciler_as_its_user(&redis, PREFIX, CHANNEL);

    // Accepted while fulfilment is down: only the reconciler's re-publication reaches it.
    let early = place(&api, "while fulfilment is down");
    let fulfilment = start_as("fulfilment-processor", "fulfilment-processor", &redis, &[]);
    wait_for_subscriber(&redis);
    let users = connected_users(&mut db);
    assert!(
        users.contains(&("fulfilment-processor".to_string(), "subscribe".to_string())),
        "the trigger's subscription is not the fulfilment-processor user's: {users:?}"
    );
    let late = place(&api, "a pizza");
    wait_until_fulfilled(api.address, &late);
    wait_until_fulfilled(api.address, &early);

    // A repeated Idempotency-Key is answered from Redis as the order-processor user too.
    let keyed = [
        ("content-type", "application/json"),
        ("idempotency-key", "users-1"),
    ];
    let first = request(
        api.address,
        "POST",
        "/order",
        &keyed,
        br#"{"details":"once"}"#,
    );
    let again = request(
        api.address,
        "POST",
        "/order",
        &keyed,
        br#"{"details":"once"}"#,
    );
    assert_eq!(first.status, 202, "{first:?}");
    assert_eq!(
        again.header("location"),
        first.header("location"),
        "{again:?}"
    );

    assert_eq!(redis_acl::refusals(&mut db), Vec::<String>::new());
    let as_default: Vec<_> = connected_users(&mut db)
        .into_iter()
        .filter(|(user, _)| user == "default")
        .collect();
    assert!(
        as_default.is_empty(),
        "clients as `default`: {as_default:?}"
    );
    drop(fulfilment);
}

/// With fulfilment placement `composed`, the order-processor fulfils in its own process, as its
/// own user.
#[test]
fn composed_fulfilment_runs_as_the_order_processor_user() {
    let redis = redis_acl::redis_with_users(
        &["order-processor", "fulfilment-processor", "reconciler"],
        PREFIX,
        CHANNEL,
    );
    let mut db = connection(&redis);
    let api = start_as(
        "order-processor",
        "order-processor",
        &redis,
        &[("fulfilment_placement", "composed")],
    );
    let location = place(&api, "composed");
    wait_until_fulfilled(api.address, &location);
    assert_eq!(redis_acl::refusals(&mut db), Vec::<String>::new());
}

/// A user that is not the app's role is refused what the app needs: the trigger of a
/// fulfilment-processor running as the order-processor user cannot subscribe, so the app ends
/// at start (as on Spin), with Redis' refusal in its error.
#[test]
fn the_order_processor_user_may_not_subscribe() {
    let redis = redis_acl::redis_with_users(
        &["order-processor", "fulfilment-processor", "reconciler"],
        PREFIX,
        CHANNEL,
    );
    let fulfilment = start_as("fulfilment-processor", "order-processor", &redis, &[]);
    let error = fulfilment.failure(Duration::from_secs(30));
    assert!(
        error.contains("subscribe") && error.to_lowercase().contains("noperm"),
        "{error}"
    );
}
