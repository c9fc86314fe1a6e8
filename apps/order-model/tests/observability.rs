#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken fixture should panic with its cause
//! Keeps docs/observability.md's "Structured logs" and `order_model::logging` in step: the field
//! table lists exactly the fields a line can have, in the order lines write them, and every
//! example line is a line the code could write.

use std::time::Duration;

use order_model::api::{ORDER_ROUTE, Response, STATUS_ROUTE};
use order_model::fulfilment::{Delivery, Handled};
use order_model::logging::{LogLine, components};
use order_model::{FulfilError, OrderId, Status, TraceParent};
use serde_json::Value as Json;

/// The "Structured logs" section of docs/observability.md, up to the next section.
fn doc() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/observability.md");
    let text = std::fs::read_to_string(path).expect("docs/observability.md");
    let (_, section) = text
        .split_once("\n## Structured logs\n")
        .expect("a \"## Structured logs\" section");
    section
        .split("\n## ")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The first column of the field table: `| \`name\` | …`.
fn documented_fields(doc: &str) -> Vec<String> {
    doc.lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split_once("` |"))
        .map(|(name, _)| name.to_string())
        .collect()
}

/// Every line of every ```json block, as its members and their names in the order written.
fn example_lines(doc: &str) -> Vec<(serde_json::Map<String, Json>, Vec<String>)> {
    doc.split("```json\n")
        .skip(1)
        .flat_map(|block| block.split("```").next().unwrap().lines())
        .map(|line| match serde_json::from_str(line) {
            Ok(Json::Object(members)) => {
                let keys = ordered_keys(line, &members);
                (members, keys)
            }
            other => panic!("not a JSON object: {line}: {other:?}"),
        })
        .collect()
}

/// The member names of the object `text` in the order they are written (serde_json's map
/// sorts them).
fn ordered_keys(text: &str, members: &serde_json::Map<String, Json>) -> Vec<String> {
    let mut keys: Vec<String> = members.keys().cloned().collect();
    keys.sort_by_key(|key| text.find(&format!("\"{key}\":")).unwrap());
    keys
}

fn keys(line: &LogLine) -> Vec<String> {
    let text = line.to_json();
    match serde_json::from_str(&text).unwrap() {
        Json::Object(members) => ordered_keys(&text, &members),
        other => panic!("{other}"),
    }
}

/// Lines with every field that can be present, for each kind of line.
fn full_lines() -> Vec<LogLine> {
    let trace: TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        .parse()
        .unwrap();
    let response = Response {
        status: 202,
        headers: Vec::new(),
        body: Vec::new(),
        log: Some("order accepted, but not fulfilled now".into()),
        order_id: Some(OrderId::new_random()),
        order_status: Some(Status::Created),
    };
    let http = LogLine::http_request(
        components::RECEIVER,
        ORDER_ROUTE,
        "POST",
        &response,
        Some(&trace),
        0,
        Duration::ZERO,
    );
    let id = OrderId::new_random();
    let message = LogLine::redis_message(
        components::FULFILLER,
        &Delivery {
            order_id: Some(id),
            trace: Some(trace),
            result: Err(FulfilError::StoreUnavailable("down".into())),
        },
        0,
        Duration::ZERO,
    );
    let not_created = LogLine::redis_message(
        components::FULFILLER,
        &Delivery {
            order_id: Some(id),
            trace: Some(trace),
            result: Ok(Handled::NotCreated(id, Status::Fulfilled)),
        },
        0,
        Duration::ZERO,
    );
    vec![http, message, not_created]
}

#[test]
fn the_field_table_is_every_field_in_the_order_lines_write_them() {
    let documented = documented_fields(&doc());
    let mut written: Vec<String> = Vec::new();
    for line in full_lines() {
        let keys = keys(&line);
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| {
                documented
                    .iter()
                    .position(|field| field == key)
                    .unwrap_or_else(|| panic!("`{key}` is not documented"))
            })
            .collect();
        assert!(positions.is_sorted(), "{keys:?} against {documented:?}");
        written.extend(keys);
    }
    for field in &documented {
        assert!(
            written.contains(field),
            "`{field}` is documented but never written"
        );
    }
}

#[test]
fn every_example_line_could_be_written_by_the_code() {
    let documented = documented_fields(&doc());
    let examples = example_lines(&doc());
    let components: Vec<&str> = examples
        .iter()
        .map(|(line, _)| line["component"].as_str().unwrap())
        .collect();
    for component in [
        components::RECEIVER,
        components::STATUS_PROVIDER,
        components::FULFILLER,
    ] {
        assert!(
            components.contains(&component),
            "no example for {component}"
        );
    }
    for (line, keys) in &examples {
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| documented.iter().position(|field| field == key).unwrap())
            .collect();
        assert!(positions.is_sorted(), "{keys:?}");
        let ts = line["ts"].as_str().unwrap();
        assert!(has_timestamp_shape(ts), "{ts}");
        assert!(["info", "warn", "error"].contains(&line["level"].as_str().unwrap()));
        assert!(line["duration_ms"].is_number());
        if let Some(trace_id) = line.get("trace_id") {
            let trace_id = trace_id.as_str().unwrap();
            let traceparent = format!("00-{trace_id}-00f067aa0ba902b7-01");
            assert!(traceparent.parse::<TraceParent>().is_ok(), "{trace_id}");
        }
        if let Some(id) = line.get("order_id") {
            assert!(id.as_str().unwrap().parse::<OrderId>().is_ok(), "{id}");
        }
        match line["event"].as_str().unwrap() {
            "http.request" => {
                let route = line["route"].as_str().unwrap();
                let expected = if line["component"] == components::RECEIVER {
                    ORDER_ROUTE
                } else {
                    STATUS_ROUTE
                };
                assert_eq!(route, expected);
                assert!(line["status"].is_u64() && line.get("outcome").is_none());
            }
            "redis.message" => {
                assert_eq!(line["component"], components::FULFILLER);
                assert!(line.get("route").is_none() && line.get("outcome").is_some());
            }
            other => panic!("unknown event {other}"),
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, the shape `logging::timestamp` writes.
fn has_timestamp_shape(ts: &str) -> bool {
    let shape = "dddd-dd-ddTdd:dd:dd.dddZ";
    ts.len() == shape.len()
        && ts.chars().zip(shape.chars()).all(|(c, s)| match s {
            'd' => c.is_ascii_digit(),
            other => c == other,
        })
}
