#![allow(clippy::unwrap_used)] // test fixtures: a failure should panic with its cause
//! Fulfilment shards against a real `redis-server`: the receiver and the reconciler pick the same
//! shard, one shard is the plain channel, and a change of the shard count strands no order.

mod common;

use common::*;

use order_model::{FulfilOutcome, OrderId, Status};

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
