//! OpenTelemetry traces as Spin's runtime emits them (spinframework/spin `crates/telemetry`,
//! the same in 3.6.3 and 4.0.2), exported over OTLP by the `opentelemetry-otlp` crate.
//!
//! - **Switched on** by the standard environment, as Spin's `otel_tracing_enabled`: a non-empty
//!   `OTEL_EXPORTER_OTLP_ENDPOINT` or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, unless
//!   `OTEL_SDK_DISABLED` is non-empty. The exporter reads the rest of `OTEL_EXPORTER_OTLP_*`
//!   (headers, timeout) and the SDK `OTEL_TRACES_SAMPLER[_ARG]` and `OTEL_BSP_*`.
//! - **Protocol** `http/protobuf`, Spin's default. Spin also speaks `grpc`; spin-local refuses it
//!   with an error rather than exporting nothing (it carries no gRPC stack), and refuses
//!   `http/json` as Spin does.
//! - **Resource**: `service.name` from `OTEL_SERVICE_NAME`, else `OTEL_RESOURCE_ATTRIBUTES`,
//!   else `spin` (Spin's `SpinResourceDetector`); `service.version` is spin-local's version.
//! - **Spans** come from the tracer `spin`, with the names, kinds and semantic attributes of
//!   Spin's: see [`http_server`], [`execute_wasm`], [`redis_message`] and [`redis_client`]; errors
//!   as `exception` events. A guest's writes to stdout and stderr become `app_log` events on the
//!   span it runs under (Spin's `handle_app_log`). Not mirrored: what `tracing-opentelemetry`
//!   adds to every span of Spin's (`code.*`, `busy_ns`, `idle_ns`), and that Spin's HTTP spans
//!   stay open until the component's task ends where spin-local's end with the response head.
//!
//! Two things go beyond Spin, both only about tracing (documented in docs/observability.md):
//! the guest's request carries the `traceparent` of the span it runs under, and a Redis message
//! that is a JSON object with a W3C `traceparent` member (the CloudEvents distributed-tracing
//! attribute) parents the message's span. Spin gives a guest no way to see its span, and its
//! Redis trigger starts every message a new trace.

use std::collections::HashMap;
use std::io::Write;

use anyhow::{Result, bail};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

/// The exporter, when the environment switches it on; flush it with [`Telemetry::shutdown`].
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

/// The tracer every span comes from, set once by [`Telemetry::from_env`].
static TRACER: std::sync::OnceLock<SdkTracer> = std::sync::OnceLock::new();

fn non_empty(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|value| !value.is_empty())
}

impl Telemetry {
    /// Sets up trace export as the environment says (see the module docs); off when it says
    /// nothing. Call it outside any async runtime: the exporter's blocking HTTP client starts its
    /// own.
    ///
    /// Errors: an `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` other than `http/protobuf`, or an
    /// endpoint the exporter cannot use.
    pub fn from_env() -> Result<Telemetry> {
        let enabled = (non_empty("OTEL_EXPORTER_OTLP_ENDPOINT")
            || non_empty("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
            && !non_empty("OTEL_SDK_DISABLED");
        if !enabled {
            return Ok(Telemetry { provider: None });
        }
        let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|_| "http/protobuf".into());
        // Spin's `OtlpProtocol::protocol_from_env`: `http/json` is an error, anything unknown a
        // warning and `http/protobuf`.
        match protocol.as_str() {
            "http/protobuf" => {}
            "http/json" => bail!("http/json OTLP protocol is not supported"),
            "grpc" => bail!(
                "spin-local exports OTLP over http/protobuf only, not \"grpc\": set \
                 OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf and point the endpoint at the \
                 collector's OTLP/HTTP port (4318)"
            ),
            other => eprintln!(
                "warning: OTEL_EXPORTER_OTLP_PROTOCOL {other:?} is not one of http/protobuf, \
                 grpc or http/json; using http/protobuf"
            ),
        }
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_resource(resource())
            .with_batch_exporter(exporter)
            .build();
        let _ = TRACER.set(provider.tracer("spin"));
        Ok(Telemetry {
            provider: Some(provider),
        })
    }

    /// Whether spans are exported.
    pub fn enabled() -> bool {
        TRACER.get().is_some()
    }

    /// Exports what is still buffered; errors are reported, not returned (the process is ending).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider
            && let Err(error) = provider.shutdown()
        {
            eprintln!("warning: exporting the last spans failed: {error}");
        }
    }
}

fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&opentelemetry::Key::new("service.name"))
        .map(|name| name.to_string())
        .filter(|name| !name.starts_with("unknown_service"));
    Resource::builder()
        .with_service_name(named.unwrap_or_else(|| "spin".into()))
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Starts a span below `parent`, named and attributed by `describe`. When export is off this is
/// `parent` itself and `describe` is never called: a request or message pays nothing for spans
/// nobody receives.
fn start(
    parent: &Context,
    kind: SpanKind,
    describe: impl FnOnce() -> (String, Vec<KeyValue>),
) -> Context {
    let Some(tracer) = TRACER.get() else {
        return parent.clone();
    };
    let (name, attributes) = describe();
    let span = tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes)
        .start_with_context(tracer, parent);
    parent.with_span(span)
}

/// The W3C trace context `get` finds under `traceparent` and `tracestate`, as the
/// `TraceContextPropagator` reads it; the empty context when there is none or it is invalid.
fn context_from(get: impl Fn(&str) -> Option<String>) -> Context {
    let carrier: HashMap<String, String> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| Some((name.to_string(), get(name)?)))
        .collect();
    TraceContextPropagator::new().extract(&carrier)
}

/// The W3C trace context in `headers`, as Spin's `extract_trace_context`.
fn extract(headers: &http::HeaderMap) -> Context {
    context_from(|name| Some(headers.get(name)?.to_str().ok()?.to_string()))
}

/// The `traceparent` header value for the span in `cx`, if it is a real (exported) one.
pub fn traceparent(cx: &Context) -> Option<String> {
    if !cx.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Spin's `spin_trigger_http.handle_http_request` span (`crates/trigger-http/src/instrument.rs`):
/// kind server, below the caller's context in `request`'s headers (Spin's
/// `extract_trace_context`); named `"{method} {route}"` by [`finish_http`].
pub fn http_server<B>(request: &http::Request<B>, client: std::net::SocketAddr) -> Context {
    if !Telemetry::enabled() {
        return Context::new();
    }
    let headers = request.headers();
    let parent = extract(headers);
    let (method, uri) = (request.method().as_str(), request.uri());
    let mut attributes = vec![
        KeyValue::new("http.request.method", method.to_string()),
        KeyValue::new("network.peer.address", client.ip().to_string()),
        KeyValue::new("network.peer.port", client.port().to_string()),
        KeyValue::new("network.protocol.name", "http"),
        KeyValue::new("url.path", uri.path().to_string()),
        KeyValue::new("url.query", uri.query().unwrap_or_default().to_string()),
        KeyValue::new(
            "url.scheme",
            uri.scheme_str().unwrap_or_default().to_string(),
        ),
    ];
    if let Some(address) = headers
        .get("x-forwarded-for")
        .and_then(|value| value.to_str().ok())
    {
        attributes.push(KeyValue::new("client.address", address.to_string()));
    }
    let cx = start(&parent, SpanKind::Server, || {
        (method.to_string(), attributes)
    });
    // Spin's `HttpServer::handle` logs this inside the span: an INFO event named by its message.
    info(
        &cx,
        format!("Processing request on path '{}'", uri.path()),
        "spin_trigger_http::server",
    );
    cx
}

/// An INFO event as a `tracing::info!("…")` of Spin's, inside its span, reaches OTLP through
/// `tracing-opentelemetry`: named by its message, with `level` and `target`.
fn info(cx: &Context, message: String, target: &'static str) {
    cx.span().add_event(
        message,
        vec![
            KeyValue::new("level", "INFO"),
            KeyValue::new("target", target),
        ],
    );
}

/// Names and ends the HTTP span as Spin's `finalize_http_span`: `"{method} {route}"` and
/// `http.route` when a route matched (else just the method), the status code, and for a failure
/// `error.type`.
pub fn finish_http(
    cx: &Context,
    method: &str,
    route: Option<&str>,
    status: u16,
    error: Option<&str>,
) {
    if !Telemetry::enabled() {
        return;
    }
    let span = cx.span();
    // A failure after routing is Spin's `internal_error` answer (logged, then a 500 with the
    // route); one before it (the `Host` check) is an `Err` that `finalize_http_span` records.
    if let Some(error) = error {
        if route.is_some() {
            span.add_event(
                format!("Error processing request: {error}"),
                vec![
                    KeyValue::new("level", "ERROR"),
                    KeyValue::new("target", "spin_trigger_http::server"),
                ],
            );
        }
        span.set_attribute(KeyValue::new("error.type", error.to_string()));
        record_error(&span, error);
    }
    if error.is_none() || route.is_some() {
        info(
            cx,
            format!(
                "Request finished, sending response with status code {}",
                http::StatusCode::from_u16(status)
                    .map_or_else(|_| status.to_string(), |code| code.to_string())
            ),
            "spin_trigger_http::instrument",
        );
    }
    match route {
        Some(route) => {
            span.set_attribute(KeyValue::new("http.route", route.to_string()));
            span.update_name(format!("{method} {route}"));
        }
        None => span.update_name(method.to_string()),
    }
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(status),
    ));
    span.end();
}

