//! OpenTelemetry from the embedded runtime, received by a real OTLP/HTTP receiver on loopback
//! (dev-services' `OtlpReceiver`, built on the protocol's own messages): both apps run as
//! separate `spin-local` processes, as on a cluster, with the standard `OTEL_*` environment.
//! One order is one trace: Spin's HTTP server span, the receiver's `execute_wasm` span below
//! it, its outbound Redis spans, and the fulfilment app's `{channel} receive` span joined to it
//! through the message's `traceparent`, with the order id in the components' `app_log` events.
//! And no secret reaches a log line or an exported span.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::Duration;

use dev_services::{OtlpReceiver, ReceivedSpan, RedisOptions, RedisServer, SpanKind};
use order_e2e::harness;
use order_e2e::harness::{
    accepted_id, eventually, post_order, request, spin_local_up, stop, wait_for_subscriber,
    wait_until_fulfilled, wasm_dir,
};

/// A password that is easy to find anywhere it leaks to: its raw form and its URL form.
const PASSWORD: &str = "otel/leak:check@Zq8";
const PASSWORD_URL_FORM: &str = "otel%2Fleak%3Acheck%40Zq8";

fn redis() -> RedisServer {
    RedisServer::start_with(RedisOptions {
        append_only: false,
        password: Some(PASSWORD.to_string()),
        tls: false,
    })
    .unwrap()
}

/// One app (`apps/<app>/spin.toml`) in a `spin-local` of its own, exporting to `otlp` as
/// `service`, with Redis' password in the environment as a user (or the chart) sets it.
fn start(
    app: &str,
    service: &str,
    redis: &RedisServer,
    otlp: &OtlpReceiver,
    listen: &str,
) -> Child {
    wasm_dir();
    let manifest = harness::workspace_root().join(format!("apps/{app}/spin.toml"));
    let mut command: Command =
        spin_local_up(&["-f", manifest.to_str().unwrap(), "--listen", listen]);
    command
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_SERVICE_NAME", service)
        // Export within a tenth of a second instead of the SDK's five.
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("SPIN_VARIABLE_REDIS_PORT", redis.port().to_string())
        .env("SPIN_VARIABLE_REDIS_PASSWORD", PASSWORD_URL_FORM);
    command.spawn().unwrap()
}

struct System {
    api: SocketAddr,
    processes: Vec<Child>,
}

impl System {
    fn start(redis: &RedisServer, otlp: &OtlpReceiver) -> System {
        let api: SocketAddr = format!("127.0.0.1:{}", dev_services::free_port().unwrap())
            .parse()
            .unwrap();
        let unused = format!("127.0.0.1:{}", dev_services::free_port().unwrap());
        let processes = vec![
            start(
                "order-processor",
                "order-processor",
                redis,
                otlp,
                &api.to_string(),
            ),
            start(
                "fulfilment-processor",
                "fulfilment-processor",
                redis,
                otlp,
                &unused,
            ),
        ];
        eventually("the API", Duration::from_secs(60), || {
            TcpStream::connect(api).ok()
        });
        wait_for_subscriber(redis);
        System { api, processes }
    }

    /// Stops both apps and returns everything they printed.
    fn stop(self) -> String {
        let mut printed = String::new();
        for process in self.processes {
            let output = stop(process);
            printed.push_str(&String::from_utf8_lossy(&output.stdout));
            printed.push_str(&String::from_utf8_lossy(&output.stderr));
        }
        printed
    }
}

fn span<'a>(spans: &'a [ReceivedSpan], name: &str, service: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.name == name && s.service == service)
}

/// Whether one of the span's events is a component's output mentioning `needle`: the `app_log`
/// attribute, as Spin records it (its event name is Spin's source line; spin-local's `app_log`).
fn logs_mention(span: &ReceivedSpan, needle: &str) -> bool {
    span.events.iter().any(|(_, attributes)| {
        attributes
            .iter()
            .any(|(key, value)| key == "app_log" && value.contains(needle))
            && attributes
                .iter()
                .any(|(key, value)| key == "level" && value == "INFO")
    })
}

