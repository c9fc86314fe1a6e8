//! Redis key names. Every key starts with one prefix (default `order:`), so the data of several
//! installations can share a Redis and be found with one `SCAN`.

use crate::order::OrderId;
use crate::request::IdempotencyKey;

pub const DEFAULT_PREFIX: &str = "order:";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySpace {
    prefix: String,
}

impl Default for KeySpace {
    fn default() -> Self {
        Self::new(DEFAULT_PREFIX)
    }
}

impl KeySpace {
    pub fn new(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
        }
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The hash holding one order: `id`, `details`, `status`, `created_at`, `fulfilled_at`.
    pub fn order(&self, id: OrderId) -> String {
        format!("{}{id}", self.prefix)
    }

    /// The sorted set of orders accepted but not yet fulfilled, scored by acceptance time in ms.
    pub fn pending(&self) -> String {
        format!("{}pending", self.prefix)
    }

    /// The hash of order-flow counters the scripts keep: `accepted`, `fulfilled`, `republished`
    /// (docs/observability.md, Metrics).
    pub fn stats(&self) -> String {
        format!("{}stats", self.prefix)
    }

    /// The string remembering which order an `Idempotency-Key` created.
    pub fn idempotency(&self, key: &IdempotencyKey) -> String {
        format!("{}idempotency:{}", self.prefix, key.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_prefix_and_never_collide() {
        let keys = KeySpace::default();
        let id: OrderId = "7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11".parse().unwrap();
        let idem = IdempotencyKey::parse(b"pending").unwrap();
        assert_eq!(keys.order(id), "order:7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11");
        assert_eq!(keys.pending(), "order:pending");
        assert_eq!(keys.idempotency(&idem), "order:idempotency:pending");
        // An order key is always prefix + UUID, so it can never equal the other two.
        assert_ne!(keys.idempotency(&idem), keys.pending());
        assert_eq!(keys.stats(), "order:stats");
        assert_eq!(KeySpace::new("shop1:").pending(), "shop1:pending");
    }
}
