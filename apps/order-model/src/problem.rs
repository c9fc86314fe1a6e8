//! Everything that can go wrong in the API, and its RFC 9457 problem document: the HTTP edge,
//! where the domain's errors (request, order id, store) become statuses.

use std::fmt;

use serde::Serialize;

use crate::body::TooLarge;
use crate::order::InvalidOrderId;
use crate::request::RequestError;
use crate::store::StoreError;

/// Seconds a client should wait before retrying when the store is unreachable.
pub const RETRY_AFTER_SECONDS: u32 = 2;

/// The media type of every error body.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// An error the API reports to its client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    /// The body is not JSON at all (or not UTF-8).
    MalformedJson(String),
    /// The body is JSON but not a valid new order, or a header is invalid.
    Validation(String),
    /// The path names something that is not an order id.
    InvalidOrderId(String),
    /// No order has this id.
    NotFound(String),
    /// The route exists but not for this method; `allow` lists the methods it takes.
    MethodNotAllowed { allow: &'static [&'static str] },
    /// The body is over 16 KiB.
    PayloadTooLarge,
    /// The `Content-Type` is missing or not JSON.
    UnsupportedMediaType,
    /// Redis could not be reached or failed; the client may retry.
    StoreUnavailable(String),
    /// Redis may evict keys: its `maxmemory-policy` (this value) is not `noeviction`, so no order
    /// is accepted until an operator changes it (docs/capacity.md, Eviction).
    StoreEvicts(String),
    /// Redis answered something this code does not understand: a bug, not the client's fault.
    Internal(String),
}

/// An RFC 9457 problem details document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub type_uri: String,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
}

impl ApiError {
    /// Every kind of error, with a representative value, so tests and the OpenAPI check can walk
    /// all of them.
    pub fn examples() -> Vec<ApiError> {
        vec![
            ApiError::MalformedJson("expected value at line 1 column 1".into()),
            ApiError::Validation("`details` is required".into()),
            ApiError::InvalidOrderId("42".into()),
            ApiError::NotFound("7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11".into()),
            ApiError::MethodNotAllowed {
                allow: &["GET", "HEAD"],
            },
            ApiError::PayloadTooLarge,
            ApiError::UnsupportedMediaType,
            ApiError::StoreUnavailable("connection refused".into()),
            ApiError::StoreEvicts("allkeys-lru".into()),
            ApiError::Internal("unexpected reply".into()),
        ]
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::MalformedJson(_) | ApiError::Validation(_) | ApiError::InvalidOrderId(_) => {
                400
            }
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::PayloadTooLarge => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Internal(_) => 500,
            ApiError::StoreUnavailable(_) | ApiError::StoreEvicts(_) => 503,
        }
    }

    /// The last segment of the problem `type` URI; each is documented in `docs/api.md`.
    pub fn slug(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "malformed-json",
            ApiError::Validation(_) => "validation-failed",
            ApiError::InvalidOrderId(_) => "invalid-order-id",
            ApiError::NotFound(_) => "order-not-found",
            ApiError::MethodNotAllowed { .. } => "method-not-allowed",
            ApiError::PayloadTooLarge => "payload-too-large",
            ApiError::UnsupportedMediaType => "unsupported-media-type",
            ApiError::StoreUnavailable(_) => "store-unavailable",
            ApiError::StoreEvicts(_) => "store-evicts",
            ApiError::Internal(_) => "internal-error",
        }
    }

    pub fn title(&self) -> &'static str {
        match self {
            ApiError::MalformedJson(_) => "Request body is not valid JSON",
            ApiError::Validation(_) => "Request failed validation",
            ApiError::InvalidOrderId(_) => "Order id is not a UUID",
            ApiError::NotFound(_) => "Order not found",
            ApiError::MethodNotAllowed { .. } => "Method not allowed",
            ApiError::PayloadTooLarge => "Request body too large",
            ApiError::UnsupportedMediaType => "Content type must be JSON",
            ApiError::StoreUnavailable(_) => "Order store unavailable",
            ApiError::StoreEvicts(_) => "Order store may evict orders",
            ApiError::Internal(_) => "Internal error",
        }
    }

    pub fn detail(&self) -> String {
        match self {
            ApiError::MalformedJson(why) | ApiError::Validation(why) => why.clone(),
            ApiError::InvalidOrderId(id) => format!("`{id}` is not a hyphenated UUID"),
            ApiError::NotFound(id) => format!("no order has id `{id}`"),
            ApiError::MethodNotAllowed { allow } => {
                format!("this resource allows {}", allow.join(", "))
            }
            ApiError::PayloadTooLarge => format!(
                "the body must be at most {} bytes",
                crate::request::MAX_BODY_BYTES
            ),
            ApiError::UnsupportedMediaType => {
                "send the body with `Content-Type: application/json`".into()
            }
            // Redis' own message may name hosts or credentials: keep it out of the response.
            ApiError::StoreUnavailable(_) => {
                format!("the order store is unreachable; retry in {RETRY_AFTER_SECONDS} s")
            }
            // The setting is the operator's, not a secret: it tells them what to change.
            ApiError::StoreEvicts(policy) => format!(
                "the order store's Redis has maxmemory-policy `{policy}`, which can evict \
                 accepted orders; orders are accepted again once it is `noeviction`"
            ),
            ApiError::Internal(_) => "the server could not complete the request".into(),
        }
    }

    pub fn problem(&self) -> Problem {
        Problem {
            type_uri: format!("urn:order-system:problem:{}", self.slug()),
            title: self.title(),
            status: self.status(),
            detail: self.detail(),
        }
    }

    /// Headers that go with the problem besides its content type.
    pub fn extra_headers(&self) -> Vec<(&'static str, String)> {
        match self {
            ApiError::MethodNotAllowed { allow } => vec![("allow", allow.join(", "))],
            ApiError::StoreUnavailable(_) => {
                vec![("retry-after", RETRY_AFTER_SECONDS.to_string())]
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::StoreUnavailable(cause) | ApiError::Internal(cause) => {
                write!(f, "{}: {cause}", self.title())
            }
            _ => write!(f, "{}: {}", self.title(), self.detail()),
        }
    }
}

