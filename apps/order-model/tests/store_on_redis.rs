#![allow(clippy::unwrap_used)] // test fixtures: a failure should panic with its cause
//! The store, the Lua scripts and the handlers against a real `redis-server`, through a client
//! that flattens replies the way Spin's outbound Redis does: accepting, idempotency, fulfilling,
//! reconciling, both placements and an outage. Trace context: traces_on_redis.rs; shards:
//! shards_on_redis.rs.

mod common;

use common::*;

use order_model::api::{self};
use order_model::fulfilment::{self, Handled};
use order_model::store::Accepted;
use order_model::{
    FulfilOutcome, IdempotencyKey, OrderId, OrderMessage, Placement, Reconciled, Status,
};

#[test]
fn accept_stores_indexes_and_publishes_in_one_step() {
    let fixture = Fixture::new();
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();

    let id = OrderId::new_random();
    let outcome = fixture
        .store()
        .accept(id, &order("two pizzas"), None, None, 1_000)
        .unwrap();
    assert_eq!(outcome, Accepted::Created(id));

    let message: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
    assert_eq!(
        OrderMessage::from_json(&message).unwrap(),
        OrderMessage {
            id,
            details: "two pizzas".into(),
            status: Status::Created,
            traceparent: None,
        }
    );
    let mut raw = fixture.raw();
    let fields: Vec<String> = redis::cmd("HMGET")
        .arg(format!("order:{id}"))
        .arg(&["id", "details", "status", "created_at"])
        .query(&mut raw)
        .unwrap();
    assert_eq!(
        fields,
        [
            id.to_string(),
            "two pizzas".into(),
            "created".into(),
            "1000".into()
        ]
    );
    let score: Option<i64> = redis::cmd("ZSCORE")
        .arg("order:pending")
        .arg(id.to_string())
        .query(&mut raw)
        .unwrap();
    assert_eq!(score, Some(1000));
}

#[test]
fn composed_placement_fulfils_before_answering_and_publishes_nothing() {
    let fixture = Fixture::new();
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    pubsub
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();

    let id = OrderId::new_random();
    let response = api::receive(
        &post(br#"{"details":"tea"}"#, None),
        || Ok(fixture.store()),
        Placement::Composed,
        |id| fulfilment::fulfil(&id.to_string(), || Ok(fixture.store()), 2),
        id,
        1,
    );
    assert_eq!(response.status, 202, "{}", response.body_text());
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(body["task"]["status"], "fulfilled");
    assert_eq!(
        fixture.store().find(id).unwrap().map(|order| order.status),
        Some(Status::Fulfilled)
    );
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut fixture.raw())
        .unwrap();
    assert_eq!(pending, 0);
    let published = pubsub.get_message();
    assert!(published.is_err(), "published {published:?}");
}

#[test]
fn composed_placement_leaves_an_unfulfilled_order_pending_for_the_reconciler() {
    let fixture = Fixture::new();
    let id = OrderId::new_random();
    let mut request = post(br#"{"details":"tea"}"#, None);
    request.traceparent = Some(TRACEPARENT.parse().unwrap());
    let response = api::receive(
        &request,
        || Ok(fixture.store()),
        Placement::Composed,
        |_| Err(order_model::FulfilError::StoreUnavailable("down".into())),
        id,
        1,
    );
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        (response.status, &body["task"]["status"]),
        (202, &serde_json::json!("created"))
    );
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    assert_eq!(fixture.store().reconcile(0, 10).unwrap().republished, 1);
    let message: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
    let message = OrderMessage::from_json(&message).unwrap();
    assert_eq!(message.id, id);
    // Published only now, yet in the trace of the request that placed it.
    assert_eq!(message.traceparent, request.traceparent);
}

