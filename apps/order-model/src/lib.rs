//! The order domain, free of Spin types so that everything here is tested on the host.
//!
//! The Spin components in `apps/order-processor` and `apps/fulfilment-processor` only translate
//! between Spin's request, response and Redis types and the functions in this crate.

pub mod api;
pub mod body;
pub mod config;
pub mod fulfilment;
pub mod keys;
pub mod logging;
pub mod message;
pub mod order;
pub mod problem;
#[cfg(feature = "redis-client")]
pub mod redis_client;
pub mod request;
pub mod retention;
pub mod shard;
pub mod store;
pub mod trace;

pub use body::{Body, BoundedBody};
pub use config::{Placement, Settings};
pub use fulfilment::FulfilError;
pub use keys::KeySpace;
pub use message::OrderMessage;
pub use order::{InvalidOrderId, OrderId, OrderRecord, Status, TransitionError};
pub use problem::{ApiError, Problem};
pub use request::{IdempotencyKey, NewOrder, RequestError};
pub use retention::Retention;
pub use store::{
    Accepted, Arg, FulfilOutcome, OrderStore, Reconciled, Redis, RedisError, StoreError, Value,
};
pub use trace::TraceParent;
