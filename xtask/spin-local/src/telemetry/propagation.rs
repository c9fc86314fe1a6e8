//! The W3C trace context (`traceparent`, `tracestate`) read from and written to what carries
//! it: request headers, as Spin reads them, and JSON message payloads, beyond Spin (see the
//! module docs of `telemetry`).

use std::collections::HashMap;

use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;

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
pub(super) fn extract(headers: &http::HeaderMap) -> Context {
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

/// The W3C context in a JSON-object payload's `traceparent` member (and `tracestate`).
pub(super) fn carried_context(payload: &[u8]) -> Context {
    let Ok(serde_json::Value::Object(members)) = serde_json::from_slice(payload) else {
        return Context::new();
    };
    context_from(|name| Some(members.get(name)?.as_str()?.to_string()))
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
