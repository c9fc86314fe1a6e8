//! Translation between Spin's SDK types and the order domain; no decisions are made here.

use order_model::api::{self, Response};
use order_model::{ApiError, Arg, OrderStore, Redis, RedisError, Settings, Value};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// Spin's outbound Redis connection as the domain's command interface.
pub struct SpinRedis(Connection);

impl Redis for SpinRedis {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
        let params: Vec<RedisParameter> = args
            .iter()
            .map(|arg| match arg {
                Arg::Int(i) => RedisParameter::Int64(*i),
                Arg::Bytes(b) => RedisParameter::Binary(b.to_vec()),
            })
            .collect();
        let results = self
            .0
            .execute(command, &params)
            .map_err(|e| RedisError(e.to_string()))?;
        Ok(results
            .into_iter()
            .map(|result| match result {
                RedisResult::Nil => Value::Nil,
                RedisResult::Status(s) => Value::Status(s),
                RedisResult::Int64(i) => Value::Int(i),
                RedisResult::Binary(b) => Value::Bytes(b),
            })
            .collect())
    }
}

/// Reads the settings from Spin variables and opens the store.
pub fn connect() -> Result<OrderStore<SpinRedis>, ApiError> {
    let settings = Settings::load(|name| spin_sdk::variables::get(name).map_err(|e| e.to_string()))
        .map_err(|e| ApiError::Internal(format!("configuration: {e}")))?;
    let connection = Connection::open(&settings.redis_address())
        .map_err(|e| ApiError::StoreUnavailable(format!("opening Redis: {e}")))?;
    Ok(OrderStore::new(
        SpinRedis(connection),
        settings.keys,
        settings.channel,
    ))
}

/// Calls `handle` with the domain's view of a Spin request and turns its answer into Spin's.
pub fn serve(
    request: &spin_sdk::http::Request,
    handle: impl FnOnce(&api::Request<'_>) -> Response,
) -> spin_sdk::http::Response {
    let header = |name: &str| request.header(name).map(|value| value.as_bytes());
    let method = request.method().to_string();
    let path_info = header("spin-path-info")
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .unwrap_or_default();
    let response = handle(&api::Request {
        method: &method,
        path_info,
        content_type: header("content-type"),
        idempotency_key: header("idempotency-key"),
        body: request.body(),
    });
    if let Some(cause) = &response.log {
        eprintln!(
            "{method} {} -> {}: {cause}",
            request.path(),
            response.status
        );
    }
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}
