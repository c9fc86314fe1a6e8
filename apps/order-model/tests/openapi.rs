#![allow(clippy::unwrap_used, clippy::expect_used)] // a broken fixture should panic with its cause
//! Keeps `docs/openapi.yaml` and the code in step: every status a handler can answer is
//! documented for its operation and every documented one can happen; names, limits and enums
//! come from the domain crate.

use std::collections::BTreeSet;

use order_model::api::{self, Request, Response};
use order_model::request::{MAX_BODY_BYTES, MAX_DETAILS_CHARS, MAX_IDEMPOTENCY_KEY_LEN};
use order_model::{
    ApiError, Arg, Body, KeySpace, OrderId, OrderStore, Placement, Redis, RedisError, Status,
    StoreError, TraceParent, Value,
};
use serde_json::Value as Json;

fn spec() -> Json {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.yaml");
    let text = std::fs::read_to_string(path).expect("docs/openapi.yaml");
    serde_yaml_ng::from_str(&text).expect("docs/openapi.yaml is YAML")
}

/// Resolves a local `$ref` once.
fn resolve<'a>(spec: &'a Json, node: &'a Json) -> &'a Json {
    match node.get("$ref").and_then(Json::as_str) {
        Some(reference) => spec
            .pointer(reference.trim_start_matches('#'))
            .unwrap_or_else(|| panic!("dangling $ref {reference}")),
        None => node,
    }
}

fn documented_codes(spec: &Json, path: &str, method: &str) -> BTreeSet<u16> {
    spec["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is documented"))
        .keys()
        .map(|code| code.parse().unwrap())
        .collect()
}

/// A store whose replies the test chooses.
enum Fake {
    Working,
    Down,
    Garbled,
}

impl Redis for Fake {
    fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
        match self {
            Fake::Down => Err(RedisError("connection refused".into())),
            Fake::Garbled => Ok(vec![Value::Status("QUEUED".into())]),
            Fake::Working => Ok(match command {
                "EVAL" => {
                    let id = args
                        .iter()
                        .find_map(|arg| match arg {
                            Arg::Bytes(b) if b.len() == 36 => Some(b.to_vec()),
                            _ => None,
                        })
                        .unwrap();
                    vec![Value::Int(1), Value::Bytes(id)]
                }
                "HMGET" => vec![
                    Value::Bytes(b"created".to_vec()),
                    Value::Bytes(b"tea".to_vec()),
                ],
                other => panic!("unexpected command {other}"),
            }),
        }
    }
}

fn store(fake: Fake) -> impl FnOnce() -> Result<OrderStore<Fake>, StoreError> {
    move || Ok(OrderStore::new(fake, KeySpace::default(), "neworders"))
}

fn request<'a>(
    method: &'a str,
    path_info: &'a str,
    content_type: &'a str,
    body: &'a [u8],
) -> Request<'a> {
    Request {
        method,
        path_info,
        content_type: Some(content_type.as_bytes()),
        idempotency_key: None,
        traceparent: None,
        body: Body::Complete(body),
    }
}

fn receiver_responses() -> Vec<Response> {
    let good: &[u8] = br#"{"details":"tea"}"#;
    let big = vec![b' '; MAX_BODY_BYTES + 1];
    let cases: [(&str, &str, &[u8], Fake); 7] = [
        ("POST", "application/json", good, Fake::Working),
        ("POST", "application/json", b"{", Fake::Working),
        ("GET", "application/json", good, Fake::Working),
        ("POST", "application/json", &big, Fake::Working),
        ("POST", "text/plain", good, Fake::Working),
        ("POST", "application/json", good, Fake::Garbled),
        ("POST", "application/json", good, Fake::Down),
    ];
    cases
        .into_iter()
        .map(|(method, content_type, body, fake)| {
            let request = request(method, "", content_type, body);
            api::receive(
                &request,
                store(fake),
                Placement::Message,
                |_| unreachable!("the message placement does not call fulfilment"),
                OrderId::new_random(),
                0,
            )
        })
        .collect()
}

fn status_responses() -> Vec<Response> {
    let id = format!("/{}", OrderId::new_random());
    let get = |path: &str, fake| api::status(&request("GET", path, "", b""), store(fake));
    vec![
        get(&id, Fake::Working),
        get("/nope", Fake::Working),
        get(&format!("/{}", OrderId::new_random()), Fake::Garbled),
        api::status(&request("PUT", &id, "", b""), store(Fake::Working)),
        get(&id, Fake::Down),
    ]
}

