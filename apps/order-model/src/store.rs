//! The order store on Redis, written against a minimal command interface so that the Spin
//! components (Spin's outbound Redis) and the host tests (a real `redis-server`) run the very
//! same code and Lua scripts.

use crate::keys::KeySpace;
use crate::message::OrderMessage;
use crate::order::{OrderId, OrderRecord, Status};
use crate::request::{IdempotencyKey, NewOrder};
use crate::retention::Retention;
use crate::trace::TraceParent;

/// Accepts an order atomically; see the script's header.
pub const ACCEPT_SCRIPT: &str = include_str!("scripts/accept.lua");
/// Moves an order from `created` to `fulfilled` atomically; see the script's header.
pub const FULFIL_SCRIPT: &str = include_str!("scripts/fulfil.lua");
/// Re-publishes pending orders older than a threshold. It ships in the chart, whose CronJob runs
/// it with `redis-cli --eval`; this is the same file.
pub const RECONCILE_SCRIPT: &str = include_str!("../../../charts/order-system/files/reconcile.lua");

/// A command argument, as Spin's `redis-parameter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

/// A reply value, as Spin's `redis-result`: nested arrays arrive flattened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    Nil,
    Status(String),
    Int(i64),
    Bytes(Vec<u8>),
}

/// Redis could not run the command (unreachable, refused, or failed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisError(pub String);

/// Why the store did nothing. Whatever the kind, no order was changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// Redis could not be reached, refused the command (over `maxmemory`, among others) or
    /// failed; retrying may succeed. The text is Redis' or the client's, for logs only: it may
    /// name hosts.
    Unavailable(String),
    /// Redis may evict keys: its `maxmemory-policy` (this value) is not `noeviction`, so the
    /// scripts write nothing until an operator changes it (docs/capacity.md).
    Evicts(String),
    /// A fault retrying will not fix: a reply this code does not understand (a bug), or
    /// settings that cannot be used.
    Internal(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "order store unavailable: {why}"),
            StoreError::Evicts(policy) => write!(
                f,
                "Redis' maxmemory-policy is `{policy}`, which can evict accepted orders: \
                 order-system writes nothing until it is `noeviction`"
            ),
            StoreError::Internal(why) => write!(f, "order store fault: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// The one thing the store needs from a Redis client.
pub trait Redis {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError>;
}

impl From<RedisError> for StoreError {
    fn from(error: RedisError) -> Self {
        StoreError::Unavailable(error.0)
    }
}

/// What `POST /order` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// A new order was stored and published.
    Created(OrderId),
    /// The idempotency key was seen before: this is the order it created, and its status now.
    Repeated(OrderId, Status),
}

/// What one reconciler run did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reconciled {
    /// Pending orders published again.
    pub republished: i64,
    /// Index entries dropped because their order is gone or no longer `created`.
    pub dropped: i64,
}

/// What a new-order message did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FulfilOutcome {
    Fulfilled,
    AlreadyFulfilled,
    UnknownOrder,
}

pub struct OrderStore<R> {
    redis: R,
    keys: KeySpace,
    channel: String,
    shards: u32,
    publish: bool,
    retention: Retention,
}

impl<R: Redis> OrderStore<R> {
    pub fn new(redis: R, keys: KeySpace, channel: impl Into<String>) -> Self {
        Self {
            redis,
            keys,
            channel: channel.into(),
            shards: 1,
            publish: true,
            retention: Retention::default(),
        }
    }

    /// Keeps each order for `retention` after it is fulfilled; [`Retention::default`] unless set.
    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Publishes new orders over `shards` channels (see [`crate::shard`]); 1 unless set.
    pub fn with_shards(mut self, shards: u32) -> Self {
        self.shards = shards.max(1);
        self
    }

    /// A store whose `accept` does not publish the new order: for the composed placement, where
    /// the receiver fulfils in-process and only the reconciler's re-publication of a pending
    /// order reaches the channel.
    pub fn without_publishing(self) -> Self {
        Self {
            publish: false,
            ..self
        }
    }

    /// Stores, indexes and (unless [`Self::without_publishing`]) publishes a new order on its
    /// shard's channel, or returns the one an idempotency key made. `trace` (the request's
    /// trace context) goes into the message and the order's hash (field `traceparent`), where
    /// the reconciler finds it to re-publish the order in the same trace.
    pub fn accept(
        &self,
        id: OrderId,
        order: &NewOrder,
        idempotency_key: Option<&IdempotencyKey>,
        trace: Option<&TraceParent>,
        now_ms: i64,
    ) -> Result<Accepted, StoreError> {
        let message = OrderMessage {
            id,
            details: order.details.clone(),
            status: Status::Created,
            traceparent: trace.copied(),
        }
        .to_json();
        let traceparent = trace.map(ToString::to_string).unwrap_or_default();
        let id_text = id.to_string();
        let channel = crate::shard::channel_for(&self.channel, id, self.shards);
        let order_key = self.keys.order(id);
        let pending_key = self.keys.pending();
        let idempotency_key = idempotency_key.map(|key| self.keys.idempotency(key));
        let mut keys = vec![order_key.as_bytes(), pending_key.as_bytes()];
        keys.extend(idempotency_key.as_deref().map(str::as_bytes));

        let mut args = vec![
            Arg::Bytes(ACCEPT_SCRIPT.as_bytes()),
            Arg::Int(keys.len() as i64),
        ];
        args.extend(keys.into_iter().map(Arg::Bytes));
        args.extend([
            Arg::Bytes(id_text.as_bytes()),
            Arg::Bytes(order.details.as_bytes()),
            Arg::Int(now_ms),
            // The script publishes to no channel when given an empty one.
            Arg::Bytes(if self.publish {
                channel.as_bytes()
            } else {
                b""
            }),
            Arg::Bytes(message.as_bytes()),
            Arg::Int(IdempotencyKey::TTL_SECONDS),
            Arg::Bytes(self.keys.prefix().as_bytes()),
            Arg::Bytes(traceparent.as_bytes()),
        ]);
        match self.redis.execute("EVAL", &args)?.as_slice() {
            [Value::Int(1), Value::Bytes(_)] => Ok(Accepted::Created(id)),
            [Value::Int(0), Value::Bytes(existing), status] => Ok(Accepted::Repeated(
                parse_id(existing)?,
                parse_status(status)?,
            )),
            [Value::Int(-1), Value::Bytes(policy)] => Err(evicts(policy)),
            other => Err(unexpected("accept", other)),
        }
    }

