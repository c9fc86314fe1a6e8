//! The HTTP API as pure functions: a framework-free request in, a response out.
//! The Spin components translate Spin's types to and from these.

use serde_json::json;

use crate::body::Body;
use crate::config::Placement;
use crate::fulfilment::FulfilError;
use crate::order::{OrderId, Status};
use crate::problem::{ApiError, PROBLEM_CONTENT_TYPE};
use crate::request::{IdempotencyKey, MAX_BODY_BYTES, NewOrder, is_json_content_type};
use crate::store::{Accepted, FulfilOutcome, OrderStore, Redis, StoreError};
use crate::trace::TraceParent;

/// The route the receiver serves; orders live below it.
pub const ORDER_ROUTE: &str = "/order";
/// The status provider's route as docs/api.md and the OpenAPI file name it (Spin's is
/// `/order/...`); logs name this template, never the raw path.
pub const STATUS_ROUTE: &str = "/order/{id}";

/// What the handlers need from an HTTP request.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The path below the component's route (Spin's `spin-path-info`), e.g. `/{id}`.
    pub path_info: &'a str,
    pub content_type: Option<&'a [u8]>,
    pub idempotency_key: Option<&'a [u8]>,
    /// The request's W3C trace context (`traceparent` header), when it came with a valid one;
    /// see [`TraceParent::from_header_values`].
    pub traceparent: Option<TraceParent>,
    /// Read within [`MAX_BODY_BYTES`] by [`crate::body::BoundedBody`].
    pub body: Body<'a>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// For server-side failures: the cause, for the log only (the body never carries it).
    pub log: Option<String>,
    /// The order the request was about, when it named or made one: for the log.
    pub order_id: Option<OrderId>,
    /// That order's status as answered, when the answer carries one: for the log.
    pub order_status: Option<Status>,
}

impl Response {
    fn json(status: u16, body: &serde_json::Value) -> Response {
        Response {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: body.to_string().into_bytes(),
            log: None,
            order_id: None,
            order_status: None,
        }
    }

    /// The body as text, for logs and tests.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl From<ApiError> for Response {
    fn from(error: ApiError) -> Self {
        let mut headers = vec![("content-type", PROBLEM_CONTENT_TYPE.to_string())];
        headers.extend(error.extra_headers());
        let body = serde_json::to_vec(&error.problem()).unwrap_or_default();
        Response {
            status: error.status(),
            headers,
            body,
            log: (error.status() >= 500).then(|| error.to_string()),
            order_id: None,
            order_status: None,
        }
    }
}

/// The location of an order, as `Location` and `href` carry it.
pub fn order_href(id: OrderId) -> String {
    format!("{ORDER_ROUTE}/{id}")
}

/// `POST /order`: validates and stores the order (with the request's trace context, when it has
/// one), hands it to fulfilment as `placement` says, and answers `202 Accepted` at once. `connect` is called only for a valid request, so bad
/// input never touches Redis.
///
/// - [`Placement::Message`]: the order is published with it, for fulfilment-processor; `fulfil`
///   is not called and the 202 says `created`.
/// - [`Placement::Composed`]: nothing is published; `fulfil` (the in-process WIT call) runs
///   right after the order is stored, and the 202 says `fulfilled` when it succeeded. When it
///   fails the answer is still 202 `created` (the order is stored and pending, so the
///   reconciler's re-publication gets it fulfilled) and the cause is logged.
pub fn receive<R: Redis>(
    request: &Request<'_>,
    connect: impl FnOnce() -> Result<OrderStore<R>, StoreError>,
    placement: Placement,
    fulfil: impl FnOnce(OrderId) -> Result<FulfilOutcome, FulfilError>,
    new_id: OrderId,
    now_ms: i64,
) -> Response {
    accept(request, connect, placement, fulfil, new_id, now_ms).unwrap_or_else(Response::from)
}

