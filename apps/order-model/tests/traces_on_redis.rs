#![allow(clippy::unwrap_used)] // test fixtures: a failure should panic with its cause
//! The order's W3C trace context in the store against a real `redis-server`: kept in the message
//! and the hash, re-published by the reconciler, and never in the way of fulfilment.

mod common;

use common::*;

use order_model::api::{self};
use order_model::fulfilment::{self, Handled};
use order_model::{OrderId, OrderMessage, Placement, Status, TraceParent};

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
