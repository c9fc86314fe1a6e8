//! The new-order message published on the Redis channel: the seed's shape, plus the optional
//! trace context (docs/api.md, Redis formats).

use serde::{Deserialize, Serialize};

use crate::order::{OrderId, Status};
use crate::trace::{self, TraceParent};

/// `{"id":"<uuid>","details":"…","status":"created","traceparent":"00-…"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub id: OrderId,
    pub details: String,
    pub status: Status,
    /// The W3C trace context of the request that placed the order, when it came with one.
    /// Written only when known. A top-level member named `traceparent` is where the
    /// CloudEvents distributed-tracing convention puts it, and where a Redis trigger that
    /// traces (the embedded runtime's) reads its span's parent. Read leniently: a message
    /// without it, or with one that is not a valid `traceparent`, is the same order untraced.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "trace::lenient"
    )]
    pub traceparent: Option<TraceParent>,
}

impl OrderMessage {
    pub fn to_json(&self) -> String {
        // Serializing a struct of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a message from the channel; the error says why it was not one.
    pub fn from_json(payload: &[u8]) -> Result<OrderMessage, String> {
        serde_json::from_slice(payload).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_has_the_seed_shape() {
        let id = OrderId::new_random();
        let message = OrderMessage {
            id,
            details: "two pizzas".into(),
            status: Status::Created,
            traceparent: None,
        };
        let json: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"id": id.to_string(), "details": "two pizzas", "status": "created"})
        );
        assert_eq!(
            OrderMessage::from_json(message.to_json().as_bytes()),
            Ok(message)
        );
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_trace_context_is_a_top_level_traceparent_member_when_known() {
        let id = OrderId::new_random();
        let message = OrderMessage {
            id,
            details: "tea".into(),
            status: Status::Created,
            traceparent: Some(TRACEPARENT.parse().unwrap()),
        };
        let json: serde_json::Value = serde_json::from_str(&message.to_json()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "id": id.to_string(), "details": "tea", "status": "created",
                "traceparent": TRACEPARENT,
            })
        );
        assert_eq!(
            OrderMessage::from_json(message.to_json().as_bytes()),
            Ok(message)
        );
    }

    #[test]
    fn a_missing_or_malformed_traceparent_is_the_same_order_untraced() {
        let id = OrderId::new_random();
        let untraced = OrderMessage {
            id,
            details: "tea".into(),
            status: Status::Created,
            traceparent: None,
        };
        for traceparent in [
            None,
            Some(serde_json::json!(null)),
            Some(serde_json::json!("")),
            Some(serde_json::json!("00-not-a-trace-01")),
            Some(serde_json::json!(TRACEPARENT.to_uppercase())),
            Some(serde_json::json!(7)),
            Some(serde_json::json!({"traceparent": TRACEPARENT})),
        ] {
            let mut json =
                serde_json::json!({"id": id.to_string(), "details": "tea", "status": "created"});
            if let Some(value) = &traceparent {
                json["traceparent"] = value.clone();
            }
            assert_eq!(
                OrderMessage::from_json(json.to_string().as_bytes()),
                Ok(untraced.clone()),
                "{json}"
            );
        }
    }

    #[test]
    fn malformed_messages_say_why() {
        for (payload, needle) in [
            (&b"not json"[..], "expected"),
            (br#"{"id":"nope","details":"x","status":"created"}"#, "UUID"),
            (
                br#"{"id":"7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11","details":"x","status":"lost"}"#,
                "unknown variant",
            ),
            (
                br#"{"id":"7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11","status":"created"}"#,
                "details",
            ),
        ] {
            let why = OrderMessage::from_json(payload).unwrap_err();
            assert!(why.contains(needle), "{why}");
        }
    }
}
