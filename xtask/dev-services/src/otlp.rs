//! An OTLP/HTTP trace receiver on a free loopback port, for tests: what an OpenTelemetry
//! Collector's `otlp` receiver does for `POST /v1/traces` with `application/x-protobuf`
//! (the OTLP specification, "OTLP/HTTP"), decoded with the protocol's own message types
//! (`opentelemetry-proto`), kept in memory. No Collector binary exists on these machines.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

/// One received span with what tests ask of it, ids as lowercase hex.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    /// The `service.name` of the resource that exported it.
    pub service: String,
    /// The instrumentation scope's name (Spin's tracer is `spin`).
    pub scope: String,
    pub name: String,
    pub kind: SpanKind,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    /// 16 hex digits, or empty for a root span.
    pub parent_span_id: String,
    /// String, integer, boolean and double attributes, as text.
    pub attributes: Vec<(String, String)>,
    /// Each event's name and attributes (as text).
    pub events: Vec<(String, Vec<(String, String)>)>,
    /// Linked spans as (trace id, span id).
    pub links: Vec<(String, String)>,
    /// The status message when the span's status is an error.
    pub error: Option<String>,
}

impl ReceivedSpan {
    /// The attribute's value as text, if the span has it.
    pub fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

/// The receiver; it stops when dropped.
pub struct OtlpReceiver {
    address: SocketAddr,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl OtlpReceiver {
    /// Listens on `127.0.0.1` at a free port.
    pub fn start() -> Result<OtlpReceiver> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-receiver")
            .enable_all()
            .build()
            .context("starting the OTLP receiver's runtime")?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .context("binding the OTLP receiver")?;
        let address = listener.local_addr()?;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (stored, raw) = (spans.clone(), requests.clone());
        runtime.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (stored, raw) = (stored.clone(), raw.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let (stored, raw) = (stored.clone(), raw.clone());
                        async move { Ok::<_, hyper::Error>(receive(request, &stored, &raw).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(OtlpReceiver {
            address,
            spans,
            requests,
            runtime: Some(runtime),
        })
    }

    /// The base URL for `OTEL_EXPORTER_OTLP_ENDPOINT` (the exporter appends `/v1/traces`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The raw bodies of every export request so far, to search for what must never be sent.
    pub fn raw_requests(&self) -> Vec<Vec<u8>> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Waits until `check` finds what it looks for among the received spans.
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&[ReceivedSpan]) -> Option<T>,
    ) -> Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            let spans = self.spans();
            if let Some(found) = check(&spans) {
                return Ok(found);
            }
            if Instant::now() > deadline {
                let names: Vec<_> = spans.iter().map(|s| s.name.as_str()).collect();
                bail!("no {what} within {timeout:?}; received spans: {names:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// One OTLP/HTTP request: `POST /v1/traces` with a protobuf `ExportTraceServiceRequest` is
/// stored and answered `200` with an empty `ExportTraceServiceResponse`; anything else is `404`
/// (or `400` when the body does not decode), as the Collector answers.
async fn receive(
    request: Request<Incoming>,
    stored: &Mutex<Vec<ReceivedSpan>>,
    raw: &Mutex<Vec<Vec<u8>>>,
) -> Response<Full<Bytes>> {
    if request.method() != hyper::Method::POST || request.uri().path() != "/v1/traces" {
        return reply(hyper::StatusCode::NOT_FOUND, Vec::new());
    }
    let Ok(body) = request.into_body().collect().await else {
        return reply(hyper::StatusCode::BAD_REQUEST, Vec::new());
    };
    let body = body.to_bytes();
    let Ok(export) = ExportTraceServiceRequest::decode(body.as_ref()) else {
        return reply(hyper::StatusCode::BAD_REQUEST, Vec::new());
    };
    if let Ok(mut raw) = raw.lock() {
        raw.push(body.to_vec());
    }
    if let Ok(mut stored) = stored.lock() {
        stored.extend(flatten(export));
    }
    reply(
        hyper::StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

fn reply(status: hyper::StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/x-protobuf"),
    );
    response
}

fn flatten(export: ExportTraceServiceRequest) -> Vec<ReceivedSpan> {
    let mut spans = Vec::new();
    for resource_spans in export.resource_spans {
        let service = resource_spans
            .resource
            .iter()
            .flat_map(|resource| &resource.attributes)
            .find(|attribute| attribute.key == "service.name")
            .map(|attribute| text(attribute.value.as_ref()))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            let scope = scope_spans
                .scope
                .map(|scope| scope.name)
                .unwrap_or_default();
            for span in scope_spans.spans {
                spans.push(ReceivedSpan {
                    service: service.clone(),
                    scope: scope.clone(),
                    kind: SpanKind::try_from(span.kind).unwrap_or(SpanKind::Unspecified),
                    name: span.name,
                    trace_id: hex(&span.trace_id),
                    span_id: hex(&span.span_id),
                    parent_span_id: hex(&span.parent_span_id),
                    attributes: pairs(&span.attributes),
                    events: span
                        .events
                        .iter()
                        .map(|event| (event.name.clone(), pairs(&event.attributes)))
                        .collect(),
                    links: span
                        .links
                        .iter()
                        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
                        .collect(),
                    error: span
                        .status
                        .filter(|status| status.code == StatusCode::Error as i32)
                        .map(|status| status.message),
                });
            }
        }
    }
    spans
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|attribute| (attribute.key.clone(), text(attribute.value.as_ref())))
        .collect()
}

fn text(value: Option<&AnyValue>) -> String {
    match value.and_then(|value| value.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
