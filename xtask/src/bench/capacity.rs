//! Bytes per order in Redis, for the sizing in docs/capacity.md: a `redis-server` of its own
//! (started like the tests' and `cargo xtask up`'s, `noeviction`), and the apps' own store
//! (order-model's [`OrderStore`], the same Lua scripts the components run) on order-model's
//! `redis_client`, which hands replies over flattened, as Spin's outbound Redis does.
//!
//! For each kind of order: `FLUSHALL`, `INFO memory`'s `used_memory`, accept `orders` of them
//! (pending: hash, pending-index entry, idempotency key if any), `used_memory` again, fulfil them
//! all (the hash gains `fulfilled_at` and an expiry and loses its `idempotency_key` field, the
//! index entry goes), `used_memory` again, and once more after deleting the idempotency keys (what
//! their 24-hour expiry does).
//! The differences over the count are the figures; `MEMORY USAGE` of one order's hash (and of
//! its idempotency key) is the cross-check, without the keyspace's own per-key entries.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use serde::{Deserialize, Serialize};

use order_model::redis_client::RedisConnection;
use order_model::{
    Arg, FulfilOutcome, IdempotencyKey, KeySpace, NewOrder, OrderId, OrderStore, Redis, RedisError,
    Retention, TraceParent, Value,
};

/// Orders per kind in a full run; `--capacity-orders` sets it.
pub const DEFAULT_ORDERS: u64 = 10_000;
/// What a typical order says (40 characters).
pub const TYPICAL_DETAILS: &str = "two pizzas, one without olives, no onion";
/// A valid W3C `traceparent`, as a traced client sends it (55 characters).
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
/// Bytes in a mebibyte.
pub const MIB: f64 = 1024.0 * 1024.0;
/// Redis' `maxmemory` on the chart's default Redis: 75% of its 256Mi memory limit.
pub const CHART_MAXMEMORY: f64 = 192.0 * MIB;
/// The other size the docs size for.
pub const GIB: f64 = 1024.0 * MIB;
/// How long Redis gets to finish growing its tables (incremental rehashing, done by its cron
/// when idle) before `used_memory` is read.
const SETTLE: Duration = Duration::from_millis(300);
/// The budget per typical held order (fulfilled, with a traceparent and its Idempotency-Key
/// still alive): docs/capacity.md sizes with the ~700 bytes measured; past this the sizing there
/// no longer holds and must be measured again.
pub const TYPICAL_BUDGET_BYTES: f64 = 768.0;

/// What the order carries besides its details.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Extras {
    None,
    TraceParent,
    /// An `Idempotency-Key` of this many characters, and a traceparent.
    KeyAndTraceParent(usize),
}

/// One kind of order measured.
struct Kind {
    details_name: &'static str,
    details: String,
    extras: Extras,
}

fn kinds() -> Vec<Kind> {
    // The limit is 1024 characters (Unicode scalar values): in bytes that is 1024 to 4096.
    let ascii = "two pizzas, one without olives. "
        .chars()
        .cycle()
        .take(order_model::request::MAX_DETAILS_CHARS)
        .collect::<String>();
    let four_byte = "🍕".repeat(order_model::request::MAX_DETAILS_CHARS);
    let kind = |details_name, details: &str, extras| Kind {
        details_name,
        details: details.to_string(),
        extras,
    };
    vec![
        kind("typical", TYPICAL_DETAILS, Extras::None),
        kind("typical", TYPICAL_DETAILS, Extras::TraceParent),
        kind("typical", TYPICAL_DETAILS, Extras::KeyAndTraceParent(36)),
        kind("1024 ASCII", &ascii, Extras::None),
        kind("1024 ASCII", &ascii, Extras::KeyAndTraceParent(36)),
        kind("1024 × 4-byte UTF-8", &four_byte, Extras::None),
        kind(
            "1024 × 4-byte UTF-8",
            &four_byte,
            Extras::KeyAndTraceParent(order_model::request::MAX_IDEMPOTENCY_KEY_LEN),
        ),
    ]
}

