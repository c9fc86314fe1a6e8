//! Fulfilment as pure functions over the store: the step itself ([`fulfil`], which the
//! fulfilment component exports over the `order-system:fulfilment` WIT contract) and the
//! fulfiller's adapter from a new-order message to that step ([`on_message`]). It knows nothing
//! of HTTP: its errors are the WIT contract's.

use std::fmt;

use crate::message::OrderMessage;
use crate::order::{OrderId, Status};
use crate::store::{FulfilOutcome, OrderStore, Redis, StoreError};
use crate::trace::TraceParent;

/// What became of one message; the fulfiller logs it as the `outcome` of its line (the logging
/// module's `LogLine::redis_message`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Handled {
    Fulfilled(OrderId),
    AlreadyFulfilled(OrderId),
    UnknownOrder(OrderId),
    /// A well-formed message about an order that is not `created`: nothing to do.
    NotCreated(OrderId, Status),
    /// Not a new-order message at all; dropped so that one bad publisher cannot stall the trigger.
    Malformed(String),
}

/// One message and what became of it: [`on_message`]'s answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// The order the message named; `None` when it was not a new-order message.
    pub order_id: Option<OrderId>,
    /// The message's trace context (its `traceparent` member), when it had a valid one.
    pub trace: Option<TraceParent>,
    /// A failed call is an error (the trigger reports it); anything about the message itself
    /// is an `Ok` outcome.
    pub result: Result<Handled, FulfilError>,
}

/// Why [`fulfil`] changed nothing; the WIT contract's `error` variant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FulfilError {
    /// The id is not a UUID.
    InvalidId(String),
    /// The store was unreachable, refused or failed (or its Redis may evict keys, which an
    /// operator fixes); retrying may succeed.
    StoreUnavailable(String),
    /// A fault retrying will not fix: the store answered something this code does not
    /// understand (a bug), or its settings are invalid.
    Internal(String),
}

impl From<StoreError> for FulfilError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(why) => FulfilError::StoreUnavailable(why),
            evicts @ StoreError::Evicts(_) => FulfilError::StoreUnavailable(evicts.to_string()),
            StoreError::Internal(why) => FulfilError::Internal(why),
        }
    }
}

impl fmt::Display for FulfilError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FulfilError::InvalidId(why) => write!(f, "invalid order id: {why}"),
            FulfilError::StoreUnavailable(why) => write!(f, "order store unavailable: {why}"),
            FulfilError::Internal(why) => write!(f, "fulfilment fault: {why}"),
        }
    }
}

impl std::error::Error for FulfilError {}

/// The fulfilment step: `created` → `fulfilled` atomically for the order with id `id` (UUID
/// text). `connect` is called only for a well-formed id.
pub fn fulfil<R: Redis>(
    id: &str,
    connect: impl FnOnce() -> Result<OrderStore<R>, StoreError>,
    now_ms: i64,
) -> Result<FulfilOutcome, FulfilError> {
    let id: OrderId = id
        .parse()
        .map_err(|e: crate::order::InvalidOrderId| FulfilError::InvalidId(e.to_string()))?;
    Ok(connect().and_then(|store| store.fulfil(id, now_ms))?)
}