#[test]
fn a_repeated_idempotency_key_returns_the_first_order_and_creates_nothing() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let key = IdempotencyKey::parse(b"req-1").unwrap();
    let first = OrderId::new_random();
    assert_eq!(
        store
            .accept(first, &order("a"), Some(&key), None, 1)
            .unwrap(),
        Accepted::Created(first)
    );
    let second = OrderId::new_random();
    assert_eq!(
        store
            .accept(second, &order("b"), Some(&key), None, 2)
            .unwrap(),
        Accepted::Repeated(first, Status::Created)
    );
    assert_eq!(store.find(second).unwrap(), None);
    let mut raw = fixture.raw();
    let ttl: i64 = redis::cmd("TTL")
        .arg("order:idempotency:req-1")
        .query(&mut raw)
        .unwrap();
    assert!(
        (IdempotencyKey::TTL_SECONDS - 5..=IdempotencyKey::TTL_SECONDS).contains(&ttl),
        "{ttl}"
    );
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut raw)
        .unwrap();
    assert_eq!(pending, 1);

    store.fulfil(first, 3).unwrap();
    assert_eq!(
        store
            .accept(OrderId::new_random(), &order("c"), Some(&key), None, 4)
            .unwrap(),
        Accepted::Repeated(first, Status::Fulfilled)
    );
    // Another key makes another order.
    let other = IdempotencyKey::parse(b"req-2").unwrap();
    let third = OrderId::new_random();
    assert_eq!(
        store
            .accept(third, &order("d"), Some(&other), None, 5)
            .unwrap(),
        Accepted::Created(third)
    );
}

#[test]
fn fulfil_moves_created_to_fulfilled_once_and_never_back() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let id = OrderId::new_random();
    store.accept(id, &order("x"), None, None, 10).unwrap();
    assert_eq!(store.fulfil(id, 20).unwrap(), FulfilOutcome::Fulfilled);
    assert_eq!(
        store.fulfil(id, 30).unwrap(),
        FulfilOutcome::AlreadyFulfilled
    );
    assert_eq!(store.find(id).unwrap().unwrap().status, Status::Fulfilled);
    assert_eq!(
        store.fulfil(OrderId::new_random(), 40).unwrap(),
        FulfilOutcome::UnknownOrder
    );
    let mut raw = fixture.raw();
    let fulfilled_at: String = redis::cmd("HGET")
        .arg(format!("order:{id}"))
        .arg("fulfilled_at")
        .query(&mut raw)
        .unwrap();
    assert_eq!(fulfilled_at, "20", "a repeat does not touch the record");
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut raw)
        .unwrap();
    assert_eq!(
        pending, 0,
        "fulfilment leaves the pending index in the same step"
    );
}

#[test]
fn reconcile_republishes_only_old_created_orders_and_prunes_the_rest() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let mut raw = fixture.raw();
    let now_ms: i64 = {
        let (secs, micros): (i64, i64) = redis::cmd("TIME").query(&mut raw).unwrap();
        secs * 1000 + micros / 1000
    };
    let old = now_ms - 60_000;
    let lost = [OrderId::new_random(), OrderId::new_random()];
    for id in lost {
        store
            .accept(id, &order("lost on the way"), None, None, old)
            .unwrap();
    }
    let done = OrderId::new_random();
    store.accept(done, &order("done"), None, None, old).unwrap();
    store.fulfil(done, now_ms).unwrap();
    let fresh = OrderId::new_random();
    store
        .accept(fresh, &order("just now"), None, None, now_ms)
        .unwrap();
    // An index entry whose record vanished (e.g. deleted by hand) is pruned, not re-published.
    let _: i64 = redis::cmd("ZADD")
        .arg("order:pending")
        .arg(old)
        .arg("ghost")
        .query(&mut raw)
        .unwrap();

    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    let outcome = store.reconcile(30_000, 100).unwrap();
    assert_eq!(
        outcome,
        Reconciled {
            republished: 2,
            dropped: 1
        }
    );

    let mut republished: Vec<OrderMessage> = (0..2)
        .map(|_| {
            let payload: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
            OrderMessage::from_json(&payload).unwrap()
        })
        .collect();
    republished.sort_by_key(|m| m.id.to_string());
    let mut expected: Vec<OrderMessage> = lost
        .iter()
        .map(|&id| OrderMessage {
            id,
            details: "lost on the way".into(),
            status: Status::Created,
            traceparent: None,
        })
        .collect();
    expected.sort_by_key(|m| m.id.to_string());
    assert_eq!(republished, expected);

    let pending: Vec<String> = redis::cmd("ZRANGE")
        .arg("order:pending")
        .arg(0)
        .arg(-1)
        .query(&mut raw)
        .unwrap();
    let mut want: Vec<String> = lost
        .iter()
        .chain([&fresh])
        .map(ToString::to_string)
        .collect();
    want.sort();
    let mut pending = pending;
    pending.sort();
    assert_eq!(
        pending, want,
        "lost orders stay pending until fulfilled; the fresh one waits its turn"
    );

    // Once the fulfiller has handled them, nothing is left to re-publish.
    for id in lost {
        store.fulfil(id, now_ms).unwrap();
    }
    assert_eq!(
        store.reconcile(30_000, 100).unwrap(),
        Reconciled {
            republished: 0,
            dropped: 0
        }
    );
    // A batch bound caps one run.
    let a_lot: Vec<OrderId> = (0..5).map(|_| OrderId::new_random()).collect();
    for &id in &a_lot {
        store.accept(id, &order("batch"), None, None, old).unwrap();
    }
    assert_eq!(store.reconcile(30_000, 3).unwrap().republished, 3);
}