/// One kind's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KindFigures {
    /// `typical`, `1024 ASCII`, `1024 × 4-byte UTF-8`.
    pub details: String,
    pub details_chars: usize,
    pub details_bytes: usize,
    /// Characters of the order's `Idempotency-Key`, if it had one.
    pub idempotency_key_chars: Option<usize>,
    pub traceparent: bool,
    /// `used_memory` growth per accepted, still pending order.
    pub pending_bytes_per_order: f64,
    /// `used_memory` growth per fulfilled order (held until its retention ends).
    pub fulfilled_bytes_per_order: f64,
    /// The same once the order's idempotency key has expired (24 h after acceptance at most),
    /// if it had one: the keys deleted, as their expiry does.
    #[serde(default)]
    pub key_expired_bytes_per_order: Option<f64>,
    /// `MEMORY USAGE` of one order's hash, pending and fulfilled.
    pub hash_usage_pending: u64,
    pub hash_usage_fulfilled: u64,
    /// `MEMORY USAGE` of one order's idempotency key, if it had one.
    pub key_usage: Option<u64>,
    /// `OBJECT ENCODING` of the fulfilled hash: `listpack` (compact) or `hashtable`.
    pub hash_encoding: String,
}

impl KindFigures {
    fn extras_text(&self) -> String {
        match (self.idempotency_key_chars, self.traceparent) {
            (Some(chars), _) => format!("Idempotency-Key ({chars} chars) + traceparent"),
            (None, true) => "traceparent".into(),
            (None, false) => "–".into(),
        }
    }
}

/// Every kind's figures, and where they were measured.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Capacity {
    pub redis_version: String,
    /// Orders per kind.
    pub orders: u64,
    pub kinds: Vec<KindFigures>,
}

impl Capacity {
    /// Measures every kind with `orders` orders each on a `redis-server` of its own.
    pub fn measure(orders: u64) -> Result<Capacity> {
        eprintln!("bench: bytes per order in Redis ({orders} orders per kind)");
        ensure!(orders >= 100, "measure at least 100 orders per kind");
        let server = dev_services::RedisServer::start().context("starting redis-server")?;
        let redis = Bench::connect(&server)?;
        let info = redis.info("server")?;
        let redis_version = info_field(&info, "redis_version")?.to_string();
        let store = OrderStore::new(&redis.0, KeySpace::default(), "neworders")
            .with_retention(Retention::default());
        let trace: TraceParent = TRACEPARENT.parse().context("the bench's traceparent")?;
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let kinds = kinds();
        // A first pass grows what the connection and Redis keep across orders (query buffer,
        // script cache) so that the first kind measured does not pay for it.
        if let Some(largest) = kinds.last() {
            measure_kind(&redis, &store, largest, &trace, 100, now_ms)?;
        }
        let mut figures = Vec::new();
        for kind in kinds {
            figures.push(measure_kind(&redis, &store, &kind, &trace, orders, now_ms)?);
        }
        drop(server);
        Ok(Capacity {
            redis_version,
            orders,
            kinds: figures,
        })
    }

    /// The typical order as it is held for most of its life: fulfilled, with an
    /// Idempotency-Key and a traceparent.
    pub fn typical_held(&self) -> Option<&KindFigures> {
        self.kinds.iter().find(|kind| {
            kind.details == "typical" && kind.idempotency_key_chars.is_some() && kind.traceparent
        })
    }

    /// Fails unless every figure is positive and finite and agrees with the cross-check.
    pub fn check_sane(&self) -> Result<()> {
        ensure!(!self.kinds.is_empty(), "no kind of order was measured");
        for kind in &self.kinds {
            let key_expired = kind.key_expired_bytes_per_order;
            // Each figure against its own state's hash: fulfilment adds `fulfilled_at` but
            // deletes the `idempotency_key` field, so either hash may be the larger.
            let (pending, fulfilled) = (kind.hash_usage_pending, kind.hash_usage_fulfilled);
            for (what, value, hash) in [
                ("pending", Some(kind.pending_bytes_per_order), pending),
                ("fulfilled", Some(kind.fulfilled_bytes_per_order), fulfilled),
                ("fulfilled, key expired,", key_expired, fulfilled),
            ]
            .into_iter()
            .filter_map(|(what, value, hash)| Some((what, value?, hash)))
            {
                ensure!(
                    value.is_finite() && value > 0.0,
                    "bytes per {what} order ({} details) is {value}",
                    kind.details
                );
                // used_memory counts the hash and the keyspace's entries for it: never less
                // than the hash alone, and never more than a few hundred bytes besides.
                let hash = hash as f64;
                ensure!(
                    value >= hash * 0.9
                        && value <= hash + kind.key_usage.unwrap_or(0) as f64 + 400.0,
                    "bytes per {what} order ({} details, {}) is {value:.0}, far from the hash's \
                     MEMORY USAGE {hash}",
                    kind.details,
                    kind.extras_text()
                );
            }
        }
        ensure!(
            self.typical_held().is_some(),
            "the typical order with an Idempotency-Key and traceparent was not measured"
        );
        Ok(())
    }

