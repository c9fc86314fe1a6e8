//! Orders, their ids and the statuses they move through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A server-assigned order id: a UUID, written in its hyphenated lower-case form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrderId(Uuid);

impl OrderId {
    /// A fresh random (version 4) id.
    pub fn new_random() -> Self {
        Self(Uuid::new_v4())
    }
}

impl From<Uuid> for OrderId {
    fn from(uuid: Uuid) -> Self {
        Self(uuid)
    }
}

/// Text that is not an order id (a hyphenated UUID): its first 64 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidOrderId(pub String);

impl fmt::Display for InvalidOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a hyphenated UUID", self.0)
    }
}

impl std::error::Error for InvalidOrderId {}

impl FromStr for OrderId {
    type Err = InvalidOrderId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Only the hyphenated form we hand out: not the simple, braced or URN spellings.
        let hyphenated = s.len() == 36;
        Uuid::try_parse(s)
            .ok()
            .filter(|_| hyphenated)
            .map(Self)
            .ok_or_else(|| InvalidOrderId(s.chars().take(64).collect()))
    }
}

impl fmt::Display for OrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

/// Where an order is in its life. The only legal move is `Created` → `Fulfilled`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Fulfilled,
}

impl Status {
    pub const ALL: [Status; 2] = [Status::Created, Status::Fulfilled];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Fulfilled => "fulfilled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }

    /// The status after fulfilment, or why this status cannot be fulfilled.
    pub fn fulfil(self) -> Result<Status, TransitionError> {
        match self {
            Status::Created => Ok(Status::Fulfilled),
            Status::Fulfilled => Err(TransitionError::AlreadyFulfilled),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    AlreadyFulfilled,
}

impl fmt::Display for TransitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionError::AlreadyFulfilled => f.write_str("order is already fulfilled"),
        }
    }
}

impl std::error::Error for TransitionError {}

/// An order as stored and as `GET /order/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRecord {
    pub id: OrderId,
    pub status: Status,
    pub details: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_fulfils_once() {
        assert_eq!(Status::Created.fulfil(), Ok(Status::Fulfilled));
        assert_eq!(
            Status::Fulfilled.fulfil(),
            Err(TransitionError::AlreadyFulfilled)
        );
    }

    #[test]
    fn status_strings_round_trip() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_string(&status).unwrap(),
                format!("\"{status}\"")
            );
        }
        assert_eq!(Status::parse("Created"), None);
        assert_eq!(Status::parse(""), None);
    }

    #[test]
    fn order_ids_are_uuids() {
        let id = OrderId::new_random();
        assert_eq!(id.to_string().parse::<OrderId>(), Ok(id));
        assert_eq!(id.to_string().len(), 36);
        assert!(matches!(
            "not-a-uuid".parse::<OrderId>(),
            Err(InvalidOrderId(s)) if s == "not-a-uuid"
        ));
        assert!("".parse::<OrderId>().is_err());
        // The braced and URN forms are not ids we hand out.
        assert!(format!("{{{id}}}").parse::<OrderId>().is_err());
    }
}