fn accept<R: Redis>(
    request: &Request<'_>,
    connect: impl FnOnce() -> Result<OrderStore<R>, StoreError>,
    placement: Placement,
    fulfil: impl FnOnce(OrderId) -> Result<FulfilOutcome, FulfilError>,
    new_id: OrderId,
    now_ms: i64,
) -> Result<Response, ApiError> {
    if request.method != "POST" {
        return Err(ApiError::MethodNotAllowed { allow: &["POST"] });
    }
    if !request.content_type.is_some_and(is_json_content_type) {
        return Err(ApiError::UnsupportedMediaType);
    }
    let body = match request.body {
        Body::Complete(body) if body.len() <= MAX_BODY_BYTES => body,
        _ => return Err(ApiError::PayloadTooLarge),
    };
    let idempotency_key = request
        .idempotency_key
        .map(IdempotencyKey::parse)
        .transpose()?;
    let order = NewOrder::from_json(body)?;
    let store = match placement {
        Placement::Message => connect()?,
        Placement::Composed => connect()?.without_publishing(),
    };
    let mut log = None;
    let accepted = store.accept(
        new_id,
        &order,
        idempotency_key.as_ref(),
        request.traceparent.as_ref(),
        now_ms,
    )?;
    let (id, status) = match accepted {
        Accepted::Created(id) if placement == Placement::Composed => match fulfil(id) {
            Ok(FulfilOutcome::Fulfilled | FulfilOutcome::AlreadyFulfilled) => {
                (id, Status::Fulfilled)
            }
            Ok(FulfilOutcome::UnknownOrder) => {
                log = Some(format!(
                    "order {id} accepted, but fulfilment does not know it; it stays pending"
                ));
                (id, Status::Created)
            }
            Err(error) => {
                log = Some(format!(
                    "order {id} accepted, but not fulfilled now ({error}); it stays pending"
                ));
                (id, Status::Created)
            }
        },
        Accepted::Created(id) => (id, Status::Created),
        Accepted::Repeated(id, status) => (id, status),
    };
    let href = order_href(id);
    let mut response = Response::json(
        202,
        &json!({ "task": { "href": href, "id": id.to_string(), "status": status } }),
    );
    response.headers.push(("location", href));
    response.log = log;
    response.order_id = Some(id);
    response.order_status = Some(status);
    Ok(response)
}

/// `GET /order/{id}` (and `HEAD`): the order's stored status.
pub fn status<R: Redis>(
    request: &Request<'_>,
    connect: impl FnOnce() -> Result<OrderStore<R>, StoreError>,
) -> Response {
    let mut response = lookup(request, connect).unwrap_or_else(Response::from);
    // Named for the log whenever the path holds a valid id, found or not.
    response.order_id = response.order_id.or_else(|| path_id(request));
    if request.method == "HEAD" {
        return Response {
            body: Vec::new(),
            ..response
        };
    }
    response
}

/// The id `path_info` names when it is `/{id}` with a valid id.
fn path_id(request: &Request<'_>) -> Option<OrderId> {
    request.path_info.strip_prefix('/')?.parse().ok()
}