    pub fn markdown(&self) -> String {
        let mut md = format!(
            "\n## Bytes per order in Redis\n\n\
             redis-server {}, {} orders of each kind through the apps' store and scripts; \
             `INFO memory` used_memory growth per order (pending: hash, pending-index entry, \
             idempotency key; fulfilled: hash with `fulfilled_at` and an expiry, idempotency key; \
             then without the key, once it expired), \
             and `MEMORY USAGE` of one order's hash (and key) as a cross-check.\n\n\
             | details (chars, bytes) | with | pending B/order | fulfilled B/order | \
             fulfilled, key expired B/order | MEMORY USAGE hash pending / fulfilled | + key | \
             hash encoding |\n\
             |---|---|---:|---:|---:|---:|---:|---|\n",
            self.redis_version, self.orders
        );
        for kind in &self.kinds {
            md += &format!(
                "| {} ({}, {}) | {} | {:.0} | {:.0} | {} | {} / {} | {} | {} |\n",
                kind.details,
                kind.details_chars,
                kind.details_bytes,
                kind.extras_text(),
                kind.pending_bytes_per_order,
                kind.fulfilled_bytes_per_order,
                kind.key_expired_bytes_per_order
                    .map_or("–".into(), |bytes| format!("{bytes:.0}")),
                kind.hash_usage_pending,
                kind.hash_usage_fulfilled,
                kind.key_usage.map_or("–".into(), |bytes| bytes.to_string()),
                kind.hash_encoding
            );
        }
        if let Some(typical) = self.typical_held() {
            let bytes = typical.fulfilled_bytes_per_order;
            md += &format!(
                "\nA typical order as held (fulfilled, traceparent, its Idempotency-Key still alive), \
                 {bytes:.0} B: {:.0} orders fit the chart's default maxmemory (192 MiB, 75% of the \
                 256Mi limit), {:.0} fit 1 GiB (docs/capacity.md).\n",
                CHART_MAXMEMORY / bytes,
                GIB / bytes
            );
        }
        md
    }
}

