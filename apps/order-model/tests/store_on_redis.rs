#![allow(clippy::unwrap_used)] // test fixtures: a failure should panic with its cause
//! The store, the Lua scripts and the handlers against a real `redis-server`, through a client
//! that flattens replies the way Spin's outbound Redis does.

use std::sync::Mutex;

use dev_services::RedisServer;
use order_model::api::{self, Request};
use order_model::fulfilment::{self, Handled};
use order_model::store::Accepted;
use order_model::{
    Arg, Body, FulfilOutcome, IdempotencyKey, KeySpace, NewOrder, OrderId, OrderMessage,
    OrderStore, Placement, Reconciled, Redis, RedisError, Status, TraceParent, Value,
};

struct SpinLike(Mutex<redis::Connection>);

impl Redis for SpinLike {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
        let mut cmd = redis::cmd(command);
        for arg in args {
            match arg {
                Arg::Int(i) => cmd.arg(*i),
                Arg::Bytes(b) => cmd.arg(*b),
            };
        }
        let mut conn = self.0.lock().unwrap();
        let reply: redis::Value = cmd
            .query(&mut *conn)
            .map_err(|e| RedisError(e.to_string()))?;
        let mut out = Vec::new();
        flatten(reply, &mut out);
        Ok(out)
    }
}

fn flatten(value: redis::Value, out: &mut Vec<Value>) {
    match value {
        redis::Value::Nil => out.push(Value::Nil),
        redis::Value::Int(i) => out.push(Value::Int(i)),
        redis::Value::BulkString(b) => out.push(Value::Bytes(b)),
        redis::Value::SimpleString(s) => out.push(Value::Status(s)),
        redis::Value::Okay => out.push(Value::Status("OK".into())),
        redis::Value::Array(items) => items.into_iter().for_each(|v| flatten(v, out)),
        other => panic!("reply type Spin does not pass on: {other:?}"),
    }
}

struct Fixture {
    _server: RedisServer,
    client: redis::Client,
}

impl Fixture {
    fn new() -> Fixture {
        let server = RedisServer::start().unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        Fixture {
            _server: server,
            client,
        }
    }

    fn store(&self) -> OrderStore<SpinLike> {
        let conn = self.client.get_connection().unwrap();
        OrderStore::new(SpinLike(Mutex::new(conn)), KeySpace::default(), "neworders")
    }

    fn raw(&self) -> redis::Connection {
        self.client.get_connection().unwrap()
    }
}

fn order(details: &str) -> NewOrder {
    NewOrder {
        details: details.into(),
    }
}

fn post<'a>(body: &'a [u8], idempotency_key: Option<&'a [u8]>) -> Request<'a> {
    Request {
        method: "POST",
        path_info: "",
        content_type: Some(b"application/json"),
        idempotency_key,
        traceparent: None,
        body: Body::Complete(body),
    }
}

