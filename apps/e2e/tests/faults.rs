//! Fault tests: this repository's apps on the embedded runtime, each app on its own (as on
//! Kubernetes), against a real redis-server with the append-only file on, and the chart's
//! reconciler script run as `cargo xtask up` runs it. Nothing acknowledged may be lost, and every
//! order ends `fulfilled` exactly once; and messages are handled while HTTP requests hold every
//! worker of the runtime both apps share. Each test prints its counts.
//!
//! The fulfilment app fails as Spin's Redis trigger does (`crates/trigger-redis/src/lib.rs`): it
//! ends with an error when it cannot connect or its subscription drops, and never resubscribes
//! in place. Where a test needs it back, it starts it again, as kubelet restarts the pod.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dev_services::{Reconciler, ReconcilerOptions, RedisOptions, RedisServer};
use order_e2e::harness::{
    Reply, Running, accepted_id, app_manifest, close_the_subscriber, connection, eventually,
    post_order, probe_app, providers, request, run_against, wait_for_subscriber, wasm_dir,
    workspace_root,
};

const CHANNEL: &str = "neworders";
/// The local reconciler's period in these tests, and the age from which it re-publishes.
const RECONCILE_PERIOD: Duration = Duration::from_secs(3);
const MIN_AGE: Duration = Duration::from_secs(1);

/// Written past the test harness' output capture, so `cargo xtask test` shows the counts.
fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "fault test: {line}");
}

fn redis_with_append_only_file() -> RedisServer {
    RedisServer::start_with(RedisOptions {
        append_only: true,
        password: Some("fault-test".to_string()),
        tls: false,
    })
    .unwrap()
}

/// One app (`apps/<name>/spin.toml`) on the embedded runtime; stops when dropped.
fn start_app(name: &str, redis: &RedisServer) -> Running {
    start_apps(&[app_manifest(name)], redis)
}

/// Apps in one embedded runtime (one process, as one `spin up` with several triggers); stops
/// when dropped.
fn start_apps(manifests: &[std::path::PathBuf], redis: &RedisServer) -> Running {
    run_against(manifests, redis, &[])
}

fn start_reconciler(redis: &RedisServer) -> Reconciler {
    let options = ReconcilerOptions {
        channel: CHANNEL.to_string(),
        min_age: MIN_AGE,
        batch: 500,
        ..ReconcilerOptions::for_server(redis)
    };
    Reconciler::start(options, RECONCILE_PERIOD).unwrap()
}

fn status(redis: &mut redis::Connection, id: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(format!("order:{id}"))
        .arg("status")
        .query(redis)
        .unwrap()
}

fn count_fulfilled(redis: &mut redis::Connection, ids: &[String]) -> usize {
    ids.iter()
        .filter(|id| status(redis, id).as_deref() == Some("fulfilled"))
        .count()
}

/// The new-order message for a stored order, as the receiver publishes it.
fn message(redis: &mut redis::Connection, id: &str) -> String {
    let details: String = redis::cmd("HGET")
        .arg(format!("order:{id}"))
        .arg("details")
        .query(redis)
        .unwrap();
    serde_json::json!({"id": id, "details": details, "status": "created"}).to_string()
}

/// Turns on keyspace notifications for hash commands, so each write to an order record is an
/// event on `__keyspace@0__:<key>`.
fn notify_hash_writes(redis: &mut redis::Connection) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Kh")
        .query(redis)
        .unwrap();
}

fn publish(redis: &mut redis::Connection, payload: &str) {
    let _: i64 = redis::cmd("PUBLISH")
        .arg(CHANNEL)
        .arg(payload)
        .query(redis)
        .unwrap();
}

#[test]
fn orders_accepted_while_fulfilment_is_down_are_fulfilled_within_one_reconcile_period() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    let _reconciler = start_reconciler(&redis);

    let ids: Vec<String> = (0..100)
        .map(|n| {
            accepted_id(&post_order(
                api.address,
                &format!("order {n} while fulfilment is down"),
            ))
        })
        .collect();
    assert_eq!(count_fulfilled(&mut db, &ids), 0);
    // Their messages went nowhere; the reconciler re-publishes them once they are MIN_AGE old.
    std::thread::sleep(MIN_AGE);

    let _fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    let subscribed = Instant::now();
    eventually(
        "every order to be fulfilled",
        RECONCILE_PERIOD + Duration::from_secs(2),
        || (count_fulfilled(&mut db, &ids) == ids.len()).then_some(()),
    );
    let took = subscribed.elapsed();
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut db)
        .unwrap();
    assert_eq!(pending, 0);
    report(&format!(
        "fulfilment down: accepted {}, fulfilled {}, lost 0; all fulfilled {took:.1?} after the \
         app subscribed (reconcile period {RECONCILE_PERIOD:?})",
        ids.len(),
        count_fulfilled(&mut db, &ids)
    ));
}