fn measure_kind(
    redis: &Bench,
    store: &OrderStore<&RedisConnection>,
    kind: &Kind,
    trace: &TraceParent,
    orders: u64,
    now_ms: i64,
) -> Result<KindFigures> {
    let order = NewOrder {
        details: kind.details.clone(),
    };
    let trace = (kind.extras != Extras::None).then_some(trace);
    let key_chars = match kind.extras {
        Extras::KeyAndTraceParent(chars) => Some(chars),
        _ => None,
    };
    redis.command(&[b"FLUSHALL", b"SYNC"])?;
    let before = redis.used_memory()?;
    let mut ids = Vec::with_capacity(orders as usize);
    let mut keys = Vec::new();
    for _ in 0..orders {
        let id = OrderId::new_random();
        let key = key_chars.map(idempotency_key).transpose()?;
        store
            .accept(id, &order, key.as_ref(), trace, now_ms)
            .map_err(|error| anyhow::anyhow!("accepting an order: {error}"))?;
        keys.extend(key.map(|key| KeySpace::default().idempotency(&key)));
        ids.push(id);
    }
    let pending = redis.integer(&[b"ZCARD", b"order:pending"])?;
    ensure!(
        pending == orders as i64,
        "{pending} orders pending, not {orders}"
    );
    let after_accept = redis.used_memory()?;
    let first = KeySpace::default().order(ids[0]);
    let hash_usage_pending = redis.memory_usage(&first)?;
    let key_usage = keys
        .first()
        .map(|key| redis.memory_usage(key))
        .transpose()?;

    for &id in &ids {
        let outcome = store
            .fulfil(id, now_ms + 1)
            .map_err(|error| anyhow::anyhow!("fulfilling an order: {error}"))?;
        ensure!(
            outcome == FulfilOutcome::Fulfilled,
            "fulfil answered {outcome:?}"
        );
    }
    let pending = redis.integer(&[b"ZCARD", b"order:pending"])?;
    ensure!(
        pending == 0,
        "{pending} orders still pending after fulfilment"
    );
    let after_fulfil = redis.used_memory()?;
    let hash_usage_fulfilled = redis.memory_usage(&first)?;
    let hash_encoding = match redis.command(&[b"OBJECT", b"ENCODING", first.as_bytes()])?[..] {
        [Value::Bytes(ref encoding)] => String::from_utf8_lossy(encoding).into_owned(),
        ref other => bail!("OBJECT ENCODING answered {other:?}"),
    };
    let per_order = |after: u64| (after as f64 - before as f64) / orders as f64;
    let key_expired_bytes_per_order = if keys.is_empty() {
        None
    } else {
        for key in &keys {
            let deleted = redis.integer(&[b"DEL", key.as_bytes()])?;
            ensure!(deleted == 1, "the idempotency key {key} was not there");
        }
        Some(per_order(redis.used_memory()?))
    };
    Ok(KindFigures {
        details: kind.details_name.to_string(),
        details_chars: kind.details.chars().count(),
        details_bytes: kind.details.len(),
        idempotency_key_chars: key_chars,
        traceparent: trace.is_some(),
        pending_bytes_per_order: per_order(after_accept),
        fulfilled_bytes_per_order: per_order(after_fulfil),
        key_expired_bytes_per_order,
        hash_usage_pending,
        hash_usage_fulfilled,
        key_usage,
        hash_encoding,
    })
}

/// A fresh `Idempotency-Key` of `chars` characters: a UUID as clients usually send, padded.
fn idempotency_key(chars: usize) -> Result<IdempotencyKey> {
    let uuid = OrderId::new_random().to_string();
    let text: String = uuid
        .chars()
        .chain(std::iter::repeat('k'))
        .take(chars)
        .collect();
    IdempotencyKey::parse(text.as_bytes())
        .map_err(|error| anyhow::anyhow!("the bench's idempotency key: {error:?}"))
}

fn info_field<'a>(info: &'a str, name: &str) -> Result<&'a str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
        .with_context(|| format!("INFO has no {name}"))
}

/// The bench's Redis: the store's client (replies flattened as Spin's outbound Redis hands them
/// over), and the few commands the measurement itself runs.
struct Bench(RedisConnection);

impl Bench {
    fn connect(server: &dev_services::RedisServer) -> Result<Bench> {
        let connection = redis::Client::open(server.url())
            .and_then(|client| client.get_connection_with_timeout(Duration::from_secs(30)))
            .with_context(|| format!("connecting to redis-server on port {}", server.port()))?;
        Ok(Bench(RedisConnection::new(connection)))
    }

    fn command(&self, parts: &[&[u8]]) -> Result<Vec<Value>> {
        let args: Vec<Arg<'_>> = parts[1..].iter().map(|&part| Arg::Bytes(part)).collect();
        let command = std::str::from_utf8(parts[0])?;
        self.0
            .execute(command, &args)
            .map_err(|RedisError(error)| anyhow::anyhow!("Redis {command}: {error}"))
    }

    fn integer(&self, parts: &[&[u8]]) -> Result<i64> {
        match self.command(parts)?[..] {
            [Value::Int(value)] => Ok(value),
            ref other => bail!("expected an integer, got {other:?}"),
        }
    }

    fn info(&self, section: &str) -> Result<String> {
        match &self.command(&[b"INFO", section.as_bytes()])?[..] {
            [Value::Bytes(text)] => Ok(String::from_utf8_lossy(text).into_owned()),
            other => bail!("INFO answered {other:?}"),
        }
    }

    /// `used_memory`, once Redis has finished growing its tables.
    fn used_memory(&self) -> Result<u64> {
        std::thread::sleep(SETTLE);
        let info = self.info("memory")?;
        info_field(&info, "used_memory")?
            .parse()
            .context("used_memory is not a number")
    }