fn not_found() -> Response {
    struct Empty;
    impl Redis for Empty {
        fn execute(&self, _: &str, _: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
            Ok(vec![Value::Nil, Value::Nil])
        }
    }
    let id = format!("/{}", OrderId::new_random());
    api::status(&request("GET", &id, "", b""), || {
        Ok(OrderStore::new(Empty, KeySpace::default(), "c"))
    })
}

fn check_responses(spec: &Json, path: &str, method: &str, responses: &[Response]) {
    let documented = documented_codes(spec, path, method);
    let seen: BTreeSet<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(
        seen, documented,
        "{method} {path}: statuses the code answers vs. the spec"
    );
    for response in responses {
        let doc = resolve(
            spec,
            &spec["paths"][path][method]["responses"][response.status.to_string()],
        );
        for header in doc["headers"]
            .as_object()
            .into_iter()
            .flat_map(|h| h.keys())
        {
            assert!(
                response.header(header).is_some(),
                "{method} {path} {}: {header}",
                response.status
            );
        }
        let content_type = response.header("content-type").unwrap();
        let schema = resolve(spec, &doc["content"][content_type]["schema"]);
        let body: Json = serde_json::from_slice(&response.body).unwrap();
        for field in schema["required"].as_array().unwrap() {
            assert!(
                body.get(field.as_str().unwrap()).is_some(),
                "{}: {field}",
                response.status
            );
        }
    }
}

#[test]
fn every_answered_status_is_documented_and_every_documented_one_is_answered() {
    let spec = spec();
    check_responses(&spec, "/order", "post", &receiver_responses());
    let mut responses = status_responses();
    responses.push(not_found());
    check_responses(&spec, "/order/{id}", "get", &responses);
    let head: BTreeSet<u16> = documented_codes(&spec, "/order/{id}", "head");
    let get: BTreeSet<u16> = documented_codes(&spec, "/order/{id}", "get");
    assert_eq!(head, get, "HEAD answers what GET does");
}

#[test]
fn problem_types_statuses_and_members_match_the_error_kinds() {
    let spec = spec();
    let problem = &spec["components"]["schemas"]["Problem"];
    let types: BTreeSet<String> = problem["properties"]["type"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect();
    let statuses: BTreeSet<u64> = problem["properties"]["status"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_u64().unwrap())
        .collect();
    let examples = ApiError::examples();
    assert_eq!(
        types,
        examples.iter().map(|e| e.problem().type_uri).collect()
    );
    assert_eq!(
        statuses,
        examples.iter().map(|e| u64::from(e.status())).collect()
    );
    let mut members: Vec<&str> = problem["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    members.sort();
    let json = serde_json::to_value(examples[0].problem()).unwrap();
    let mut actual: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    actual.sort();
    assert_eq!(members, actual);
}

#[test]
fn limits_and_enums_come_from_the_domain() {
    let spec = spec();
    let schemas = &spec["components"]["schemas"];
    let statuses: Vec<&str> = schemas["Status"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(statuses, Status::ALL.map(Status::as_str));
    let details = &schemas["NewOrder"]["properties"]["details"];
    assert_eq!(details["minLength"], 1);
    assert_eq!(details["maxLength"], MAX_DETAILS_CHARS);
    let key = &spec["components"]["parameters"]["IdempotencyKey"];
    assert_eq!(key["name"], "Idempotency-Key");
    assert_eq!(key["schema"]["maxLength"], MAX_IDEMPOTENCY_KEY_LEN);
    let trace = &spec["components"]["parameters"]["TraceParent"];
    assert_eq!(
        (&trace["name"], &trace["in"], &trace["required"]),
        (
            &Json::from(TraceParent::HEADER),
            &Json::from("header"),
            &Json::from(false)
        ),
        "an optional header: an invalid one is ignored, never refused"
    );
    let example = trace["description"].as_str().unwrap();
    let example = example.split('`').nth(1).unwrap();
    assert!(example.parse::<TraceParent>().is_ok(), "{example}");
    let too_large = spec["components"]["responses"]["PayloadTooLarge"]["description"]
        .as_str()
        .unwrap();
    assert!(
        too_large.contains(&MAX_BODY_BYTES.to_string()),
        "{too_large}"
    );
    assert_eq!(spec["openapi"], "3.1.0");
}
