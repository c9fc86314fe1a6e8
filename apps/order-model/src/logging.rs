//! Structured logs: one JSON object per line, one line per HTTP request (receiver,
//! status-provider) and per new-order message (fulfiller). The format is documented in
//! docs/observability.md, "Structured logs"; this module only builds lines, the components
//! write them (stdout for `info`, stderr for `warn` and `error`), where Spin also records each
//! line as an `app_log` event on its request's span.
//!
//! No line carries a secret: the Redis address and the Spin variables' values are never a
//! field, and every `error` text passes through [`redact_userinfo`] first, in case a host error
//! quotes an address with its credentials.

use std::time::Duration;

use serde::Serialize;

use crate::api::Response;
use crate::fulfilment::{Delivery, Handled};
use crate::order::{OrderId, Status};
use crate::trace::TraceParent;

/// The Spin component ids that log, as the `component` field names them.
pub mod components {
    pub const RECEIVER: &str = "receiver";
    pub const STATUS_PROVIDER: &str = "status-provider";
    pub const FULFILLER: &str = "fulfiller";
}

/// The `event` of a line about one HTTP request.
pub const HTTP_REQUEST: &str = "http.request";
/// The `event` of a line about one message from the new-orders channel.
pub const REDIS_MESSAGE: &str = "redis.message";

/// How much a line matters; `info` goes to stdout, the others to stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// Handled as it should be, including a client's mistake (4xx) and a repeat.
    Info,
    /// Handled, but not as intended: the order stays pending, or a message was dropped.
    Warn,
    /// Failed on the server's side: a 5xx, or a message whose fulfilment failed.
    Error,
}

impl Level {
    /// Whether the line belongs on stderr rather than stdout.
    pub fn is_stderr(self) -> bool {
        self != Level::Info
    }
}