/// What `tracing-opentelemetry` (0.29, Spin's) makes of an event with an `error` field, which
/// Spin's `#[instrument(err)]` and `instrument_error` emit: an `exception` event with
/// `exception.message`, and the span's status set to error with the same text.
fn record_error(span: &opentelemetry::trace::SpanRef<'_>, message: &str) {
    span.add_event(
        "exception",
        vec![KeyValue::new("exception.message", message.to_string())],
    );
    span.set_status(opentelemetry::trace::Status::error(message.to_string()));
}

/// A failed Redis handler, as Spin's `handle_message` logs it inside the message's span.
pub fn handler_failed(cx: &Context, component: &str, error: &anyhow::Error) {
    if !Telemetry::enabled() {
        return;
    }
    info(
        cx,
        format!("Component {component} handler failed: {error}"),
        "spin_trigger_redis",
    );
}

/// Spin's `spin_trigger_http.execute_wasm` span: `execute_wasm_component {component}`.
pub fn execute_wasm(parent: &Context, component: &str) -> Context {
    start(parent, SpanKind::Internal, || {
        (format!("execute_wasm_component {component}"), Vec::new())
    })
}

/// Spin's `spin_trigger_redis.handle_message` span: `"{channel} receive"`, kind consumer,
/// `messaging.operation` `receive`, `messaging.system` `redis`. Its parent is the context the
/// payload carries (see the module docs), else none.
pub fn redis_message(channel: &str, payload: &[u8]) -> Context {
    if !Telemetry::enabled() {
        return Context::new();
    }
    start(&carried_context(payload), SpanKind::Consumer, || {
        (
            format!("{channel} receive"),
            vec![
                KeyValue::new("messaging.operation", "receive"),
                KeyValue::new("messaging.system", "redis"),
            ],
        )
    })
}

/// The W3C context in a JSON-object payload's `traceparent` member (and `tracestate`).
fn carried_context(payload: &[u8]) -> Context {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_slice(payload) else {
        return Context::new();
    };
    context_from(|name| Some(members.get(name)?.as_str()?.to_string()))
}

/// One of Spin's `spin_outbound_redis.*` spans (`crates/factor-outbound-redis/src/host.rs`):
/// kind client, `db.system` `redis`, named as Spin names it (e.g. `PUBLISH {channel}`, the
/// command for `execute`), with the arguments Spin records (`channel`, `key`, `keys`,
/// `command`; Spin 4.0 skips `execute`'s `arguments`, and so does spin-local: they are the
/// order's data). `describe` gives the name and those arguments. Ended by [`end`].
pub fn redis_client(
    parent: &Context,
    describe: impl FnOnce() -> (String, Vec<KeyValue>),
) -> Context {
    start(parent, SpanKind::Client, || {
        let (name, arguments) = describe();
        let mut attributes = vec![KeyValue::new("db.system", "redis")];
        attributes.extend(arguments);
        (name, attributes)
    })
}

/// Ends the span in `cx`, recording an error as Spin's `#[instrument(err)]` does.
pub fn end<T, E: std::fmt::Display>(cx: &Context, outcome: &Result<T, E>) {
    if !Telemetry::enabled() {
        return;
    }
    let span = cx.span();
    if let Err(error) = outcome {
        record_error(&span, &error.to_string());
    }
    span.end();
}

