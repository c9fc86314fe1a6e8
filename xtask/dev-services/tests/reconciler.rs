//! The reconciler as `cargo xtask up` and the fault tests run it, against a real redis-server.

#![allow(clippy::unwrap_used)]

use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use dev_services::{
    Reconciled, Reconciler, ReconcilerOptions, RedisOptions, RedisServer, reconcile_once,
};

fn redis() -> RedisServer {
    RedisServer::start_with(RedisOptions {
        password: Some("s3cret".to_string()),
        ..RedisOptions::default()
    })
    .unwrap()
}

fn cli(redis: &RedisServer, args: &[&str]) -> String {
    let output = Command::new("redis-cli")
        .args(["--no-auth-warning", "-p", &redis.port().to_string()])
        .env("REDISCLI_AUTH", redis.password().unwrap())
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn options(redis: &RedisServer) -> ReconcilerOptions {
    ReconcilerOptions::for_server(redis)
}

/// An order in the pending index, accepted `age` ago, with this status (none: no record).
fn pending(redis: &RedisServer, id: &str, status: Option<&str>, age: Duration) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let accepted_ms = (now - age).as_millis().to_string();
    if let Some(status) = status {
        cli(
            redis,
            &[
                "HSET",
                &format!("order:{id}"),
                "details",
                id,
                "status",
                status,
            ],
        );
    }
    cli(redis, &["ZADD", "order:pending", &accepted_ms, id]);
}

#[test]
fn republishes_old_created_orders_and_drops_stale_entries() {
    let redis = redis();
    let old = Duration::from_secs(60);
    pending(&redis, "lost-1", Some("created"), old);
    pending(&redis, "lost-2", Some("created"), old);
    pending(&redis, "fresh", Some("created"), Duration::ZERO);
    pending(&redis, "done", Some("fulfilled"), old);
    pending(&redis, "gone", None, old);

    let run = reconcile_once(&options(&redis)).unwrap();

    assert_eq!(
        run,
        Reconciled {
            republished: 2,
            dropped: 2
        }
    );
    let mut left: Vec<_> = cli(&redis, &["ZRANGE", "order:pending", "0", "-1"])
        .lines()
        .map(str::to_string)
        .collect();
    left.sort();
    assert_eq!(left, ["fresh", "lost-1", "lost-2"]);
}

#[test]
fn fails_on_an_error_reply_or_an_unreachable_redis() {
    let mut redis = redis();
    let without_password = ReconcilerOptions {
        password: None,
        ..options(&redis)
    };
    let error = reconcile_once(&without_password).unwrap_err().to_string();
    assert!(error.contains("NOAUTH"), "{error}");

    redis.kill().unwrap();
    let error = reconcile_once(&options(&redis)).unwrap_err().to_string();
    assert!(error.contains("Could not connect"), "{error}");
}

#[test]
fn runs_on_an_interval_until_dropped() {
    let redis = redis();
    let reconciler = Reconciler::start(options(&redis), Duration::from_millis(100)).unwrap();
    for round in 0..3 {
        pending(
            &redis,
            &format!("gone-{round}"),
            None,
            Duration::from_secs(60),
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while cli(&redis, &["ZCARD", "order:pending"]).trim() != "0" {
            assert!(
                Instant::now() < deadline,
                "round {round} was not reconciled"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    drop(reconciler);
    pending(&redis, "after", None, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(cli(&redis, &["ZCARD", "order:pending"]).trim(), "1");
}

#[test]
fn republishes_each_order_to_its_shard_under_the_given_count() {
    let redis = redis();
    // The first 8 hex digits mod 2: ffffffff → shard 1, 00000002 → shard 0 (docs/api.md).
    let odd = "ffffffff-0000-4000-8000-000000000000";
    let even = "00000002-0000-4000-8000-000000000000";
    pending(&redis, odd, Some("created"), Duration::from_secs(60));
    pending(&redis, even, Some("created"), Duration::from_secs(60));
    let mut subscriber = Command::new("redis-cli")
        .args(["--no-auth-warning", "-p", &redis.port().to_string()])
        .env("REDISCLI_AUTH", redis.password().unwrap())
        .args(["PSUBSCRIBE", "neworders*"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cli(&redis, &["PUBSUB", "NUMPAT"]).trim() != "1" {
        assert!(Instant::now() < deadline, "redis-cli did not subscribe");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = reconcile_once(&ReconcilerOptions {
        shards: 2,
        ..options(&redis)
    })
    .unwrap();
    assert_eq!(run.republished, 2);
    std::thread::sleep(Duration::from_millis(200));
    subscriber.kill().unwrap();
    let output = subscriber.wait_with_output().unwrap();
    let lines: Vec<String> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    // Each message is: pmessage, the pattern, the channel, the payload.
    let channel_of = |id: &str| {
        let at = lines.iter().position(|line| line.contains(id)).unwrap();
        lines[at - 1].clone()
    };
    assert_eq!(channel_of(odd), "neworders.1");
    assert_eq!(channel_of(even), "neworders.0");
}

/// The reconciler role's ACL rules from the chart's rules file (its header describes the format),
/// for the key prefix `order:` and the channel `neworders`.
fn reconciler_rules() -> Vec<String> {
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../charts/order-system/files/redis-acl.conf"
    );
    let text = std::fs::read_to_string(file).unwrap();
    let rules: Vec<String> = text
        .lines()
        .filter_map(|line| line.trim().strip_prefix("reconciler "))
        .flat_map(str::split_whitespace)
        .map(|rule| {
            rule.replace("{prefix}", "order:")
                .replace("{channel}", "neworders")
        })
        .collect();
    assert!(!rules.is_empty(), "no reconciler rules in {file}");
    rules
}

/// As a Redis ACL user (the chart's reconciler role: its prefix and channels, only the commands
/// its script runs), given as `--user` with the password in `REDISCLI_AUTH`.
#[test]
fn runs_as_an_acl_user() {
    let redis = redis();
    let mut setuser = vec!["ACL".to_string(), "SETUSER".into(), "reconciler".into()];
    setuser.extend(reconciler_rules());
    setuser.extend(["on".to_string(), ">r3conc:le".to_string()]);
    let setuser: Vec<&str> = setuser.iter().map(String::as_str).collect();
    assert_eq!(cli(&redis, &setuser).trim(), "OK");
    pending(&redis, "lost", Some("created"), Duration::from_secs(60));
    pending(&redis, "gone", None, Duration::from_secs(60));
    let as_reconciler = ReconcilerOptions {
        user: Some("reconciler".to_string()),
        password: Some("r3conc:le".to_string()),
        ..options(&redis)
    };
    assert_eq!(
        reconcile_once(&as_reconciler).unwrap(),
        Reconciled {
            republished: 1,
            dropped: 1
        }
    );
    let wrong = ReconcilerOptions {
        password: Some("not-it".to_string()),
        ..as_reconciler.clone()
    };
    let error = reconcile_once(&wrong).unwrap_err().to_string();
    assert!(error.contains("WRONGPASS"), "{error}");
    // Another prefix is outside its keys.
    let elsewhere = ReconcilerOptions {
        key_prefix: "other:".to_string(),
        ..as_reconciler
    };
    let error = reconcile_once(&elsewhere).unwrap_err().to_string();
    assert!(error.contains("NOPERM"), "{error}");
}
