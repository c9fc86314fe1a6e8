//! The order-flow metrics and alerts end to end, with real components only: a redis-server with
//! the chart's ACL users (`files/redis-acl.conf`), this repository's apps on the embedded runtime
//! each as its own user, the chart's reconciler script, Debian's redis_exporter running the
//! chart's `files/metrics.lua` as the read-only `metrics` user, and Debian's Prometheus scraping it
//! every second with the chart's relabelling (`files/metric-relabelings.yaml`) and evaluating the
//! chart's alerts (`files/prometheus-rules.yaml`, `noSubscriberFor` set to seconds).
//!
//! Orders posted while the fulfilment-processor is down are all pending in Prometheus, and
//! `OrderSystemNoSubscriber` goes pending, then firing; once it and the reconciler start, the
//! backlog drains to 0, the counters say every order was fulfilled, and the alert resolves.

#![allow(clippy::unwrap_used)]

mod redis_acl;

use std::io::Write;
use std::time::{Duration, Instant};

use dev_services::{ExporterOptions, Prometheus, PrometheusOptions, RedisExporter, RedisServer};
use order_e2e::harness::{Running, eventually, post_order, providers, wasm_dir, workspace_root};
use serde_json::Value;

const PREFIX: &str = "order:";
const CHANNEL: &str = "neworders";
const JOB: &str = "redis_exporter";
/// The orders posted while fulfilment is down.
const ORDERS: usize = 25;
/// `noSubscriberFor`: seconds here, so the alert fires within the test (5m by default).
const NO_SUBSCRIBER_FOR: &str = "4s";
/// How long Prometheus may take to show a change (a few scrape and evaluation intervals).
const SEEN_WITHIN: Duration = Duration::from_secs(30);

fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "metrics test: {line}");
}

fn start_as(app: &str, redis: &RedisServer) -> Running {
    wasm_dir();
    let port = redis.port().to_string();
    let password = redis_acl::encoded(&redis_acl::password(app));
    Running::start(
        &[workspace_root().join("apps").join(app).join("spin.toml")],
        providers(
            &[
                ("redis_port", &port),
                ("redis_user", app),
                ("redis_password", &password),
            ],
            &[],
        ),
    )
}

/// The one value of an instant query's vector, if it has exactly one series.
fn value(prometheus: &Prometheus, expr: &str) -> Option<f64> {
    let answer: Value = serde_json::from_str(&prometheus.query(expr).ok()?).ok()?;
    assert_eq!(answer["status"], "success", "{expr}: {answer}");
    let result = answer["data"]["result"].as_array()?;
    match result.as_slice() {
        [series] => series["value"][1].as_str()?.parse().ok(),
        _ => None,
    }
}