/// A guest's stdout or stderr that also records each write as an event on the span it runs
/// under, as Spin's `handle_app_log` (`crates/telemetry/src/logs.rs`) does unless
/// `SPIN_DISABLE_LOG_TO_TRACING` is set: attribute `app_log` with the text (or
/// `app_log_non_utf8` with the first 50 bytes escaped), `level` and `target` as Spin's. Spin's
/// event has no message, so `tracing-opentelemetry` names it after its source line
/// (`event crates/telemetry/src/logs.rs:57` in 3.6.3); spin-local names it `app_log`. Match on
/// the attribute.
#[derive(Clone)]
pub struct AppLog {
    cx: Context,
    stderr: bool,
}

impl AppLog {
    pub fn stdout(cx: &Context) -> AppLog {
        AppLog {
            cx: cx.clone(),
            stderr: false,
        }
    }

    pub fn stderr(cx: &Context) -> AppLog {
        AppLog {
            cx: cx.clone(),
            stderr: true,
        }
    }

    fn record(&self, bytes: &[u8]) {
        static DISABLED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *DISABLED.get_or_init(|| non_empty("SPIN_DISABLE_LOG_TO_TRACING")) {
            return;
        }
        let attribute = match std::str::from_utf8(bytes) {
            Ok(text) => KeyValue::new("app_log", text.to_string()),
            Err(_) => KeyValue::new(
                "app_log_non_utf8",
                bytes
                    .iter()
                    .take(50)
                    .flat_map(|byte| std::ascii::escape_default(*byte))
                    .map(char::from)
                    .collect::<String>(),
            ),
        };
        self.cx.span().add_event(
            "app_log",
            vec![
                attribute,
                KeyValue::new("level", "INFO"),
                KeyValue::new("target", "spin_telemetry::logs"),
            ],
        );
    }

    fn write_through(&self, bytes: &[u8]) -> std::io::Result<()> {
        if self.stderr {
            std::io::stderr().write_all(bytes)
        } else {
            std::io::stdout().write_all(bytes)
        }
    }
}

impl wasmtime_wasi::cli::IsTerminal for AppLog {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for AppLog {
    fn p2_stream(&self) -> Box<dyn wasmtime_wasi::p2::OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        // Only the WASI 0.3 host asks for this one; spin-local hosts WASI 0.2.
        if self.stderr {
            Box::new(tokio::io::stderr())
        } else {
            Box::new(tokio::io::stdout())
        }
    }
}

#[async_trait::async_trait]
impl wasmtime_wasi::p2::Pollable for AppLog {
    async fn ready(&mut self) {}
}

impl wasmtime_wasi::p2::OutputStream for AppLog {
    fn write(&mut self, bytes: bytes::Bytes) -> wasmtime_wasi::p2::StreamResult<()> {
        self.record(&bytes);
        self.write_through(&bytes).map_err(|error| {
            wasmtime_wasi::p2::StreamError::LastOperationFailed(wasmtime::format_err!(error))
        })
    }

    fn flush(&mut self) -> wasmtime_wasi::p2::StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> wasmtime_wasi::p2::StreamResult<usize> {
        Ok(64 * 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_json_payload_carries_its_trace_context() {
        let payload = br#"{"id":"x","traceparent":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}"#;
        let cx = carried_context(payload);
        let span = cx.span();
        let context = span.span_context();
        assert!(context.is_valid() && context.is_remote());
        assert_eq!(
            context.trace_id().to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        assert_eq!(context.span_id().to_string(), "b7ad6b7169203331");
    }

    #[test]
    fn payloads_without_a_valid_context_start_a_new_trace() {
        for payload in [
            &b"not json"[..],
            br#"["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]"#,
            br#"{"traceparent":"00-00000000000000000000000000000000-b7ad6b7169203331-01"}"#,
            br#"{"traceparent":"garbage"}"#,
            br#"{"traceparent":7}"#,
            br#"{"id":"x"}"#,
        ] {
            let cx = carried_context(payload);
            assert!(
                !cx.span().span_context().is_valid(),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }

    #[test]
    fn headers_give_the_callers_context_and_a_span_gives_its_own() {
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
        );
        let cx = extract(&headers);
        assert_eq!(
            traceparent(&cx).as_deref(),
            Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        );
        assert_eq!(traceparent(&Context::new()), None);
    }
}