    fn memory_usage(&self, key: &str) -> Result<u64> {
        let usage = self.integer(&[b"MEMORY", b"USAGE", key.as_bytes(), b"SAMPLES", b"0"])?;
        u64::try_from(usage).context("MEMORY USAGE is negative")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn figures(details: &str, key: Option<usize>, pending: f64, held: f64) -> KindFigures {
        KindFigures {
            details: details.into(),
            details_chars: 40,
            details_bytes: 40,
            idempotency_key_chars: key,
            traceparent: key.is_some(),
            pending_bytes_per_order: pending,
            fulfilled_bytes_per_order: held,
            key_expired_bytes_per_order: key.map(|_| held - 100.0),
            hash_usage_pending: 200,
            hash_usage_fulfilled: 220,
            key_usage: key.map(|_| 90),
            hash_encoding: "listpack".into(),
        }
    }

    #[test]
    fn the_report_sizes_the_chart_default_and_a_gibibyte() {
        let capacity = Capacity {
            redis_version: "7.0.15".into(),
            orders: 10_000,
            kinds: vec![
                figures("typical", None, 300.0, 280.0),
                figures("typical", Some(36), 400.0, 384.0),
            ],
        };
        capacity.check_sane().unwrap();
        assert_eq!(
            capacity.typical_held().unwrap().fulfilled_bytes_per_order,
            384.0
        );
        let md = capacity.markdown();
        assert!(
            md.contains(
                "| typical (40, 40) | Idempotency-Key (36 chars) + traceparent | 400 | 384 | 284 | \
                 200 / 220 | 90 | listpack |"
            ),
            "{md}"
        );
        // 192 MiB / 384 B and 1 GiB / 384 B.
        assert!(md.contains("524288 orders fit the chart's default"), "{md}");
        assert!(md.contains("2796203 fit 1 GiB"), "{md}");
    }

    #[test]
    fn figures_far_from_the_cross_check_fail_the_run() {
        let capacity = |held| Capacity {
            redis_version: "7.0.15".into(),
            orders: 10_000,
            kinds: vec![figures("typical", Some(36), 400.0, held)],
        };
        for wrong in [0.0, f64::NAN, 50.0, 5_000.0] {
            assert!(capacity(wrong).check_sane().is_err(), "{wrong}");
        }
    }

    #[test]
    fn each_figure_is_checked_against_its_own_states_hash() {
        // Measured: fulfilment deletes the `idempotency_key` field, so the fulfilled hash is the
        // smaller one; the pending figure is still sane against the pending hash.
        let worst = KindFigures {
            details_chars: 1024,
            details_bytes: 4096,
            pending_bytes_per_order: 6448.0,
            fulfilled_bytes_per_order: 6148.0,
            key_expired_bytes_per_order: Some(5860.0),
            hash_usage_pending: 5904,
            hash_usage_fulfilled: 5712,
            key_usage: Some(248),
            hash_encoding: "hashtable".into(),
            ..figures("1024 × 4-byte UTF-8", Some(128), 0.0, 0.0)
        };
        let capacity = |kind: KindFigures| Capacity {
            redis_version: "7.0.15".into(),
            orders: 10_000,
            kinds: vec![figures("typical", Some(36), 400.0, 384.0), kind],
        };
        capacity(worst.clone()).check_sane().unwrap();
        let fulfilled_far_below_its_hash = KindFigures {
            fulfilled_bytes_per_order: 4_000.0,
            ..worst
        };
        assert!(capacity(fulfilled_far_below_its_hash).check_sane().is_err());
    }

    #[test]
    fn kinds_reach_the_limits_in_characters() {
        let kinds = kinds();
        let bytes: Vec<_> = kinds.iter().map(|kind| kind.details.len()).collect();
        assert_eq!(bytes, [40, 40, 40, 1024, 1024, 4096, 4096]);
        assert!(kinds.iter().all(|kind| {
            NewOrder::from_json(
                serde_json::json!({ "details": kind.details })
                    .to_string()
                    .as_bytes(),
            )
            .is_ok()
        }));
        assert_eq!(idempotency_key(128).unwrap().as_str().len(), 128);
        assert_eq!(idempotency_key(36).unwrap().as_str().len(), 36);
    }
}