impl std::error::Error for ApiError {}

impl From<TooLarge> for ApiError {
    fn from(_: TooLarge) -> Self {
        ApiError::PayloadTooLarge
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> Self {
        match error {
            RequestError::TooLarge => ApiError::PayloadTooLarge,
            RequestError::MalformedJson(why) => ApiError::MalformedJson(why),
            RequestError::Invalid(why) => ApiError::Validation(why),
        }
    }
}

impl From<InvalidOrderId> for ApiError {
    fn from(error: InvalidOrderId) -> Self {
        ApiError::InvalidOrderId(error.0)
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(why) => ApiError::StoreUnavailable(why),
            StoreError::Evicts(policy) => ApiError::StoreEvicts(policy),
            StoreError::Internal(why) => ApiError::Internal(why),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_kind_maps_to_its_problem() {
        let expected = [
            (400, "malformed-json", None),
            (400, "validation-failed", None),
            (400, "invalid-order-id", None),
            (404, "order-not-found", None),
            (405, "method-not-allowed", Some(("allow", "GET, HEAD"))),
            (413, "payload-too-large", None),
            (415, "unsupported-media-type", None),
            (503, "store-unavailable", Some(("retry-after", "2"))),
            (503, "store-evicts", None),
            (500, "internal-error", None),
        ];
        let examples = ApiError::examples();
        assert_eq!(examples.len(), expected.len());
        for (error, (status, slug, header)) in examples.iter().zip(expected) {
            let problem = error.problem();
            assert_eq!(problem.status, status, "{error:?}");
            assert_eq!(problem.type_uri, format!("urn:order-system:problem:{slug}"));
            assert!(!problem.title.is_empty() && !problem.detail.is_empty());
            let headers = error.extra_headers();
            match header {
                Some((name, value)) => assert_eq!(headers, vec![(name, value.to_string())]),
                None => assert!(headers.is_empty(), "{error:?}: {headers:?}"),
            }
        }
    }

    #[test]
    fn problem_serializes_with_rfc9457_member_names() {
        let json = serde_json::to_value(ApiError::PayloadTooLarge.problem()).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["detail", "status", "title", "type"]);
        assert_eq!(json["status"], 413);
    }

    #[test]
    fn domain_errors_become_their_problems() {
        use crate::order::OrderId;
        let statuses = [
            ApiError::from(TooLarge),
            ApiError::from(RequestError::MalformedJson("x".into())),
            ApiError::from(RequestError::Invalid("x".into())),
            ApiError::from("42".parse::<OrderId>().unwrap_err()),
            ApiError::from(StoreError::Unavailable("x".into())),
            ApiError::from(StoreError::Evicts("allkeys-lru".into())),
            ApiError::from(StoreError::Internal("x".into())),
        ]
        .map(|error| (error.status(), error.slug()));
        assert_eq!(
            statuses,
            [
                (413, "payload-too-large"),
                (400, "malformed-json"),
                (400, "validation-failed"),
                (400, "invalid-order-id"),
                (503, "store-unavailable"),
                (503, "store-evicts"),
                (500, "internal-error"),
            ]
        );
    }

    #[test]
    fn store_details_never_leak_to_clients() {
        let error = ApiError::StoreUnavailable("redis://:hunter2@db:6379 refused".into());
        assert!(!error.problem().detail.contains("hunter2"));
        assert!(error.to_string().contains("refused"), "logs keep the cause");
    }
}