#[test]
fn handlers_answer_the_contract_over_real_redis() {
    let fixture = Fixture::new();
    let id = OrderId::new_random();
    let response = api::receive(
        &post(br#"{"details":"tea"}"#, None),
        || Ok(fixture.store()),
        Placement::Message,
        |_| panic!("the message placement does not call fulfilment"),
        id,
        1,
    );
    assert_eq!(response.status, 202, "{}", response.body_text());
    assert_eq!(
        response.header("location"),
        Some(format!("/order/{id}").as_str())
    );
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"task": {"href": format!("/order/{id}"), "id": id.to_string(), "status": "created"}})
    );

    let path = format!("/{id}");
    let found = api::status(&get(&path), || Ok(fixture.store()));
    assert_eq!(found.status, 200);
    let body: serde_json::Value = serde_json::from_slice(&found.body).unwrap();
    assert_eq!(body["id"], id.to_string());
    assert_eq!(body["status"], "created");
    assert_eq!(
        (found.order_id, found.order_status),
        (Some(id), Some(Status::Created))
    );

    let handled = fulfilment::on_message(
        OrderMessage {
            id,
            details: "tea".into(),
            status: Status::Created,
            traceparent: None,
        }
        .to_json()
        .as_bytes(),
        |id| fulfilment::fulfil(&id.to_string(), || Ok(fixture.store()), 2),
    )
    .result
    .unwrap();
    assert_eq!(handled, Handled::Fulfilled(id));
    let body: serde_json::Value =
        serde_json::from_slice(&api::status(&get(&path), || Ok(fixture.store())).body).unwrap();
    assert_eq!(body["status"], "fulfilled");

    let missing = format!("/{}", OrderId::new_random());
    assert_eq!(
        api::status(&get(&missing), || Ok(fixture.store())).status,
        404
    );
}

#[test]
fn redis_going_away_is_503_with_retry_after() {
    let mut fixture = Fixture::new();
    let store = fixture.store();
    fixture.server.kill().unwrap();
    let response = api::receive(
        &post(br#"{"details":"tea"}"#, None),
        || Ok(store),
        Placement::Message,
        |_| panic!("nothing was stored"),
        OrderId::new_random(),
        1,
    );
    assert_eq!(response.status, 503, "{}", response.body_text());
    assert_eq!(response.header("retry-after"), Some("2"));
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
}

#[test]
fn the_scripts_count_accepted_fulfilled_and_republished_orders() {
    let fixture = Fixture::new();
    let counters = || -> (Option<i64>, Option<i64>, Option<i64>) {
        redis::cmd("HMGET")
            .arg("order:stats")
            .arg(&["accepted", "fulfilled", "republished"])
            .query(&mut fixture.raw())
            .unwrap()
    };
    assert_eq!(counters(), (None, None, None));
    let store = fixture.store();
    let key = IdempotencyKey::parse(b"once").unwrap();
    let ids: Vec<OrderId> = (0..3).map(|_| OrderId::new_random()).collect();
    for id in &ids {
        store.accept(*id, &order("tea"), None, None, 1).unwrap();
    }
    // A repeated key creates nothing and counts nothing.
    let keyed = OrderId::new_random();
    store
        .accept(keyed, &order("tea"), Some(&key), None, 1)
        .unwrap();
    store
        .accept(OrderId::new_random(), &order("tea"), Some(&key), None, 1)
        .unwrap();
    assert_eq!(counters(), (Some(4), None, None));
    let reconciled = store.reconcile(0, 2).unwrap();
    assert_eq!(reconciled.republished, 2);
    assert_eq!(counters(), (Some(4), None, Some(2)));
    store.fulfil(ids[0], 2).unwrap();
    // Repeats and unknown orders count nothing.
    store.fulfil(ids[0], 3).unwrap();
    store.fulfil(OrderId::new_random(), 3).unwrap();
    assert_eq!(counters(), (Some(4), Some(1), Some(2)));
}