fn get(path_info: &str) -> Request<'_> {
    Request {
        method: "GET",
        path_info,
        content_type: None,
        idempotency_key: None,
        traceparent: None,
        body: Body::Complete(b""),
    }
}

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

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The JSON members of a published message, as written (not as `OrderMessage` reads them).
fn members(payload: &[u8]) -> serde_json::Map<String, serde_json::Value> {
    match serde_json::from_slice(payload).unwrap() {
        serde_json::Value::Object(members) => members,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn a_traced_order_carries_its_traceparent_in_the_message_and_the_hash() {
    let fixture = Fixture::new();
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();

    let id = OrderId::new_random();
    let trace: TraceParent = TRACEPARENT.parse().unwrap();
    let mut request = post(br#"{"details":"traced tea"}"#, None);
    request.traceparent = Some(trace);
    let response = api::receive(
        &request,
        || Ok(fixture.store()),
        Placement::Message,
        |_| panic!("the message placement does not call fulfilment"),
        id,
        1,
    );
    assert_eq!(response.status, 202, "{}", response.body_text());

    let payload: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
    assert_eq!(members(&payload)["traceparent"], TRACEPARENT);
    assert_eq!(
        OrderMessage::from_json(&payload).unwrap().traceparent,
        Some(trace)
    );
    let stored: Option<String> = redis::cmd("HGET")
        .arg(format!("order:{id}"))
        .arg("traceparent")
        .query(&mut fixture.raw())
        .unwrap();
    assert_eq!(stored.as_deref(), Some(TRACEPARENT));

    // Untraced: no member, no field (not an empty one).
    let untraced = OrderId::new_random();
    fixture
        .store()
        .accept(untraced, &order("plain tea"), None, None, 2)
        .unwrap();
    let payload: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
    assert!(!members(&payload).contains_key("traceparent"));
    let exists: bool = redis::cmd("HEXISTS")
        .arg(format!("order:{untraced}"))
        .arg("traceparent")
        .query(&mut fixture.raw())
        .unwrap();
    assert!(!exists);
}

#[test]
fn the_reconciler_republishes_an_order_in_its_original_trace() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let trace: TraceParent = TRACEPARENT.parse().unwrap();
    let traced = OrderId::new_random();
    let untraced = OrderId::new_random();
    store
        .accept(traced, &order("traced"), None, Some(&trace), 1)
        .unwrap();
    store
        .accept(untraced, &order("untraced"), None, None, 1)
        .unwrap();
    // An order stored before orders had traces: a hash written by hand, field by field as the
    // old accept script did.
    let old = OrderId::new_random();
    let mut raw = fixture.raw();
    let _: () = redis::cmd("HSET")
        .arg(format!("order:{old}"))
        .arg(&[
            "id",
            &old.to_string(),
            "details",
            "old",
            "status",
            "created",
            "created_at",
            "1",
        ])
        .query(&mut raw)
        .unwrap();
    let _: () = redis::cmd("ZADD")
        .arg("order:pending")
        .arg(1)
        .arg(old.to_string())
        .query(&mut raw)
        .unwrap();

    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe("neworders").unwrap();
    assert_eq!(store.reconcile(0, 10).unwrap().republished, 3);
    let mut seen = std::collections::HashMap::new();
    for _ in 0..3 {
        let payload: Vec<u8> = pubsub.get_message().unwrap().get_payload().unwrap();
        let members = members(&payload);
        let message = OrderMessage::from_json(&payload).unwrap();
        seen.insert(message.id, (members.get("traceparent").cloned(), message));
    }
    assert_eq!(seen[&traced].0, Some(serde_json::json!(TRACEPARENT)));
    assert_eq!(seen[&traced].1.traceparent, Some(trace));
    for id in [untraced, old] {
        assert_eq!(seen[&id].0, None, "no member at all, not false or null");
        assert_eq!(seen[&id].1.status, Status::Created);
    }

    // Every one of them is fulfilled from its re-published message.
    for (_, message) in seen.values() {
        let delivery = fulfilment::on_message(message.to_json().as_bytes(), |id| {
            fulfilment::fulfil(&id.to_string(), || Ok(fixture.store()), 5)
        });
        assert_eq!(delivery.result, Ok(Handled::Fulfilled(message.id)));
        assert_eq!(delivery.trace, message.traceparent);
    }
}

#[test]
fn a_message_with_a_malformed_traceparent_is_fulfilled_all_the_same() {
    let fixture = Fixture::new();
    let id = OrderId::new_random();
    fixture
        .store()
        .accept(id, &order("tea"), None, None, 1)
        .unwrap();
    let payload = format!(
        r#"{{"id":"{id}","details":"tea","status":"created","traceparent":"00-{}-00f067aa0ba902b7-01"}}"#,
        "0".repeat(32)
    );
    let delivery = fulfilment::on_message(payload.as_bytes(), |id| {
        fulfilment::fulfil(&id.to_string(), || Ok(fixture.store()), 2)
    });
    assert_eq!(delivery.result, Ok(Handled::Fulfilled(id)));
    assert_eq!(delivery.trace, None);
    assert_eq!(
        fixture.store().find(id).unwrap().unwrap().status,
        Status::Fulfilled
    );
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
    fixture._server.kill().unwrap();
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

/// Every message published on a `neworders*` channel until `count` have arrived: (channel, message).
fn collect(pubsub: &mut redis::PubSub<'_>, count: usize) -> Vec<(String, OrderMessage)> {
    (0..count)
        .map(|_| {
            let message = pubsub.get_message().unwrap();
            let payload: Vec<u8> = message.get_payload().unwrap();
            (
                message.get_channel_name().to_string(),
                OrderMessage::from_json(&payload).unwrap(),
            )
        })
        .collect()
}

fn redis_now_ms(raw: &mut redis::Connection) -> i64 {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(raw).unwrap();
    secs * 1000 + micros / 1000
}

#[test]
fn accept_and_the_reconciler_pick_the_same_shard_for_every_order() {
    let fixture = Fixture::new();
    let store = fixture.store().with_shards(3);
    let mut raw = fixture.raw();
    let old = redis_now_ms(&mut raw) - 60_000;
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.psubscribe("neworders*").unwrap();

    let ids: Vec<OrderId> = (0..300).map(|_| OrderId::new_random()).collect();
    for &id in &ids {
        store
            .accept(id, &order("sharded"), None, None, old)
            .unwrap();
    }
    let accepted = collect(&mut pubsub, ids.len());
    for (channel, message) in &accepted {
        assert_eq!(
            *channel,
            format!("neworders.{}", order_model::shard::shard_of(message.id, 3)),
            "the receiver publishes on the order's shard (Rust)"
        );
    }
    assert!(
        ["neworders.0", "neworders.1", "neworders.2"]
            .iter()
            .all(|shard| accepted.iter().any(|(channel, _)| channel == shard)),
        "300 random ids reach every shard"
    );

    assert_eq!(store.reconcile(30_000, 1000).unwrap().republished, 300);
    let mut republished = collect(&mut pubsub, ids.len());
    let mut accepted = accepted;
    accepted.sort_by_key(|(_, m)| m.id.to_string());
    republished.sort_by_key(|(_, m)| m.id.to_string());
    assert_eq!(
        republished, accepted,
        "the reconciler's Lua picks the same channel as the receiver's Rust for every id"
    );
}

#[test]
fn one_shard_publishes_on_the_plain_channel_as_before_sharding() {
    let fixture = Fixture::new();
    let store = fixture.store();
    let mut raw = fixture.raw();
    let old = redis_now_ms(&mut raw) - 60_000;
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.psubscribe("neworders*").unwrap();
    let id = OrderId::new_random();
    store.accept(id, &order("plain"), None, None, old).unwrap();
    store.reconcile(30_000, 10).unwrap();
    let channels: Vec<String> = collect(&mut pubsub, 2)
        .into_iter()
        .map(|(c, _)| c)
        .collect();
    assert_eq!(channels, ["neworders", "neworders"]);
}

#[test]
fn orders_published_under_three_shards_are_fulfilled_by_the_two_that_run_after_a_change() {
    let fixture = Fixture::new();
    let mut raw = fixture.raw();
    let old = redis_now_ms(&mut raw) - 60_000;
    let before = fixture.store().with_shards(3);
    let ids: Vec<OrderId> = (0..60).map(|_| OrderId::new_random()).collect();
    for &id in &ids {
        // Published to neworders.0..2 while nobody listens: lost, as pub/sub loses them.
        before
            .accept(id, &order("resharded"), None, None, old)
            .unwrap();
    }
    assert!(
        ids.iter()
            .any(|&id| order_model::shard::shard_of(id, 3) == 2),
        "some orders went to shard 2, which no longer runs"
    );

    // Now only the fulfillers of shards 0 and 1 of N = 2 subscribe; the reconciler runs with N = 2.
    let after = fixture.store().with_shards(2);
    let mut subscriber = fixture.raw();
    let mut pubsub = subscriber.as_pubsub();
    pubsub.subscribe(&["neworders.0", "neworders.1"]).unwrap();
    assert_eq!(after.reconcile(30_000, 1000).unwrap().republished, 60);
    let fulfiller = fixture.store();
    for (channel, message) in collect(&mut pubsub, ids.len()) {
        assert_eq!(
            channel,
            format!("neworders.{}", order_model::shard::shard_of(message.id, 2))
        );
        assert_eq!(
            fulfiller.fulfil(message.id, old + 1).unwrap(),
            FulfilOutcome::Fulfilled
        );
    }
    for id in ids {
        assert_eq!(
            fulfiller.find(id).unwrap().unwrap().status,
            Status::Fulfilled
        );
    }
    let pending: i64 = redis::cmd("ZCARD")
        .arg("order:pending")
        .query(&mut raw)
        .unwrap();
    assert_eq!(pending, 0, "every pending order was fulfilled");
}

#[test]
fn the_reconciler_refuses_a_bad_shard_count() {
    let fixture = Fixture::new();
    let mut raw = fixture.raw();
    for bad in ["0", "1.5", "x"] {
        let error = redis::cmd("EVAL")
            .arg(order_model::store::RECONCILE_SCRIPT)
            .arg(1)
            .arg("order:pending")
            .arg("neworders")
            .arg("order:")
            .arg(0)
            .arg(10)
            .arg(bad)
            .query::<redis::Value>(&mut raw)
            .unwrap_err();
        assert!(error.to_string().contains("at least 1"), "{bad}: {error}");
    }
}