#[test]
fn one_order_is_one_trace_from_post_to_fulfilled() {
    let redis = redis();
    let otlp = OtlpReceiver::start().unwrap();
    let system = System::start(&redis, &otlp);

    let id = accepted_id(&post_order(system.api, "traced pizza"));
    wait_until_fulfilled(system.api, &format!("/order/{id}"));

    let (server, execute, consumer) = otlp
        .wait_for("the order's trace", Duration::from_secs(30), |spans| {
            let server = span(spans, "POST /order", "order-processor")?;
            let execute = spans.iter().find(|s| {
                s.name == "execute_wasm_component receiver" && s.trace_id == server.trace_id
            })?;
            let consumer = spans.iter().find(|s| {
                s.name == "neworders receive"
                    && s.service == "fulfilment-processor"
                    && s.trace_id == server.trace_id
            })?;
            Some((server.clone(), execute.clone(), consumer.clone()))
        })
        .unwrap();
    let spans = otlp.spans();
    let printed = system.stop();
    print_trace(&spans, &server.trace_id);

    // Spin's HTTP span: a root (no caller context), kind server, its attributes.
    assert_eq!(server.scope, "spin");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(server.parent_span_id, "");
    assert_eq!(server.attribute("http.request.method"), Some("POST"));
    assert_eq!(server.attribute("http.route"), Some("/order"));
    assert_eq!(server.attribute("http.response.status_code"), Some("202"));
    assert_eq!(server.attribute("url.path"), Some("/order"));
    let events: Vec<&str> = server
        .events
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(
        events,
        [
            "Processing request on path '/order'",
            "Request finished, sending response with status code 202 Accepted"
        ]
    );
    // The component runs below it, and its Redis calls below that.
    assert_eq!(execute.parent_span_id, server.span_id);
    let eval = spans
        .iter()
        .find(|s| s.name == "EVAL" && s.parent_span_id == execute.span_id)
        .unwrap_or_else(|| panic!("no EVAL span below the receiver: {spans:#?}"));
    assert_eq!(eval.kind, SpanKind::Client);
    assert_eq!(eval.attribute("db.system"), Some("redis"));
    assert_eq!(eval.attribute("command"), Some("EVAL"));
    // The fulfilment app's message span joins the trace below the receiver's span.
    assert_eq!(consumer.kind, SpanKind::Consumer);
    assert_eq!(consumer.parent_span_id, execute.span_id);
    assert_eq!(consumer.attribute("messaging.system"), Some("redis"));
    assert_eq!(consumer.attribute("messaging.operation"), Some("receive"));
    // The order id is in the trace on both sides, through the components' log lines.
    assert!(logs_mention(&execute, &id), "{execute:#?}");
    assert!(logs_mention(&consumer, &id), "{consumer:#?}");

    assert_no_secret(&otlp, &printed);
}

#[test]
fn a_callers_trace_context_is_the_parent_of_the_http_span() {
    let redis = redis();
    let otlp = OtlpReceiver::start().unwrap();
    let system = System::start(&redis, &otlp);
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller = "00f067aa0ba902b7";

    let reply = request(
        system.api,
        "POST",
        "/order",
        &[
            ("content-type", "application/json"),
            ("traceparent", &format!("00-{trace_id}-{caller}-01")),
        ],
        br#"{"details":"a traced caller"}"#,
    );
    let id = accepted_id(&reply);
    wait_until_fulfilled(system.api, &format!("/order/{id}"));

    let (server, consumer) = otlp
        .wait_for("the caller's trace", Duration::from_secs(30), |spans| {
            let server = spans
                .iter()
                .find(|s| s.name == "POST /order" && s.trace_id == trace_id)?;
            let consumer = spans
                .iter()
                .find(|s| s.name == "neworders receive" && s.trace_id == trace_id)?;
            Some((server.clone(), consumer.clone()))
        })
        .unwrap();
    let printed = system.stop();
    assert_eq!(server.parent_span_id, caller);
    assert_ne!(
        consumer.parent_span_id, caller,
        "the consumer hangs below the receiver"
    );
    assert_no_secret(&otlp, &printed);
}