/// One log line; [`LogLine::to_json`] writes it. Absent fields are left out, not `null`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LogLine {
    /// When the line was made (the end of the request or message): RFC 3339, UTC, milliseconds.
    ts: String,
    level: Level,
    component: &'static str,
    event: &'static str,
    /// HTTP only: the request's method.
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    /// HTTP only: the matched route template (`/order`, `/order/{id}`), never the raw path.
    #[serde(skip_serializing_if = "Option::is_none")]
    route: Option<&'static str>,
    /// HTTP only: the response's status code.
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    /// Messages only: what became of it (see [`outcome`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    outcome: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_id: Option<OrderId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order_status: Option<Status>,
    /// Handling time in milliseconds, to the microsecond.
    duration_ms: f64,
    /// The W3C trace-id (32 lowercase hex digits) from the request's `traceparent` header or
    /// the message's `traceparent` member.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_id: Option<String>,
    /// The server-side cause of a failure, redacted by [`redact_userinfo`].
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl LogLine {
    /// The line for one HTTP request to `route` of `component`, answered with `response`;
    /// `now_ms` is the wall clock (Unix ms), `elapsed` the handling time (a monotonic clock).
    ///
    /// Level: `error` for a 5xx, `warn` for another answer with a server-side cause (a composed
    /// order accepted but not fulfilled now), else `info`. `error` is that cause.
    pub fn http_request(
        component: &'static str,
        route: &'static str,
        method: &str,
        response: &Response,
        trace: Option<&TraceParent>,
        now_ms: i64,
        elapsed: Duration,
    ) -> LogLine {
        let level = match (response.status, &response.log) {
            (500.., _) => Level::Error,
            (_, Some(_)) => Level::Warn,
            _ => Level::Info,
        };
        LogLine {
            method: Some(method.to_string()),
            route: Some(route),
            status: Some(response.status),
            order_id: response.order_id,
            order_status: response.order_status,
            error: response.log.as_deref().map(redact_userinfo),
            ..LogLine::new(level, component, HTTP_REQUEST, trace, now_ms, elapsed)
        }
    }

    /// The line for one message to `component`, as [`crate::fulfilment::on_message`] handled it.
    ///
    /// Level: `error` when the fulfilment call failed (the trigger then reports the message as
    /// failed), `warn` for a dropped malformed message or an unknown order, else `info`.
    pub fn redis_message(
        component: &'static str,
        delivery: &Delivery,
        now_ms: i64,
        elapsed: Duration,
    ) -> LogLine {
        let (level, order_status, error) = match &delivery.result {
            Ok(Handled::Fulfilled(_) | Handled::AlreadyFulfilled(_)) => {
                (Level::Info, Some(Status::Fulfilled), None)
            }
            Ok(Handled::NotCreated(_, status)) => (Level::Info, Some(*status), None),
            Ok(Handled::UnknownOrder(_)) => (Level::Warn, None, None),
            Ok(Handled::Malformed(why)) => (Level::Warn, None, Some(why.clone())),
            Err(error) => (Level::Error, None, Some(error.to_string())),
        };
        LogLine {
            outcome: Some(outcome(&delivery.result)),
            order_id: delivery.order_id,
            order_status,
            error: error.as_deref().map(redact_userinfo),
            ..LogLine::new(
                level,
                component,
                REDIS_MESSAGE,
                delivery.trace.as_ref(),
                now_ms,
                elapsed,
            )
        }
    }

    fn new(
        level: Level,
        component: &'static str,
        event: &'static str,
        trace: Option<&TraceParent>,
        now_ms: i64,
        elapsed: Duration,
    ) -> LogLine {
        LogLine {
            ts: timestamp(now_ms),
            level,
            component,
            event,
            method: None,
            route: None,
            status: None,
            outcome: None,
            order_id: None,
            order_status: None,
            duration_ms: elapsed.as_micros() as f64 / 1000.0,
            trace_id: trace.map(TraceParent::trace_id),
            error: None,
        }
    }

    pub fn level(&self) -> Level {
        self.level
    }

    /// The line as one JSON object, without a line break (strings are JSON-escaped, so no
    /// field can break the line or forge another).
    pub fn to_json(&self) -> String {
        // Strings, numbers and enums only: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A message's `outcome`: `fulfilled`, `already_fulfilled`, `unknown_order`, `not_created`,
/// `malformed` (dropped) or `failed` (the fulfilment call failed).
pub fn outcome(result: &Result<Handled, crate::FulfilError>) -> &'static str {
    match result {
        Ok(Handled::Fulfilled(_)) => "fulfilled",
        Ok(Handled::AlreadyFulfilled(_)) => "already_fulfilled",
        Ok(Handled::UnknownOrder(_)) => "unknown_order",
        Ok(Handled::NotCreated(..)) => "not_created",
        Ok(Handled::Malformed(_)) => "malformed",
        Err(_) => "failed",
    }
}

/// `now_ms` (Unix ms) as RFC 3339 in UTC with milliseconds: `2025-06-01T12:00:00.123Z`.
pub fn timestamp(now_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(now_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `text` with the userinfo of every URL in it (`redis://user:password@host` →
/// `redis://***@host`) replaced by `***`, so that an error quoting a Redis address cannot log
/// its password.
///
/// A URL's userinfo is taken to be everything from its `://` to the *last* `@` before the next
/// whitespace (or the end). That is the `@` a URL parser splits the authority at, and it covers
/// a password that was not percent-encoded (containing `@`, `:`, `/`): such a URL is redacted
/// too much rather than too little.
pub fn redact_userinfo(text: &str) -> String {
    let mut redacted = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(scheme_end) = rest.find("://") {
        let (head, tail) = rest.split_at(scheme_end + 3);
        redacted.push_str(head);
        let token = tail.split(char::is_whitespace).next().unwrap_or_default();
        rest = match token.rfind('@') {
            Some(userinfo_end) => {
                redacted.push_str("***");
                &tail[userinfo_end..]
            }
            None => tail,
        };
    }
    redacted.push_str(rest);
    redacted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FulfilError;
    use crate::api::{ORDER_ROUTE, STATUS_ROUTE};

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    /// 2025-06-01T12:34:56.789Z
    const NOW_MS: i64 = 1_748_781_296_789;

    fn json(line: &LogLine) -> serde_json::Value {
        let text = line.to_json();
        assert!(!text.contains('\n'), "{text}");
        serde_json::from_str(&text).unwrap()
    }

    fn response(status: u16, log: Option<&str>) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            log: log.map(str::to_string),
            order_id: None,
            order_status: None,
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(NOW_MS), "2025-06-01T12:34:56.789Z");
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_000), "1970-01-01T00:00:01.000Z");
        assert_eq!(timestamp(951_782_400_001), "2000-02-29T00:00:00.001Z");
    }

    #[test]
    fn an_accepted_order_is_one_info_line_with_every_field() {
        let id = OrderId::new_random();
        let mut accepted = response(202, None);
        accepted.order_id = Some(id);
        accepted.order_status = Some(Status::Created);
        let trace: TraceParent = TRACEPARENT.parse().unwrap();
        let line = LogLine::http_request(
            components::RECEIVER,
            ORDER_ROUTE,
            "POST",
            &accepted,
            Some(&trace),
            NOW_MS,
            Duration::from_micros(1_234),
        );
        assert_eq!(line.level(), Level::Info);
        assert_eq!(
            json(&line),
            serde_json::json!({
                "ts": "2025-06-01T12:34:56.789Z",
                "level": "info",
                "component": "receiver",
                "event": "http.request",
                "method": "POST",
                "route": "/order",
                "status": 202,
                "order_id": id.to_string(),
                "order_status": "created",
                "duration_ms": 1.234,
                "trace_id": TRACE_ID,
            })
        );
        // The fields come in the documented order.
        let text = line.to_json();
        let at = |field: &str| text.find(&format!("\"{field}\":")).unwrap();
        let order = [
            "ts",
            "level",
            "component",
            "event",
            "method",
            "route",
            "status",
            "order_id",
            "order_status",
            "duration_ms",
            "trace_id",
        ];
        assert!(order.windows(2).all(|w| at(w[0]) < at(w[1])), "{text}");
    }

    #[test]
    fn http_levels_follow_the_status_and_the_cause() {
        for (status, log, level) in [
            (200, None, Level::Info),
            (202, None, Level::Info),
            (400, None, Level::Info),
            (404, None, Level::Info),
            (413, None, Level::Info),
            (
                202,
                Some("order x accepted, but not fulfilled now"),
                Level::Warn,
            ),
            (500, Some("configuration: bad"), Level::Error),
            (503, Some("order store unavailable"), Level::Error),
        ] {
            let line = LogLine::http_request(
                components::STATUS_PROVIDER,
                STATUS_ROUTE,
                "GET",
                &response(status, log),
                None,
                NOW_MS,
                Duration::ZERO,
            );
            assert_eq!(line.level(), level, "{status} {log:?}");
            assert_eq!(level.is_stderr(), level != Level::Info);
            let json = json(&line);
            assert_eq!(json["route"], "/order/{id}");
            assert_eq!(json["status"], status);
            assert_eq!(json["error"].as_str(), log);
            assert_eq!(json["duration_ms"], 0.0);
            for absent in ["trace_id", "order_id", "order_status", "outcome"] {
                assert!(json.get(absent).is_none(), "{absent}: {json}");
            }
        }
    }

    fn delivery(result: Result<Handled, FulfilError>, order_id: Option<OrderId>) -> Delivery {
        Delivery {
            order_id,
            trace: Some(TRACEPARENT.parse().unwrap()),
            result,
        }
    }

    #[test]
    fn each_message_outcome_has_its_level_status_and_cause() {
        let id = OrderId::new_random();
        for (result, level, outcome, order_status, error) in [
            (
                Ok(Handled::Fulfilled(id)),
                "info",
                "fulfilled",
                Some("fulfilled"),
                None,
            ),
            (
                Ok(Handled::AlreadyFulfilled(id)),
                "info",
                "already_fulfilled",
                Some("fulfilled"),
                None,
            ),
            (
                Ok(Handled::NotCreated(id, Status::Fulfilled)),
                "info",
                "not_created",
                Some("fulfilled"),
                None,
            ),
            (
                Ok(Handled::UnknownOrder(id)),
                "warn",
                "unknown_order",
                None,
                None,
            ),
            (
                Err(FulfilError::StoreUnavailable(
                    "opening Redis: refused".into(),
                )),
                "error",
                "failed",
                None,
                Some("order store unavailable: opening Redis: refused"),
            ),
        ] {
            let line = LogLine::redis_message(
                components::FULFILLER,
                &delivery(result, Some(id)),
                NOW_MS,
                Duration::from_micros(250),
            );
            assert_eq!(
                json(&line),
                serde_json::json!({
                    "ts": "2025-06-01T12:34:56.789Z",
                    "level": level,
                    "component": "fulfiller",
                    "event": "redis.message",
                    "outcome": outcome,
                    "order_id": id.to_string(),
                    "order_status": order_status,
                    "duration_ms": 0.25,
                    "trace_id": TRACE_ID,
                    "error": error,
                })
                .as_object()
                .unwrap()
                .iter()
                .filter(|(_, value)| !value.is_null())
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect::<serde_json::Value>(),
                "{outcome}"
            );
        }
        let malformed = LogLine::redis_message(
            components::FULFILLER,
            &Delivery {
                order_id: None,
                trace: None,
                result: Ok(Handled::Malformed("expected value at line 1".into())),
            },
            NOW_MS,
            Duration::ZERO,
        );
        let json = json(&malformed);
        assert_eq!(
            (&json["level"], &json["outcome"], &json["error"]),
            (
                &"warn".into(),
                &"malformed".into(),
                &"expected value at line 1".into()
            )
        );
        assert!(json.get("order_id").is_none() && json.get("trace_id").is_none());
    }

    /// Passwords as they appear in addresses: percent-encoded (the `redis_password` variable's
    /// form) and, for a misconfiguration, raw.
    const PASSWORDS: [&str; 8] = [
        "s3cr3t",
        "p%40ss%3Aw%2Frd",
        "a%2Fb%2Fc",
        "p@ss",
        "p@ss:w/rd",
        "we:ird@@one",
        "%25%40%3A",
        "ü%C3%BC",
    ];

    #[test]
    fn userinfo_is_redacted_from_every_url_and_nothing_else() {
        for password in PASSWORDS {
            for (text, expected) in [
                (
                    format!("opening Redis: redis://:{password}@127.0.0.1:6379 refused"),
                    "opening Redis: redis://***@127.0.0.1:6379 refused".to_string(),
                ),
                (
                    format!("bad address \"rediss://default:{password}@redis.svc:6380/0\""),
                    "bad address \"rediss://***@redis.svc:6380/0\"".to_string(),
                ),
                (
                    format!("a redis://:{password}@h:1, b rediss://u:{password}@h:2"),
                    "a redis://***@h:1, b rediss://***@h:2".to_string(),
                ),
                (
                    format!("InvalidAddress(\"redis://:{password}@host\")"),
                    "InvalidAddress(\"redis://***@host\")".to_string(),
                ),
            ] {
                let redacted = redact_userinfo(&text);
                assert_eq!(redacted, expected, "{text}");
                assert!(!redacted.contains(password), "{redacted}");
            }
        }
        for unchanged in [
            "",
            "connection refused",
            "disconnected from 127.0.0.1:6379",
            "opening Redis: redis://127.0.0.1:6379 refused",
            "mail root@localhost",
            "see https://www.rfc-editor.org/rfc/rfc9457",
            "ends with ://",
        ] {
            assert_eq!(redact_userinfo(unchanged), unchanged);
        }
    }

    #[test]
    fn no_line_carries_a_password_from_an_error() {
        for password in PASSWORDS {
            let cause =
                format!("order store unavailable: opening Redis: redis://:{password}@db:6379");
            let http = LogLine::http_request(
                components::RECEIVER,
                ORDER_ROUTE,
                "POST",
                &response(503, Some(&cause)),
                None,
                NOW_MS,
                Duration::ZERO,
            );
            let message = LogLine::redis_message(
                components::FULFILLER,
                &delivery(Err(FulfilError::StoreUnavailable(cause.clone())), None),
                NOW_MS,
                Duration::ZERO,
            );
            for line in [http, message] {
                let text = line.to_json();
                // Neither as written nor as JSON escapes it.
                let escaped = serde_json::to_string(password).unwrap();
                assert!(
                    !text.contains(password) && !text.contains(escaped.trim_matches('"')),
                    "{text}"
                );
                assert!(text.contains("redis://***@db:6379"), "{text}");
            }
        }
    }
}
