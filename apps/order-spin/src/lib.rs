//! Translation between Spin's SDK types and the order domain; no decisions are made here.

use std::io::Write;
use std::time::Instant;

use futures_util::StreamExt;
use order_model::api::{self, Response};
use order_model::logging::LogLine;
use order_model::request::MAX_BODY_BYTES;
use order_model::{
    ApiError, Arg, Body, BoundedBody, FulfilError, FulfilOutcome, OrderId, OrderStore, Placement,
    Redis, RedisError, Settings, StoreError, TraceParent, Value,
};
use spin_sdk::http::IncomingRequest;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

/// The caller's side of `order-system:fulfilment` (apps/fulfilment/wit). A component that never
/// calls `fulfil` does not import it: the componentizer keeps only the imports the code uses.
#[allow(unsafe_code)] // the generated import glue
mod bindings {
    wit_bindgen::generate!({ world: "caller", path: "../fulfilment/wit" });
}

use bindings::order_system::fulfilment::fulfil as wit;

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
pub fn connect() -> Result<OrderStore<SpinRedis>, StoreError> {
    let settings = Settings::load(|name| spin_sdk::variables::get(name).map_err(|e| e.to_string()))
        .map_err(|e| StoreError::Internal(format!("configuration: {e}")))?;
    let connection = Connection::open(&settings.redis_address())
        .map_err(|e| StoreError::Unavailable(format!("opening Redis: {e}")))?;
    Ok(
        OrderStore::new(SpinRedis(connection), settings.keys, settings.channel)
            .with_shards(settings.shards)
            .with_retention(settings.retention),
    )
}

/// Fulfils the order through the `order-system:fulfilment/fulfil` import: an in-process call
/// into the fulfilment component composed into this one.
pub fn fulfil(id: OrderId) -> Result<FulfilOutcome, FulfilError> {
    let order = wit::Order { id: id.to_string() };
    match wit::fulfil(&order) {
        Ok(wit::Outcome::Fulfilled) => Ok(FulfilOutcome::Fulfilled),
        Ok(wit::Outcome::AlreadyFulfilled) => Ok(FulfilOutcome::AlreadyFulfilled),
        Ok(wit::Outcome::UnknownOrder) => Ok(FulfilOutcome::UnknownOrder),
        Err(wit::Error::InvalidId(why)) => Err(FulfilError::InvalidId(why)),
        Err(wit::Error::StoreUnavailable(why)) => Err(FulfilError::StoreUnavailable(why)),
        Err(wit::Error::Internal(why)) => Err(FulfilError::Internal(why)),
    }
}

/// The receiver's `fulfilment_placement` variable.
pub fn placement() -> Result<Placement, ApiError> {
    Placement::load(|name| spin_sdk::variables::get(name).map_err(|e| e.to_string()))
        .map_err(|e| ApiError::Internal(format!("configuration: {e}")))
}

/// Calls `handle` with the domain's view of a Spin request, turns its answer into Spin's, and
/// writes the request's log line ([`LogLine::http_request`]) naming `component` and `route` (the
/// route template, e.g. `/order/{id}`); the duration runs from here to the answer's head.
///
/// Header values are taken as bytes, as `wasi:http` gives them. The `traceparent` header is the
/// caller's W3C trace context (the same one Spin's HTTP trigger makes its span's parent): when
/// it is valid it goes to `handle` and its trace-id into the log line; otherwise it is ignored.
///
/// The body is read as a stream within [`MAX_BODY_BYTES`]: a larger declared `Content-Length`
/// is answered without reading any of it, and a longer body stops being read one piece (at most
/// 16 KiB, the SDK's read size) past the bound, so no request costs more memory than that. A
/// body that breaks off while being read is answered 400.
pub async fn serve(
    request: IncomingRequest,
    component: &'static str,
    route: &'static str,
    handle: impl FnOnce(&api::Request<'_>) -> Response,
) -> spin_sdk::http::Response {
    let started = Instant::now();
    let method = request.method().to_string();
    // The header fields are a child of the request: copy what is needed and drop them before the
    // request is consumed for its body.
    let ([path_info, content_type, idempotency_key, content_length], traceparent) = {
        let fields = request.headers();
        let first = [
            "spin-path-info",
            "content-type",
            "idempotency-key",
            "content-length",
        ]
        .map(|name| fields.get(name).into_iter().next());
        let traceparent = TraceParent::from_header_values(&fields.get(TraceParent::HEADER));
        (first, traceparent)
    };
    let path_info = path_info
        .as_deref()
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .unwrap_or_default();
    let response = match read_body(request, content_length.as_deref()).await {
        Ok(bytes) => handle(&api::Request {
            method: &method,
            path_info,
            content_type: content_type.as_deref(),
            idempotency_key: idempotency_key.as_deref(),
            traceparent,
            body: bytes.as_deref().map_or(Body::TooLarge, Body::Complete),
        }),
        Err(error) => Response::from(error),
    };
    log(&LogLine::http_request(
        component,
        route,
        &method,
        &response,
        traceparent.as_ref(),
        now_ms(),
        started.elapsed(),
    ));
    let mut builder = spin_sdk::http::Response::builder();
    builder.status(response.status);
    for (name, value) in response.headers {
        builder.header(name, value);
    }
    builder.body(response.body).build()
}

/// The body within [`MAX_BODY_BYTES`], or `None` when it is over them; an error when it broke
/// off. What is past the bound is never read.
async fn read_body(
    request: IncomingRequest,
    content_length: Option<&[u8]>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let Ok(mut body) = BoundedBody::start(MAX_BODY_BYTES, content_length) else {
        return Ok(None);
    };
    let mut stream = std::pin::pin!(request.into_body_stream());
    while let Some(piece) = stream.next().await {
        let piece = piece.map_err(|error| {
            ApiError::MalformedJson(format!(
                "the body could not be read: {}",
                error.to_debug_string()
            ))
        })?;
        if body.push(&piece).is_err() {
            return Ok(None);
        }
    }
    Ok(Some(body.into_bytes()))
}

/// Writes one log line: `info` to stdout, `warn` and `error` to stderr (Spin records either as an
/// `app_log` event on the current span). A failed write is dropped: logging never fails a request.
pub fn log(line: &LogLine) {
    // One write per line, newline included: Spin makes an `app_log` event of each write, and
    // stderr is unbuffered.
    let mut text = line.to_json();
    text.push('\n');
    let _ = if line.level().is_stderr() {
        std::io::stderr().lock().write_all(text.as_bytes())
    } else {
        std::io::stdout().lock().write_all(text.as_bytes())
    };
}

/// Milliseconds since the Unix epoch, by the host's clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}
