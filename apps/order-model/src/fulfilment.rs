//! The fulfiller's work on one new-order message, as a pure function over the store.

use std::fmt;

use crate::message::OrderMessage;
use crate::order::{OrderId, Status};
use crate::problem::ApiError;
use crate::store::{FulfilOutcome, OrderStore, Redis};

/// What became of one message; its `Display` is the one log line the fulfiller writes.
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

impl fmt::Display for Handled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Handled::Fulfilled(id) => write!(f, "order {id} fulfilled"),
            Handled::AlreadyFulfilled(id) => {
                write!(f, "order {id} was already fulfilled; nothing changed")
            }
            Handled::UnknownOrder(id) => write!(f, "order {id} is unknown; message ignored"),
            Handled::NotCreated(id, status) => {
                write!(f, "message for order {id} has status {status}; ignored")
            }
            Handled::Malformed(why) => write!(f, "malformed message dropped: {why}"),
        }
    }
}

/// Handles one message. Store failures are errors (the trigger reports them); everything about
/// the message itself is an `Ok` outcome.
pub fn on_message<R: Redis>(
    payload: &[u8],
    connect: impl FnOnce() -> Result<OrderStore<R>, ApiError>,
    now_ms: i64,
) -> Result<Handled, ApiError> {
    let message = match OrderMessage::from_json(payload) {
        Ok(message) => message,
        Err(why) => return Ok(Handled::Malformed(why)),
    };
    if message.status != Status::Created {
        return Ok(Handled::NotCreated(message.id, message.status));
    }
    Ok(match connect()?.fulfil(message.id, now_ms)? {
        FulfilOutcome::Fulfilled => Handled::Fulfilled(message.id),
        FulfilOutcome::AlreadyFulfilled => Handled::AlreadyFulfilled(message.id),
        FulfilOutcome::UnknownOrder => Handled::UnknownOrder(message.id),
    })
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

    fn never_connect() -> Result<OrderStore<Down>, ApiError> {
        panic!("this message must not reach Redis")
    }

    #[test]
    fn malformed_messages_are_dropped_with_the_reason() {
        for payload in [
            &b"garbage"[..],
            b"{}",
            br#"{"id":"x","details":"d","status":"created"}"#,
        ] {
            match on_message(payload, never_connect, 0) {
                Ok(Handled::Malformed(why)) => {
                    assert!(!why.is_empty());
                    let line = Handled::Malformed(why).to_string();
                    assert!(
                        line.starts_with("malformed message dropped: ") && !line.contains('\n')
                    );
                }
                other => panic!("{payload:?}: {other:?}"),
            }
        }
    }

    #[test]
    fn messages_about_fulfilled_orders_do_not_touch_redis() {
        let id = OrderId::new_random();
        let payload = format!(r#"{{"id":"{id}","details":"d","status":"fulfilled"}}"#);
        assert_eq!(
            on_message(payload.as_bytes(), never_connect, 0),
            Ok(Handled::NotCreated(id, Status::Fulfilled))
        );
    }

    #[test]
    fn store_failures_fail_the_message() {
        let id = OrderId::new_random();
        let payload = format!(r#"{{"id":"{id}","details":"d","status":"created"}}"#);
        let down = || Ok(OrderStore::new(Down, KeySpace::default(), "neworders"));
        assert!(matches!(
            on_message(payload.as_bytes(), down, 0),
            Err(ApiError::StoreUnavailable(_))
        ));
    }
}