/// Handles one message (payload: a new-order message's JSON, docs/api.md) by calling `fulfil`
/// (the WIT call) for a new order. A failed call is an error (the trigger reports it);
/// everything about the message itself is an `Ok` outcome. The message's trace context is
/// read leniently: a missing or invalid one never changes what happens to the order.
pub fn on_message(
    payload: &[u8],
    fulfil: impl FnOnce(OrderId) -> Result<FulfilOutcome, FulfilError>,
) -> Delivery {
    let message = match OrderMessage::from_json(payload) {
        Ok(message) => message,
        Err(why) => {
            return Delivery {
                order_id: None,
                trace: None,
                result: Ok(Handled::Malformed(why)),
            };
        }
    };
    let id = message.id;
    let result = if message.status != Status::Created {
        Ok(Handled::NotCreated(id, message.status))
    } else {
        fulfil(id).map(|outcome| match outcome {
            FulfilOutcome::Fulfilled => Handled::Fulfilled(id),
            FulfilOutcome::AlreadyFulfilled => Handled::AlreadyFulfilled(id),
            FulfilOutcome::UnknownOrder => Handled::UnknownOrder(id),
        })
    };
    Delivery {
        order_id: Some(id),
        trace: message.traceparent,
        result,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySpace;
    use crate::store::{Arg, RedisError, Value};

    struct Down;

    impl Redis for Down {
        fn execute(&self, _: &str, _: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
            Err(RedisError("connection refused".into()))
        }
    }

    fn never_connect() -> Result<OrderStore<Down>, StoreError> {
        panic!("this message must not reach Redis")
    }

    fn never_fulfil(_: OrderId) -> Result<FulfilOutcome, FulfilError> {
        panic!("this message must not reach fulfilment")
    }

    #[test]
    fn malformed_messages_are_dropped_with_the_reason() {
        for payload in [
            &b"garbage"[..],
            b"{}",
            br#"{"id":"x","details":"d","status":"created"}"#,
        ] {
            match on_message(payload, never_fulfil) {
                Delivery {
                    order_id: None,
                    trace: None,
                    result: Ok(Handled::Malformed(why)),
                } => assert!(!why.is_empty()),
                other => panic!("{payload:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn messages_about_fulfilled_orders_do_not_touch_redis() {
        let id = OrderId::new_random();
        let payload = format!(r#"{{"id":"{id}","details":"d","status":"fulfilled"}}"#);
        assert_eq!(
            on_message(payload.as_bytes(), never_fulfil).result,
            Ok(Handled::NotCreated(id, Status::Fulfilled))
        );
    }

    #[test]
    fn a_failed_call_fails_the_message() {
        let id = OrderId::new_random();
        let payload = format!(r#"{{"id":"{id}","details":"d","status":"created"}}"#);
        let down = |called: OrderId| {
            assert_eq!(called, id);
            Err(FulfilError::StoreUnavailable("down".into()))
        };
        assert_eq!(
            on_message(payload.as_bytes(), down),
            Delivery {
                order_id: Some(id),
                trace: None,
                result: Err(FulfilError::StoreUnavailable("down".into()))
            }
        );
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_trace_context_comes_along_and_a_bad_one_never_costs_the_order() {
        let id = OrderId::new_random();
        let fulfilled = |called: OrderId| {
            assert_eq!(called, id);
            Ok(FulfilOutcome::Fulfilled)
        };
        let traced = format!(
            r#"{{"id":"{id}","details":"d","status":"created","traceparent":"{TRACEPARENT}"}}"#
        );
        assert_eq!(
            on_message(traced.as_bytes(), fulfilled),
            Delivery {
                order_id: Some(id),
                trace: Some(TRACEPARENT.parse().unwrap()),
                result: Ok(Handled::Fulfilled(id)),
            }
        );
        for bad in [
            r#""00-00000000000000000000000000000000-00f067aa0ba902b7-01""#,
            r#""not a traceparent""#,
            "12",
            "null",
            r#"{"nested":true}"#,
        ] {
            let payload =
                format!(r#"{{"id":"{id}","details":"d","status":"created","traceparent":{bad}}}"#);
            assert_eq!(
                on_message(payload.as_bytes(), fulfilled),
                Delivery {
                    order_id: Some(id),
                    trace: None,
                    result: Ok(Handled::Fulfilled(id)),
                },
                "{payload}"
            );
        }
    }

    #[test]
    fn store_failures_are_unavailable_and_faults_stay_faults() {
        let down = || Ok(OrderStore::new(Down, KeySpace::default(), "neworders"));
        let id = OrderId::new_random().to_string();
        match fulfil(&id, down, 0) {
            Err(FulfilError::StoreUnavailable(why)) => assert!(why.contains("connection refused")),
            other => panic!("{other:?}"),
        }
        let evicting = || -> Result<OrderStore<Down>, StoreError> {
            Err(StoreError::Evicts("allkeys-lru".into()))
        };
        match fulfil(&id, evicting, 0) {
            Err(FulfilError::StoreUnavailable(why)) => {
                assert!(
                    why.contains("maxmemory-policy") && why.contains("allkeys-lru"),
                    "{why}"
                )
            }
            other => panic!("{other:?}"),
        }
        // A bug or a bad setting is not an outage: retrying will not help.
        let unconfigured = || -> Result<OrderStore<Down>, StoreError> {
            Err(StoreError::Internal("configuration: bad".into()))
        };
        assert_eq!(
            fulfil(&id, unconfigured, 0),
            Err(FulfilError::Internal("configuration: bad".into()))
        );
    }

    #[test]
    fn ids_that_are_not_uuids_never_reach_the_store() {
        for id in [
            "",
            "42",
            "not-a-uuid",
            "0b4c5f9e-2d1a-4e7b-9c3f-6a8d2e1f0b7",
        ] {
            assert!(
                matches!(fulfil(id, never_connect, 0), Err(FulfilError::InvalidId(_))),
                "{id:?}"
            );
        }
    }
}
