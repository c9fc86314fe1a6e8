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

mod app_log;
mod http;
mod propagation;
mod redis;

use anyhow::{Result, bail};
use opentelemetry::trace::{SpanKind, TraceContextExt, Tracer, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

pub use app_log::AppLog;
pub use http::{execute_wasm, finish_http, http_server};
pub use propagation::traceparent;
pub use redis::{handler_failed, redis_client, redis_message};

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
