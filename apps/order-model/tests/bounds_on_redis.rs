#![allow(clippy::unwrap_used)] // test fixtures: a failure should panic with its cause
//! What keeps Redis bounded, against a real `redis-server`: retention (a fulfilled order and its
//! idempotency key expire, a pending one never does), the refusal to write to a Redis that may
//! evict keys, and Redis over `maxmemory` (new orders refused, accepted ones still fulfilled).

mod common;

use std::time::Duration;

use common::*;

use order_model::api;
use order_model::store::Accepted;
use order_model::{
    ApiError, FulfilOutcome, IdempotencyKey, OrderId, Placement, Retention, Status, StoreError,
};

fn pttl(fixture: &Fixture, key: &str) -> i64 {
    redis::cmd("PTTL")
        .arg(key)
        .query(&mut fixture.raw())
        .unwrap()
}

fn hget(fixture: &Fixture, key: &str, field: &str) -> Option<String> {
    redis::cmd("HGET")
        .arg(key)
        .arg(field)
        .query(&mut fixture.raw())
        .unwrap()
}

fn config_set(fixture: &Fixture, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(&mut fixture.raw())
        .unwrap();
}

fn retention(text: &str) -> Retention {
    Retention::parse(text).unwrap()
}

#[test]
fn a_fulfilled_order_expires_after_the_retention_and_a_pending_one_never() {
    let fixture = Fixture::new();
    let store = fixture.store().with_retention(retention("12h"));
    let [done, pending] = [OrderId::new_random(), OrderId::new_random()];
    for id in [done, pending] {
        store.accept(id, &order("tea"), None, None, 1).unwrap();
    }
    assert_eq!(store.fulfil(done, 2).unwrap(), FulfilOutcome::Fulfilled);
    let left = pttl(&fixture, &format!("order:{done}"));
    let twelve_hours = 12 * 3_600_000;
    assert!(
        (twelve_hours - 5_000..=twelve_hours).contains(&left),
        "{left}"
    );
    assert_eq!(pttl(&fixture, &format!("order:{pending}")), -1);
    // A repeated fulfilment changes nothing, the expiry included.
    assert_eq!(
        store
            .with_retention(retention("1d"))
            .fulfil(done, 3)
            .unwrap(),
        FulfilOutcome::AlreadyFulfilled
    );
    assert!(pttl(&fixture, &format!("order:{done}")) <= twelve_hours);
}

#[test]
fn an_idempotency_key_never_outlives_its_order() {
    let fixture = Fixture::new();
    let key = IdempotencyKey::parse(b"retry-1").unwrap();
    let short = fixture.store().with_retention(retention("1h"));
    let id = OrderId::new_random();
    short
        .accept(id, &order("tea"), Some(&key), None, 1)
        .unwrap();
    let day = IdempotencyKey::TTL_SECONDS * 1000;
    assert!(pttl(&fixture, "order:idempotency:retry-1") > day - 5_000);
    // While pending, the order names its key: fulfilment needs it to cap the key's life.
    let hash = format!("order:{id}");
    assert_eq!(
        hget(&fixture, &hash, "idempotency_key").as_deref(),
        Some("order:idempotency:retry-1")
    );
    short.fulfil(id, 2).unwrap();
    // Fulfilment has capped it, so the field is deleted in the same step: nothing reads it again,
    // and it would cost ~90 bytes per order for the whole retention.
    assert_eq!(hget(&fixture, &hash, "idempotency_key"), None);
    assert_eq!(
        hget(&fixture, &hash, "status").as_deref(),
        Some("fulfilled")
    );
    let (order_left, key_left) = (
        pttl(&fixture, &format!("order:{id}")),
        pttl(&fixture, "order:idempotency:retry-1"),
    );
    assert!(
        key_left <= order_left && key_left > 3_600_000 - 5_000,
        "{key_left} {order_left}"
    );

    // A retention longer than the key's own day leaves the key's shorter life alone.
    let key = IdempotencyKey::parse(b"retry-2").unwrap();
    let long = fixture.store().with_retention(retention("30d"));
    let id = OrderId::new_random();
    long.accept(id, &order("tea"), Some(&key), None, 1).unwrap();
    long.fulfil(id, 2).unwrap();
    let key_left = pttl(&fixture, "order:idempotency:retry-2");
    assert!(key_left <= day && key_left > day - 5_000, "{key_left}");
    assert_eq!(
        hget(&fixture, &format!("order:{id}"), "idempotency_key"),
        None
    );
}