    /// The stored order, if there is one.
    pub fn find(&self, id: OrderId) -> Result<Option<OrderRecord>, StoreError> {
        let key = self.keys.order(id);
        let args = [
            Arg::Bytes(key.as_bytes()),
            Arg::Bytes(b"status"),
            Arg::Bytes(b"details"),
        ];
        match self.redis.execute("HMGET", &args)?.as_slice() {
            [Value::Nil, _] => Ok(None),
            [status, Value::Bytes(details)] => Ok(Some(OrderRecord {
                id,
                status: parse_status(status)?,
                details: String::from_utf8_lossy(details).into_owned(),
            })),
            other => Err(unexpected("find", other)),
        }
    }

    /// Fulfils a created order and sets it to expire after the store's retention, in one step;
    /// repeats and unknown ids change nothing.
    pub fn fulfil(&self, id: OrderId, now_ms: i64) -> Result<FulfilOutcome, StoreError> {
        let id_text = id.to_string();
        let order_key = self.keys.order(id);
        let pending_key = self.keys.pending();
        let stats_key = self.keys.stats();
        let args = [
            Arg::Bytes(FULFIL_SCRIPT.as_bytes()),
            Arg::Int(3),
            Arg::Bytes(order_key.as_bytes()),
            Arg::Bytes(pending_key.as_bytes()),
            Arg::Bytes(stats_key.as_bytes()),
            Arg::Bytes(id_text.as_bytes()),
            Arg::Int(now_ms),
            Arg::Int(self.retention.as_millis()),
        ];
        match self.redis.execute("EVAL", &args)?.as_slice() {
            [Value::Int(1)] => Ok(FulfilOutcome::Fulfilled),
            [Value::Int(0)] => Ok(FulfilOutcome::AlreadyFulfilled),
            [Value::Int(-1)] => Ok(FulfilOutcome::UnknownOrder),
            [Value::Int(-2), Value::Bytes(policy)] => Err(evicts(policy)),
            other => Err(unexpected("fulfil", other)),
        }
    }
}

impl<R: Redis> OrderStore<R> {
    /// Re-publishes up to `batch` pending orders accepted at least `min_age_ms` ago, each to the
    /// channel of its shard under the store's *current* shard count — so orders published to a
    /// shard that no longer runs (the count changed) reach a running fulfiller all the same.
    pub fn reconcile(&self, min_age_ms: i64, batch: i64) -> Result<Reconciled, StoreError> {
        let pending_key = self.keys.pending();
        let args = [
            Arg::Bytes(RECONCILE_SCRIPT.as_bytes()),
            Arg::Int(1),
            Arg::Bytes(pending_key.as_bytes()),
            Arg::Bytes(self.channel.as_bytes()),
            Arg::Bytes(self.keys.prefix().as_bytes()),
            Arg::Int(min_age_ms),
            Arg::Int(batch),
            Arg::Int(i64::from(self.shards)),
        ];
        match self.redis.execute("EVAL", &args)?.as_slice() {
            [Value::Int(republished), Value::Int(dropped)] => Ok(Reconciled {
                republished: *republished,
                dropped: *dropped,
            }),
            other => Err(unexpected("reconcile", other)),
        }
    }
}

fn parse_id(raw: &[u8]) -> Result<OrderId, StoreError> {
    std::str::from_utf8(raw)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| StoreError::Internal(format!("stored id {raw:?} is not a UUID")))
}

fn parse_status(value: &Value) -> Result<Status, StoreError> {
    match value {
        Value::Bytes(raw) => std::str::from_utf8(raw).ok().and_then(Status::parse),
        _ => None,
    }
    .ok_or_else(|| StoreError::Internal(format!("stored status {value:?} is not a status")))
}

/// The scripts' refusal to write to a Redis that may evict keys.
fn evicts(policy: &[u8]) -> StoreError {
    StoreError::Evicts(String::from_utf8_lossy(policy).into_owned())
}

fn unexpected(operation: &str, reply: &[Value]) -> StoreError {
    StoreError::Internal(format!("unexpected Redis reply to {operation}: {reply:?}"))
}
