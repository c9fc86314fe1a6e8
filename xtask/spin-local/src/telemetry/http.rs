//! The HTTP trigger's spans, as Spin's `crates/trigger-http/src/instrument.rs` makes them.

use opentelemetry::trace::{SpanKind, TraceContextExt};
use opentelemetry::{Context, KeyValue};

use super::propagation::extract;
use super::{Telemetry, info, record_error, start};

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

/// Spin's `spin_trigger_http.execute_wasm` span: `execute_wasm_component {component}`.
pub fn execute_wasm(parent: &Context, component: &str) -> Context {
    start(parent, SpanKind::Internal, || {
        (format!("execute_wasm_component {component}"), Vec::new())
    })
}