#[test]
fn an_expired_order_is_gone_everywhere() {
    let fixture = Fixture::new();
    let store = || fixture.store().with_retention(retention("1s"));
    let key = IdempotencyKey::parse(b"once").unwrap();
    let id = OrderId::new_random();
    store()
        .accept(id, &order("tea"), Some(&key), None, 1)
        .unwrap();
    store().fulfil(id, 2).unwrap();
    std::thread::sleep(Duration::from_millis(1_300));

    let path = format!("/{id}");
    let response = api::status(&get(&path), || Ok(store()));
    assert_eq!(response.status, 404, "{}", response.body_text());
    // The reconciler has nothing to resurrect, and a late message finds no order.
    let reconciled = store().reconcile(0, 100).unwrap();
    assert_eq!((reconciled.republished, reconciled.dropped), (0, 0));
    assert_eq!(store().fulfil(id, 3).unwrap(), FulfilOutcome::UnknownOrder);
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut fixture.raw())
        .unwrap();
    // Only the order-flow counters stay.
    assert_eq!(keys, ["order:stats"]);
    // The key expired with the order: a retry makes a new order.
    let again = OrderId::new_random();
    assert_eq!(
        store()
            .accept(again, &order("tea"), Some(&key), None, 4)
            .unwrap(),
        Accepted::Created(again)
    );
}

#[test]
fn a_key_whose_order_is_gone_makes_a_new_order() {
    let fixture = Fixture::new();
    let key = IdempotencyKey::parse(b"stale").unwrap();
    let first = OrderId::new_random();
    fixture
        .store()
        .accept(first, &order("tea"), Some(&key), None, 1)
        .unwrap();
    // The order expired a moment before its key (they are not removed in the same instant).
    let _: () = redis::cmd("DEL")
        .arg(format!("order:{first}"))
        .query(&mut fixture.raw())
        .unwrap();
    let second = OrderId::new_random();
    assert_eq!(
        fixture
            .store()
            .accept(second, &order("tea"), Some(&key), None, 2)
            .unwrap(),
        Accepted::Created(second)
    );
    assert_eq!(
        fixture
            .store()
            .accept(OrderId::new_random(), &order("tea"), Some(&key), None, 3)
            .unwrap(),
        Accepted::Repeated(second, Status::Created)
    );
}

/// Every policy under which Redis evicts keys (redis.conf, MAXMEMORY POLICY).
const EVICTING_POLICIES: [&str; 7] = [
    "volatile-lru",
    "allkeys-lru",
    "volatile-lfu",
    "allkeys-lfu",
    "volatile-random",
    "allkeys-random",
    "volatile-ttl",
];