/// Writes the trace as a tree past the harness' capture, as docs/observability.md shows it.
fn print_trace(spans: &[ReceivedSpan], trace_id: &str) {
    fn children(
        spans: &[ReceivedSpan],
        trace_id: &str,
        parent: &str,
        depth: usize,
        out: &mut String,
    ) {
        for span in spans
            .iter()
            .filter(|s| s.trace_id == trace_id && s.parent_span_id == parent)
        {
            let logs = span
                .events
                .iter()
                .filter(|(name, _)| name == "app_log")
                .count();
            out.push_str(&format!(
                "{}{} [{:?}, {}, span {}{}]\n",
                "  ".repeat(depth),
                span.name,
                span.kind,
                span.service,
                &span.span_id[..8],
                if logs > 0 {
                    format!(", {logs} app_log")
                } else {
                    String::new()
                }
            ));
            children(spans, trace_id, &span.span_id, depth + 1, out);
        }
    }
    let mut out = format!("trace {trace_id}\n");
    children(spans, trace_id, "", 1, &mut out);
    let _ = writeln!(std::io::stderr().lock(), "{out}");
}

/// Neither the password nor its URL form is in anything the apps printed or exported.
fn assert_no_secret(otlp: &OtlpReceiver, printed: &str) {
    assert!(!otlp.raw_requests().is_empty());
    for secret in [PASSWORD, PASSWORD_URL_FORM] {
        assert!(
            !printed.contains(secret),
            "the log shows the password:\n{printed}"
        );
        for body in otlp.raw_requests() {
            assert!(
                !body.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "an exported span holds the password"
            );
        }
    }
}

/// A component that traps: a bare 500, and Spin's HTTP span still named by its route, with the
/// error as its status, an `exception` event and `error.type` (Spin's `internal_error` and
/// `instrument_error`).
#[test]
fn a_failed_component_is_an_error_span_named_by_its_route() {
    let otlp = OtlpReceiver::start().unwrap();
    let app = harness::probe_app("traps", "", "");
    let port = dev_services::free_port().unwrap();
    let api: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let child = spin_local_up(&["-f", app.to_str().unwrap(), "--listen", &api.to_string()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.endpoint())
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .spawn()
        .unwrap();
    eventually("the probe app", Duration::from_secs(60), || {
        TcpStream::connect(api).ok()
    });
    let reply = request(
        api,
        "GET",
        "/anything",
        &[("probe", "trap on purpose")],
        b"",
    );
    assert_eq!(reply.status, 500, "{reply:?}");
    let server = otlp
        .wait_for(
            "the failed request's span",
            Duration::from_secs(30),
            |spans| spans.iter().find(|s| s.kind == SpanKind::Server).cloned(),
        )
        .unwrap();
    stop(child);
    assert_eq!(server.name, "GET /...");
    assert_eq!(server.attribute("http.route"), Some("/..."));
    assert_eq!(server.attribute("http.response.status_code"), Some("500"));
    assert!(server.attribute("error.type").is_some(), "{server:#?}");
    assert!(
        server.error.is_some(),
        "the span's status is an error: {server:#?}"
    );
    assert!(
        server
            .events
            .iter()
            .any(|(name, _)| name.starts_with("Error processing request: ")),
        "{server:#?}"
    );
    assert!(
        server.events.iter().any(|(name, _)| name
            == "Request finished, sending response with status code 500 Internal Server Error"),
        "{server:#?}"
    );
    assert!(
        server
            .events
            .iter()
            .any(|(name, attributes)| name == "exception"
                && attributes.iter().any(|(key, _)| key == "exception.message")),
        "{server:#?}"
    );
}

#[test]
fn a_protocol_spin_local_cannot_speak_is_an_error_at_start() {
    let manifest = harness::workspace_root().join("apps/order-processor/spin.toml");
    for (protocol, expected) in [
        ("grpc", "spin-local exports OTLP over http/protobuf only"),
        ("http/json", "http/json OTLP protocol is not supported"),
    ] {
        let output = spin_local_up(&["-f", manifest.to_str().unwrap()])
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
    }
}
