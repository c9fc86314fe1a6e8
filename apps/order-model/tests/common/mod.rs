//! What the Redis-backed tests share: a real `redis-server` per test (`Fixture`), with the
//! store on a client that flattens replies the way Spin's outbound Redis does
//! (`order_model::redis_client`), and request and message helpers.

#![allow(dead_code)] // each test file uses its own subset

use dev_services::RedisServer;
use order_model::api::Request;
use order_model::redis_client::RedisConnection;
use order_model::{Body, KeySpace, NewOrder, OrderMessage, OrderStore};

pub struct Fixture {
    /// Stops with the fixture.
    pub server: RedisServer,
    client: redis::Client,
}

impl Fixture {
    pub fn new() -> Fixture {
        let server = RedisServer::start().unwrap();
        let client = redis::Client::open(server.url()).unwrap();
        Fixture { server, client }
    }

    pub fn store(&self) -> OrderStore<RedisConnection> {
        let conn = self.client.get_connection().unwrap();
        OrderStore::new(RedisConnection::new(conn), KeySpace::default(), "neworders")
    }

    pub fn raw(&self) -> redis::Connection {
        self.client.get_connection().unwrap()
    }
}

pub fn order(details: &str) -> NewOrder {
    NewOrder {
        details: details.into(),
    }
}

pub fn post<'a>(body: &'a [u8], idempotency_key: Option<&'a [u8]>) -> Request<'a> {
    Request {
        method: "POST",
        path_info: "",
        content_type: Some(b"application/json"),
        idempotency_key,
        traceparent: None,
        body: Body::Complete(body),
    }
}

pub fn get(path_info: &str) -> Request<'_> {
    Request {
        method: "GET",
        path_info,
        content_type: None,
        idempotency_key: None,
        traceparent: None,
        body: Body::Complete(b""),
    }
}

/// Every message published on a `neworders*` channel until `count` have arrived: (channel, message).
pub fn collect(pubsub: &mut redis::PubSub<'_>, count: usize) -> Vec<(String, OrderMessage)> {
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

pub fn redis_now_ms(raw: &mut redis::Connection) -> i64 {
    let (secs, micros): (i64, i64) = redis::cmd("TIME").query(raw).unwrap();
    secs * 1000 + micros / 1000
}

/// A valid W3C `traceparent` (the specification's example).
pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