#[test]
fn nothing_is_written_to_a_redis_that_may_evict() {
    let fixture = Fixture::new();
    let pending = OrderId::new_random();
    fixture
        .store()
        .accept(pending, &order("before"), None, None, 1)
        .unwrap();
    let keys_before: i64 = redis::cmd("DBSIZE").query(&mut fixture.raw()).unwrap();
    for policy in EVICTING_POLICIES {
        config_set(&fixture, "maxmemory-policy", policy);
        let store = fixture.store();
        let refused = store.accept(OrderId::new_random(), &order("tea"), None, None, 2);
        assert_eq!(refused, Err(StoreError::Evicts(policy.into())));
        let response = api::receive(
            &post(br#"{"details":"tea"}"#, None),
            || Ok(fixture.store()),
            Placement::Message,
            |_| panic!("a refused order is not fulfilled"),
            OrderId::new_random(),
            2,
        );
        assert_eq!(response.status, 503);
        let problem: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(problem["type"], "urn:order-system:problem:store-evicts");
        let detail = problem["detail"].as_str().unwrap();
        assert!(
            detail.contains("maxmemory-policy")
                && detail.contains(policy)
                && detail.contains("noeviction"),
            "{detail}"
        );
        assert_eq!(
            store.fulfil(pending, 3),
            Err(StoreError::Evicts(policy.into()))
        );
        let why = store.reconcile(0, 100).unwrap_err().to_string();
        assert!(
            why.contains("maxmemory-policy") && why.contains(policy) && why.contains("noeviction"),
            "{why}"
        );
        let keys: i64 = redis::cmd("DBSIZE").query(&mut fixture.raw()).unwrap();
        assert_eq!(keys, keys_before, "{policy}: something was written");
    }
    config_set(&fixture, "maxmemory-policy", "noeviction");
    assert_eq!(
        fixture.store().fulfil(pending, 4).unwrap(),
        FulfilOutcome::Fulfilled
    );
}

#[test]
fn over_maxmemory_new_orders_are_refused_and_accepted_ones_still_fulfil() {
    let fixture = Fixture::new();
    let used: String = redis::cmd("INFO")
        .arg("memory")
        .query(&mut fixture.raw())
        .unwrap();
    let used: u64 = used
        .lines()
        .find_map(|line| line.strip_prefix("used_memory:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    config_set(&fixture, "maxmemory", &(used + 512 * 1024).to_string());
    let store = || fixture.store().with_retention(retention("2s"));
    let details = "x".repeat(1_000);
    let key_count = || -> i64 { redis::cmd("DBSIZE").query(&mut fixture.raw()).unwrap() };

    let mut accepted = Vec::new();
    let refusal = loop {
        let id = OrderId::new_random();
        let key = IdempotencyKey::parse(format!("k{}", accepted.len()).as_bytes()).unwrap();
        let before = key_count();
        match store().accept(id, &order(&details), Some(&key), None, 1) {
            Ok(Accepted::Created(_)) => accepted.push(id),
            Ok(other) => panic!("{other:?}"),
            Err(error) => {
                assert_eq!(key_count(), before, "a refused order left something behind");
                break error;
            }
        }
        assert!(accepted.len() < 5_000, "Redis never filled up");
    };
    assert!(
        accepted.len() > 100,
        "filled after {} orders",
        accepted.len()
    );
    let StoreError::Unavailable(cause) = &refusal else {
        panic!("{refusal:?}")
    };
    assert!(cause.contains("OOM"), "{cause}");
    let answer = api::Response::from(ApiError::from(refusal.clone()));
    assert_eq!(
        (answer.status, answer.header("retry-after")),
        (503, Some("2"))
    );

    // Accepted orders are still fulfilled (and re-published) while Redis is full…
    assert!(store().reconcile(0, 10).unwrap().republished > 0);
    for id in &accepted {
        assert_eq!(store().fulfil(*id, 2).unwrap(), FulfilOutcome::Fulfilled);
    }
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut fixture.raw())
        .unwrap();
    assert_eq!(pending, 0);
    // …and once their retention frees the memory, new orders are accepted again.
    std::thread::sleep(Duration::from_millis(2_500));
    let id = OrderId::new_random();
    assert_eq!(
        store().accept(id, &order(&details), None, None, 3).unwrap(),
        Accepted::Created(id)
    );
}

fn get(path_info: &str) -> api::Request<'_> {
    api::Request {
        method: "GET",
        path_info,
        content_type: None,
        idempotency_key: None,
        traceparent: None,
        body: order_model::Body::Complete(b""),
    }
}
