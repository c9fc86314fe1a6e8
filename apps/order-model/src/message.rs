//! The new-order message published on the Redis channel (the seed's shape).

use serde::{Deserialize, Serialize};

use crate::order::{OrderId, Status};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub id: OrderId,
    pub details: String,
    pub status: Status,
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