/// What the stream of POSTs got while Redis was killed and restarted.
#[derive(Default)]
struct Outcomes {
    accepted: Vec<String>,
    refused_with_retry_after: usize,
    other: Vec<Reply>,
}

#[test]
fn redis_killed_mid_stream_keeps_every_acknowledged_order_and_fulfils_it() {
    let mut redis = redis_with_append_only_file();
    let api = start_app("order-processor", &redis);
    let fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    let _reconciler = start_reconciler(&redis);

    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let done = Arc::new(AtomicBool::new(false));
    let client = {
        let (outcomes, done, address) = (outcomes.clone(), done.clone(), api.address);
        std::thread::spawn(move || {
            let mut n = 0;
            while !done.load(Ordering::Relaxed) {
                n += 1;
                let reply = request(
                    address,
                    "POST",
                    "/order",
                    &[("content-type", "application/json")],
                    format!(r#"{{"details":"order {n} in the stream"}}"#).as_bytes(),
                );
                let mut outcomes = outcomes.lock().unwrap();
                match reply.status {
                    202 => outcomes.accepted.push(accepted_id(&reply)),
                    503 if reply.header("retry-after").is_some() => {
                        outcomes.refused_with_retry_after += 1
                    }
                    _ => outcomes.other.push(reply),
                }
                drop(outcomes);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let accepted = || outcomes.lock().unwrap().accepted.len();
    eventually("40 orders accepted", Duration::from_secs(30), || {
        (accepted() >= 40).then_some(())
    });
    redis.kill().unwrap();
    eventually(
        "a request refused while Redis is down",
        Duration::from_secs(30),
        || (outcomes.lock().unwrap().refused_with_retry_after >= 5).then_some(()),
    );
    // As Spin's trigger, the fulfilment app ends when its subscription drops.
    let failure = fulfilment.failure(Duration::from_secs(30));
    assert_eq!(
        failure,
        format!("disconnected from 127.0.0.1:{}", redis.port())
    );
    redis.restart().unwrap();
    // Kubelet starts it again; orders accepted before it subscribes are the reconciler's.
    let _fulfilment = start_app("fulfilment-processor", &redis);
    let before_restart = accepted();
    eventually("40 more orders accepted", Duration::from_secs(30), || {
        (accepted() >= before_restart + 40).then_some(())
    });
    done.store(true, Ordering::Relaxed);
    client.join().unwrap();

    let outcomes = outcomes.lock().unwrap();
    assert!(outcomes.other.is_empty(), "{:?}", outcomes.other);
    let mut db = connection(&redis);
    let kept = outcomes
        .accepted
        .iter()
        .filter(|id| status(&mut db, id).is_some())
        .count();
    assert_eq!(
        kept,
        outcomes.accepted.len(),
        "acknowledged orders were lost"
    );
    eventually(
        "every acknowledged order to be fulfilled",
        Duration::from_secs(30),
        || (count_fulfilled(&mut db, &outcomes.accepted) == outcomes.accepted.len()).then_some(()),
    );
    report(&format!(
        "Redis SIGKILL mid-stream: the fulfilment app exited and was started again; accepted {} \
         (202), refused {} (503 + Retry-After), other 0; kept {kept}, fulfilled {}, lost 0",
        outcomes.accepted.len(),
        outcomes.refused_with_retry_after,
        count_fulfilled(&mut db, &outcomes.accepted)
    ));
}

#[test]
fn a_fulfilment_app_that_cannot_reach_redis_ends_at_start_with_spins_error() {
    let mut redis = redis_with_append_only_file();
    redis.kill().unwrap();
    let fulfilment = start_app("fulfilment-processor", &redis);
    let failure = fulfilment.failure(Duration::from_secs(30));
    let expected = format!(
        "Redis trigger failed to connect to 127.0.0.1:{}: ",
        redis.port()
    );
    assert!(failure.starts_with(&expected), "{failure}");
    report(&format!(
        "Redis down at start: the fulfilment app ended ({failure})"
    ));
}

#[test]
fn a_subscription_closed_by_redis_ends_the_app_and_a_new_one_catches_up() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    let fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    let _reconciler = start_reconciler(&redis);

    close_the_subscriber(&redis);
    let failure = fulfilment.failure(Duration::from_secs(30));
    assert_eq!(
        failure,
        format!("disconnected from 127.0.0.1:{}", redis.port())
    );

    let ids: Vec<String> = (0..20)
        .map(|n| {
            accepted_id(&post_order(
                api.address,
                &format!("order {n} while it is gone"),
            ))
        })
        .collect();
    let _fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    eventually(
        "every order to be fulfilled",
        MIN_AGE + RECONCILE_PERIOD + Duration::from_secs(10),
        || (count_fulfilled(&mut db, &ids) == ids.len()).then_some(()),
    );
    report(&format!(
        "subscriber closed by Redis: the app ended ({failure}); {} orders accepted meanwhile, all \
         fulfilled after its restart",
        ids.len()
    ));
}

/// A fresh order through the API, fulfilled. The fulfiller handles one channel's messages in
/// order, so once this one is fulfilled every message published before it has been handled.
fn sentinel_order(api: &Running, db: &mut redis::Connection) {
    let id = accepted_id(&post_order(api.address, "sentinel"));
    eventually("the sentinel order", Duration::from_secs(30), || {
        (status(db, &id).as_deref() == Some("fulfilled")).then_some(())
    });
}

fn hash(db: &mut redis::Connection, id: &str) -> Vec<(String, String)> {
    redis::cmd("HGETALL")
        .arg(format!("order:{id}"))
        .query(db)
        .unwrap()
}

#[test]
fn messages_for_unknown_or_fulfilled_orders_change_nothing() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    let _fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);
    let fulfilled = accepted_id(&post_order(api.address, "fulfilled before"));
    eventually("the first order", Duration::from_secs(30), || {
        (status(&mut db, &fulfilled).as_deref() == Some("fulfilled")).then_some(())
    });
    let before = hash(&mut db, &fulfilled);
    let keys_before: i64 = redis::cmd("DBSIZE").query(&mut db).unwrap();

    let again = message(&mut db, &fulfilled);
    let unknown = "4f0c6d3e-9a1b-4c2d-8e7f-0a1b2c3d4e5f";
    let for_unknown =
        serde_json::json!({"id": unknown, "details": "never accepted", "status": "created"})
            .to_string();
    for _ in 0..5 {
        publish(&mut db, &again);
        publish(&mut db, &for_unknown);
    }
    sentinel_order(&api, &mut db);

    assert_eq!(hash(&mut db, &fulfilled), before);
    assert_eq!(status(&mut db, unknown), None);
    let keys_after: i64 = redis::cmd("DBSIZE").query(&mut db).unwrap();
    assert_eq!(
        keys_after,
        keys_before + 1,
        "only the sentinel order is new"
    );
    report(
        "10 messages for a fulfilled and an unknown order: the fulfilled order unchanged, \
         nothing created",
    );
}

#[test]
fn a_burst_of_duplicate_messages_fulfils_once() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    // Accepted while nobody listens: it stays `created`.
    let id = accepted_id(&post_order(api.address, "duplicated"));
    let _fulfilment = start_app("fulfilment-processor", &redis);
    wait_for_subscriber(&redis);

    // Count the writes to the order's record: Redis reports each HSET on the key.
    notify_hash_writes(&mut db);
    let mut events = connection(&redis);
    let mut subscription = events.as_pubsub();
    subscription
        .subscribe(format!("__keyspace@0__:order:{id}"))
        .unwrap();
    subscription
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();

    let duplicate = message(&mut db, &id);
    const BURST: usize = 50;
    for _ in 0..BURST {
        publish(&mut db, &duplicate);
    }
    sentinel_order(&api, &mut db);

    let mut writes = 0;
    while let Ok(event) = subscription.get_message() {
        assert_eq!(event.get_payload::<String>().unwrap(), "hset");
        writes += 1;
    }
    assert_eq!(status(&mut db, &id).as_deref(), Some("fulfilled"));
    assert_eq!(writes, 1, "the order was written {writes} times");
    report(&format!(
        "a burst of {BURST} duplicate messages: fulfilled once ({writes} write)"
    ));
}

#[test]
fn messages_are_handled_while_every_http_worker_is_busy() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    // Accepted while nobody listens: it stays `created` until the message below.
    let id = accepted_id(&post_order(api.address, "while HTTP is busy"));
    let fulfilment = workspace_root().join("apps/fulfilment-processor/spin.toml");
    let both = start_apps(&[probe_app("busy", "", ""), fulfilment], &redis);
    wait_for_subscriber(&redis);

    // Twice as many CPU-bound requests as the runtime has workers: every worker ends up inside
    // one of them, and none gives its thread back until it is done.
    let workers = std::thread::available_parallelism().unwrap().get();
    let address = both.address;
    let requests: Vec<_> = (0..2 * workers)
        .map(|_| {
            std::thread::spawn(move || {
                request(address, "GET", "/", &[("probe", "busy 4000")], b"").body
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    let new_order = message(&mut db, &id);
    publish(&mut db, &new_order);
    eventually("the order to be fulfilled", Duration::from_secs(3), || {
        (status(&mut db, &id).as_deref() == Some("fulfilled")).then_some(())
    });
    let still_busy = requests
        .iter()
        .filter(|request| !request.is_finished())
        .count();
    assert_eq!(
        still_busy,
        2 * workers,
        "the message waited for HTTP requests to finish"
    );
    for request in requests {
        assert_eq!(request.join().unwrap(), "ok busy");
    }
    report(&format!(
        "fulfilled while {workers} HTTP worker(s) were busy with {} requests",
        2 * workers
    ));
}

/// An app on the embedded runtime with `order_shards` = 2 and these further variables.
fn start_sharded(name: &str, redis: &RedisServer, variables: &[(&str, &str)]) -> Running {
    wasm_dir();
    let port = redis.port().to_string();
    let mut flags = vec![
        ("redis_port", port.as_str()),
        ("redis_password", redis.password().unwrap()),
        ("order_shards", "2"),
    ];
    flags.extend_from_slice(variables);
    Running::start(
        &[workspace_root().join("apps").join(name).join("spin.toml")],
        providers(&flags, &[]),
    )
}

fn subscribers(redis: &mut redis::Connection, channel: &str) -> i64 {
    let (_, count): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(channel)
        .query(redis)
        .unwrap();
    count
}

#[test]
fn two_shards_fulfil_every_order_once_each_on_its_own_shard() {
    let redis = redis_with_append_only_file();
    let mut db = connection(&redis);
    let api = start_sharded("order-processor", &redis, &[]);
    let _shards = [
        start_sharded(
            "fulfilment-processor",
            &redis,
            &[("order_channel", "neworders.0")],
        ),
        start_sharded(
            "fulfilment-processor",
            &redis,
            &[("order_channel", "neworders.1")],
        ),
    ];
    eventually(
        "both shards' subscriptions",
        Duration::from_secs(30),
        || {
            (subscribers(&mut db, "neworders.0") == 1 && subscribers(&mut db, "neworders.1") == 1)
                .then_some(())
        },
    );
    assert_eq!(subscribers(&mut db, CHANNEL), 0);

    // Watch every message and every write to an order record.
    notify_hash_writes(&mut db);
    let mut events = connection(&redis);
    let mut watch = events.as_pubsub();
    watch.psubscribe("neworders*").unwrap();
    watch.psubscribe("__keyspace@0__:order:*").unwrap();
    watch
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();

    let ids: Vec<String> = (0..40)
        .map(|n| accepted_id(&post_order(api.address, &format!("sharded {n}"))))
        .collect();
    eventually(
        "every order to be fulfilled",
        Duration::from_secs(20),
        || (count_fulfilled(&mut db, &ids) == ids.len()).then_some(()),
    );

    let mut channel_of = std::collections::HashMap::new();
    let mut writes = std::collections::HashMap::<String, usize>::new();
    while let Ok(event) = watch.get_message() {
        let channel = event.get_channel_name().to_string();
        if let Some(key) = channel.strip_prefix("__keyspace@0__:order:") {
            *writes.entry(key.to_string()).or_default() += 1;
        } else {
            let payload: String = event.get_payload().unwrap();
            let id = serde_json::from_str::<serde_json::Value>(&payload).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string();
            assert!(
                channel_of.insert(id, channel).is_none(),
                "each order is published once"
            );
        }
    }
    let mut per_shard = [0; 2];
    for id in &ids {
        let shard = order_model::shard::shard_of(id.parse().unwrap(), 2);
        assert_eq!(channel_of[id], format!("neworders.{shard}"));
        per_shard[shard as usize] += 1;
        // One write accepts the order, one fulfils it: no shard handled another's order again.
        assert_eq!(writes[id], 2, "order {id} was written {} times", writes[id]);
    }
    assert!(per_shard.iter().all(|&n| n > 0), "{per_shard:?}");
    report(&format!(
        "2 shards: {} orders, {per_shard:?} per shard, each fulfilled once on its own shard",
        ids.len()
    ));
}
