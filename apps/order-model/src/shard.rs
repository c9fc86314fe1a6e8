//! Fulfilment shards: which new-orders channel an order's message goes to.
//!
//! With `order_shards` = 1 (the default) every message goes to `order_channel` itself, as before
//! sharding existed. With N > 1 an order goes to `<order_channel>.<k>`, where `k` is the first 8
//! hex digits of its id (a random UUID v4, so evenly spread) as an integer, modulo N. Each
//! fulfilment-processor subscribes to one such channel, so N of them share the orders instead of
//! each handling all of them (Redis pub/sub delivers a message to every subscriber).
//!
//! `charts/order-system/files/reconcile.lua` computes the same shard in Lua (`shard_channel` there);
//! the tests on a real Redis pin that both agree.

use crate::order::OrderId;

/// The most shards: a channel suffix stays short, and a Deployment per shard stays manageable.
pub const MAX_SHARDS: u32 = 64;

/// The shard (0..`shards`) an order belongs to. `shards` must be at least 1.
pub fn shard_of(id: OrderId, shards: u32) -> u32 {
    let text = id.to_string();
    // A UUID's text always starts with 8 hex digits.
    let head = u32::from_str_radix(&text[..8], 16).unwrap_or_default();
    head % shards.max(1)
}

/// The channel of shard `shard` of `shards`: `channel` itself when there is one shard.
pub fn shard_channel(channel: &str, shard: u32, shards: u32) -> String {
    if shards <= 1 {
        channel.to_string()
    } else {
        format!("{channel}.{shard}")
    }
}

/// The channel an order's new-order message is published on.
pub fn channel_for(channel: &str, id: OrderId, shards: u32) -> String {
    shard_channel(channel, shard_of(id, shards), shards)
}

/// Parses the `order_shards` variable: an integer from 1 to [`MAX_SHARDS`].
pub fn parse_shards(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(n) if (1..=MAX_SHARDS).contains(&n) => Ok(n),
        _ => Err(format!(
            "must be a whole number from 1 to {MAX_SHARDS}, not `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_shard_is_the_plain_channel() {
        let id = OrderId::new_random();
        assert_eq!(channel_for("neworders", id, 1), "neworders");
    }

    #[test]
    fn shard_is_the_leading_hex_digits_modulo_n() {
        let id: OrderId = "ffffffff-6a4b-4a59-9d2e-3c1f6a0b9e11".parse().unwrap();
        assert_eq!(shard_of(id, 2), 1);
        assert_eq!(shard_of(id, 3), 0xffff_ffff % 3);
        assert_eq!(channel_for("neworders", id, 2), "neworders.1");
        let id: OrderId = "0000000a-6a4b-4a59-9d2e-3c1f6a0b9e11".parse().unwrap();
        assert_eq!(shard_of(id, 4), 2);
        assert_eq!(channel_for("c", id, 4), "c.2");
    }

    #[test]
    fn random_ids_spread_over_all_shards() {
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[shard_of(OrderId::new_random(), 3) as usize] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }

    #[test]
    fn shard_counts_outside_1_to_64_are_refused() {
        assert_eq!(parse_shards("2"), Ok(2));
        assert_eq!(parse_shards("64"), Ok(64));
        for bad in ["0", "65", "-1", "two", ""] {
            assert!(parse_shards(bad).unwrap_err().contains("1 to 64"), "{bad}");
        }
    }
}