/// The active alerts named `name`: (state, labels).
fn alerts(prometheus: &Prometheus, name: &str) -> Vec<(String, Value)> {
    let answer: Value = serde_json::from_str(&prometheus.alerts().unwrap()).unwrap();
    answer["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["labels"]["alertname"] == name)
        .map(|alert| {
            (
                alert["state"].as_str().unwrap().to_string(),
                alert["labels"].clone(),
            )
        })
        .collect()
}

/// Waits until the query's one series equals `expected`.
fn wait_for_value(prometheus: &Prometheus, expr: &str, expected: f64) {
    let mut last = None;
    let deadline = Instant::now() + SEEN_WITHIN;
    while Instant::now() < deadline {
        last = value(prometheus, expr);
        if last == Some(expected) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "{expr} was {last:?}, not {expected}, after {SEEN_WITHIN:?}; Prometheus' log:\n{}",
        prometheus.log()
    );
}

#[test]
fn prometheus_sees_the_backlog_and_the_missing_subscriber_until_fulfilment_catches_up() {
    let started = Instant::now();
    let redis = redis_acl::redis_with_users(
        &[
            "order-processor",
            "fulfilment-processor",
            "reconciler",
            "metrics",
        ],
        PREFIX,
        CHANNEL,
    );
    let exporter = RedisExporter::start(&ExporterOptions {
        redis_url: format!(
            "redis://metrics:{}@127.0.0.1:{}",
            redis_acl::encoded(&redis_acl::password("metrics")),
            redis.port()
        ),
        key_prefix: PREFIX.to_string(),
        channel: CHANNEL.to_string(),
        shards: 1,
    })
    .unwrap();
    let selector = format!("job=\"{JOB}\"");
    let rules = dev_services::prometheus_rules(
        &selector,
        &[
            ("namespace", "local"),
            ("reconcilerCronJob", "order-system-reconciler"),
            ("noSubscriberFor", NO_SUBSCRIBER_FOR),
        ],
    )
    .unwrap();
    let prometheus = Prometheus::start(&PrometheusOptions {
        job: JOB.to_string(),
        target: exporter.address(),
        interval: Duration::from_secs(1),
        rules,
    })
    .unwrap();
    let pending = format!("order_system_orders_pending{{{selector}}}");
    let subscribers = format!("order_system_channel_subscribers{{{selector},shard=\"0\"}}");
    // The script runs as the metrics user, and the relabelling makes its figures metrics.
    wait_for_value(&prometheus, &format!("redis_up{{{selector}}}"), 1.0);
    wait_for_value(&prometheus, &pending, 0.0);

    // Fulfilment down: every order posted stays pending, and no one listens on the channel.
    let api = start_as("order-processor", &redis);
    for n in 0..ORDERS {
        let reply = post_order(api.address, &format!("order {n} while fulfilment is down"));
        assert_eq!(reply.status, 202, "{reply:?}");
    }
    wait_for_value(&prometheus, &pending, ORDERS as f64);
    wait_for_value(
        &prometheus,
        &format!("order_system_orders_accepted_total{{{selector}}}"),
        ORDERS as f64,
    );
    wait_for_value(
        &prometheus,
        &format!("order_system_shard_orders_pending{{{selector},shard=\"0\"}}"),
        ORDERS as f64,
    );
    wait_for_value(&prometheus, &subscribers, 0.0);
    let age = value(
        &prometheus,
        &format!("order_system_oldest_pending_order_age_seconds{{{selector}}}"),
    );
    assert!(age.is_some_and(|age| age >= 0.0), "{age:?}");
    // Pending first (for: NO_SUBSCRIBER_FOR), then firing, for shard 0.
    let mut states = Vec::new();
    eventually("OrderSystemNoSubscriber to fire", SEEN_WITHIN, || {
        let now = alerts(&prometheus, "OrderSystemNoSubscriber");
        for (state, labels) in &now {
            assert_eq!(labels["shard"], "0", "{labels}");
            assert_eq!(labels["severity"], "critical", "{labels}");
            if states.last() != Some(state) {
                states.push(state.clone());
            }
        }
        (states.last().map(String::as_str) == Some("firing")).then_some(())
    });
    assert_eq!(states, ["pending", "firing"], "the alert's states in order");
    report(&format!(
        "{ORDERS} pending and OrderSystemNoSubscriber firing {:.1?} in",
        started.elapsed()
    ));
    // Nothing else pages: no other alert of the rules is active.
    let answer: Value = serde_json::from_str(&prometheus.alerts().unwrap()).unwrap();
    let others: Vec<&Value> = answer["data"]["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["labels"]["alertname"] != "OrderSystemNoSubscriber")
        .collect();
    assert!(others.is_empty(), "{others:?}");

    // Fulfilment back, and the reconciler re-publishes what was posted while it was down.
    let _fulfilment = start_as("fulfilment-processor", &redis);
    let _reconciler = redis_acl::reconciler_as_its_user(&redis, PREFIX, CHANNEL);
    wait_for_value(&prometheus, &subscribers, 1.0);
    wait_for_value(&prometheus, &pending, 0.0);
    wait_for_value(
        &prometheus,
        &format!("order_system_orders_fulfilled_total{{{selector}}}"),
        ORDERS as f64,
    );
    let republished = value(
        &prometheus,
        &format!("order_system_orders_republished_total{{{selector}}}"),
    );
    assert!(
        republished.is_some_and(|count| count >= ORDERS as f64),
        "{republished:?}"
    );
    eventually("OrderSystemNoSubscriber to resolve", SEEN_WITHIN, || {
        alerts(&prometheus, "OrderSystemNoSubscriber")
            .is_empty()
            .then_some(())
    });
    report(&format!(
        "drained and resolved {:.1?} in",
        started.elapsed()
    ));
    drop(api);
    assert!(
        !exporter.log().contains("level=error"),
        "{}",
        exporter.log()
    );
}