fn lookup<R: Redis>(
    request: &Request<'_>,
    connect: impl FnOnce() -> Result<OrderStore<R>, StoreError>,
) -> Result<Response, ApiError> {
    let raw_id = request
        .path_info
        .strip_prefix('/')
        .unwrap_or(request.path_info);
    if raw_id.is_empty() || raw_id.contains('/') {
        return Err(ApiError::NotFound(format!(
            "{ORDER_ROUTE}{}",
            request.path_info
        )));
    }
    if request.method != "GET" && request.method != "HEAD" {
        return Err(ApiError::MethodNotAllowed {
            allow: &["GET", "HEAD"],
        });
    }
    let id: OrderId = raw_id.parse()?;
    let order = connect()?
        .find(id)?
        .ok_or_else(|| ApiError::NotFound(id.to_string()))?;
    let mut response = Response::json(
        200,
        &json!({ "id": order.id.to_string(), "status": order.status, "details": order.details }),
    );
    response.order_id = Some(order.id);
    response.order_status = Some(order.status);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::KeySpace;
    use crate::store::{Arg, RedisError, Value};

    /// A Redis that must not be reached: bad requests are answered before connecting.
    struct Unreachable;

    impl Redis for Unreachable {
        fn execute(&self, _: &str, _: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
            Err(RedisError("connection refused".into()))
        }
    }

    fn never_connect() -> Result<OrderStore<Unreachable>, StoreError> {
        panic!("a bad request must not reach Redis")
    }

    fn down() -> Result<OrderStore<Unreachable>, StoreError> {
        Ok(OrderStore::new(
            Unreachable,
            KeySpace::default(),
            "neworders",
        ))
    }

    fn request<'a>(method: &'a str, content_type: &'a str, body: &'a [u8]) -> Request<'a> {
        Request {
            method,
            path_info: "",
            content_type: Some(content_type.as_bytes()),
            idempotency_key: None,
            traceparent: None,
            body: Body::Complete(body),
        }
    }

    fn problem(response: &Response) -> serde_json::Value {
        assert_eq!(response.header("content-type"), Some(PROBLEM_CONTENT_TYPE));
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(body["status"], response.status);
        body
    }

    fn never_fulfil(_: OrderId) -> Result<FulfilOutcome, FulfilError> {
        panic!("this request must not reach fulfilment")
    }

    /// Answers for both placements, which must agree on every request that stores nothing.
    fn receive_now(request: &Request<'_>) -> Response {
        let [message, composed] = [Placement::Message, Placement::Composed].map(|placement| {
            receive(
                request,
                never_connect,
                placement,
                never_fulfil,
                OrderId::new_random(),
                0,
            )
        });
        assert_eq!(message, composed);
        message
    }

    /// A Redis that accepts every order and remembers the channel the accept script was given.
    struct Accepting(std::cell::RefCell<Option<Vec<u8>>>);

    impl Redis for Accepting {
        fn execute(&self, command: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
            assert_eq!(command, "EVAL");
            // script, key count, 2 keys, id, details, time, then the channel.
            let (Arg::Bytes(id), Arg::Bytes(channel)) = (args[4], args[7]) else {
                panic!("unexpected accept arguments {args:?}")
            };
            *self.0.borrow_mut() = Some(channel.to_vec());
            Ok(vec![Value::Int(1), Value::Bytes(id.to_vec())])
        }
    }

    fn accept_with(
        placement: Placement,
        fulfil: impl FnOnce(OrderId) -> Result<FulfilOutcome, FulfilError>,
    ) -> (Response, Vec<u8>) {
        let redis = std::rc::Rc::new(Accepting(Default::default()));
        struct Shared(std::rc::Rc<Accepting>);
        impl Redis for Shared {
            fn execute(&self, c: &str, a: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
                self.0.execute(c, a)
            }
        }
        let store = OrderStore::new(Shared(redis.clone()), KeySpace::default(), "neworders");
        let response = receive(
            &request("POST", "application/json", br#"{"details":"x"}"#),
            || Ok(store),
            placement,
            fulfil,
            OrderId::new_random(),
            0,
        );
        let channel = redis.0.borrow().clone().expect("the order was stored");
        (response, channel)
    }

    /// A Redis that accepts every order and keeps the accept script's arguments (as bytes).
    #[derive(Default)]
    struct Recording(std::cell::RefCell<Vec<Vec<u8>>>);

    impl Redis for &Recording {
        fn execute(&self, _: &str, args: &[Arg<'_>]) -> Result<Vec<Value>, RedisError> {
            *self.0.borrow_mut() = args.iter().map(|arg| arg.to_bytes()).collect();
            Ok(vec![Value::Int(1), Value::Bytes(args[4].to_bytes())])
        }
    }

    impl Arg<'_> {
        fn to_bytes(self) -> Vec<u8> {
            match self {
                Arg::Bytes(bytes) => bytes.to_vec(),
                Arg::Int(i) => i.to_string().into_bytes(),
            }
        }
    }

    const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_request_trace_context_goes_to_the_store_and_the_order_to_the_log() {
        for traceparent in [None, Some(TRACEPARENT.parse().unwrap())] {
            let redis = Recording::default();
            let mut traced = request("POST", "application/json", br#"{"details":"x"}"#);
            traced.traceparent = traceparent;
            let id = OrderId::new_random();
            let response = receive(
                &traced,
                || Ok(OrderStore::new(&redis, KeySpace::default(), "neworders")),
                Placement::Message,
                never_fulfil,
                id,
                0,
            );
            assert_eq!(
                (response.order_id, response.order_status),
                (Some(id), Some(Status::Created))
            );
            let args = redis.0.borrow();
            // script, key count, 2 keys, then ARGV[1..=8]: the traceparent is ARGV[8].
            assert_eq!(args.len(), 12, "{args:?}");
            let expected = traceparent.map(|t| t.to_string()).unwrap_or_default();
            assert_eq!(args[11], expected.as_bytes());
            let message: serde_json::Value = serde_json::from_slice(&args[8]).unwrap();
            assert_eq!(
                message.get("traceparent").and_then(|t| t.as_str()),
                traceparent.is_some().then_some(TRACEPARENT)
            );
        }
    }

    #[test]
    fn the_status_answer_names_the_order_for_the_log_when_the_path_does() {
        let id = "7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11";
        let path = format!("/{id}");
        let request = Request {
            path_info: &path,
            ..get("GET", "")
        };
        let unavailable = status(&request, down);
        assert_eq!(unavailable.status, 503);
        assert_eq!(
            unavailable.order_id.map(|id| id.to_string()).as_deref(),
            Some(id)
        );
        assert_eq!(unavailable.order_status, None);
        for path in ["/not-a-uuid", "", "/a/b"] {
            let response = status(&get("GET", path), never_connect);
            assert_eq!(response.order_id, None, "{path}");
        }
    }

    fn task_status(response: &Response) -> String {
        assert_eq!(response.status, 202);
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        body["task"]["status"].as_str().unwrap().to_string()
    }

    #[test]
    fn message_placement_publishes_and_never_calls_fulfilment() {
        let (response, channel) = accept_with(Placement::Message, never_fulfil);
        assert_eq!(channel, b"neworders");
        assert_eq!(task_status(&response), "created");
        assert_eq!(response.log, None);
    }

    #[test]
    fn composed_placement_fulfils_in_process_and_publishes_nothing() {
        let called = std::cell::Cell::new(None);
        let (response, channel) = accept_with(Placement::Composed, |id| {
            called.set(Some(id));
            Ok(FulfilOutcome::Fulfilled)
        });
        assert_eq!(channel, b"");
        assert_eq!(task_status(&response), "fulfilled");
        let body: serde_json::Value = serde_json::from_slice(&response.body).unwrap();
        assert_eq!(
            Some(body["task"]["id"].as_str().unwrap().parse().unwrap()),
            called.get()
        );
        let (repeat, _) = accept_with(Placement::Composed, |_| Ok(FulfilOutcome::AlreadyFulfilled));
        assert_eq!(task_status(&repeat), "fulfilled");
    }

    #[test]
    fn composed_placement_still_accepts_when_fulfilment_fails() {
        for outcome in [
            Err(FulfilError::StoreUnavailable("down".into())),
            Ok(FulfilOutcome::UnknownOrder),
        ] {
            let (response, _) = accept_with(Placement::Composed, |_| outcome.clone());
            assert_eq!(task_status(&response), "created", "{outcome:?}");
            let log = response.log.expect("the failure is logged");
            assert!(log.contains("stays pending"), "{log}");
        }
    }

    #[test]
    fn receiver_rejects_other_methods_with_allow() {
        for method in ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"] {
            let response = receive_now(&request(method, "application/json", b"{}"));
            assert_eq!(response.status, 405, "{method}");
            assert_eq!(response.header("allow"), Some("POST"));
            problem(&response);
        }
    }

    #[test]
    fn receiver_wants_json() {
        for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
            let response = receive_now(&request("POST", content_type, br#"{"details":"x"}"#));
            assert_eq!(response.status, 415, "{content_type}");
            problem(&response);
        }
        let mut missing = request("POST", "", br#"{"details":"x"}"#);
        missing.content_type = None;
        assert_eq!(receive_now(&missing).status, 415);
    }

    #[test]
    fn receiver_refuses_bodies_over_16_kib_with_413() {
        let body = vec![b' '; MAX_BODY_BYTES + 1];
        let response = receive_now(&request("POST", "application/json", &body));
        assert_eq!(response.status, 413);
        problem(&response);
        let mut unread = request("POST", "application/json", b"");
        unread.body = Body::TooLarge;
        let response = receive_now(&unread);
        assert_eq!(response.status, 413);
        problem(&response);
        // Method and media type are still checked first.
        unread.method = "PUT";
        assert_eq!(receive_now(&unread).status, 405);
    }

    #[test]
    fn receiver_answers_400_for_bad_json_bad_fields_and_bad_keys() {
        for body in [
            &b"{"[..],
            b"[]",
            br#"{"details":""}"#,
            br#"{"details":5}"#,
            b"\xff",
        ] {
            let response = receive_now(&request("POST", "application/json", body));
            assert_eq!(response.status, 400, "{body:?}");
            problem(&response);
        }
        let mut bad_key = request("POST", "application/json", br#"{"details":"x"}"#);
        bad_key.idempotency_key = Some(b"has space");
        let body = problem(&receive_now(&bad_key));
        assert!(body["detail"].as_str().unwrap().contains("Idempotency-Key"));
    }

    #[test]
    fn receiver_answers_503_with_retry_after_when_redis_is_down() {
        for placement in [Placement::Message, Placement::Composed] {
            let response = receive(
                &request("POST", "application/json", br#"{"details":"x"}"#),
                down,
                placement,
                never_fulfil,
                OrderId::new_random(),
                0,
            );
            assert_eq!(response.status, 503);
            assert_eq!(response.header("retry-after"), Some("2"));
            problem(&response);
            let failed_connect = receive(
                &request("POST", "application/json", br#"{"details":"x"}"#),
                || Err::<OrderStore<Unreachable>, _>(StoreError::Unavailable("refused".into())),
                placement,
                never_fulfil,
                OrderId::new_random(),
                0,
            );
            assert_eq!(failed_connect.status, 503);
        }
    }

    fn get(method: &'static str, path_info: &'static str) -> Request<'static> {
        Request {
            method,
            path_info,
            content_type: None,
            idempotency_key: None,
            traceparent: None,
            body: Body::Complete(b""),
        }
    }

    #[test]
    fn status_rejects_bad_ids_paths_and_methods() {
        let id = "/7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11";
        for (request, status) in [
            (get("GET", "/not-a-uuid"), 400),
            (get("GET", "/7C0B5B0E6A4B4A599D2E3C1F6A0B9E11"), 400),
            (get("GET", ""), 404),
            (get("GET", "/"), 404),
            (get("GET", "/a/b"), 404),
            (get("POST", id), 405),
            (get("DELETE", id), 405),
        ] {
            let response = status_of(&request);
            assert_eq!(response.status, status, "{request:?}");
            let body = problem(&response);
            if status == 405 {
                assert_eq!(response.header("allow"), Some("GET, HEAD"));
            }
            assert!(
                body["type"]
                    .as_str()
                    .unwrap()
                    .starts_with("urn:order-system:problem:")
            );
        }
    }

    fn status_of(request: &Request<'_>) -> Response {
        status(request, never_connect)
    }

    #[test]
    fn status_is_503_when_redis_is_down_and_head_has_no_body() {
        let id = "/7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11";
        let response = status(&get("GET", id), down);
        assert_eq!(response.status, 503);
        assert_eq!(response.header("retry-after"), Some("2"));
        let head = status(&get("HEAD", id), down);
        assert_eq!(head.status, 503);
        assert!(head.body.is_empty());
    }
}
