//! What a client sends: the new-order body and the `Idempotency-Key` header, validated.

use std::fmt;

use crate::body::TooLarge;

/// Why a request's body or headers are not a valid new order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// The body is over [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body is not JSON at all, or not UTF-8; the text says where.
    MalformedJson(String),
    /// The body is JSON but not a valid new order, or a header is invalid; the text says which.
    Invalid(String),
}

impl From<TooLarge> for RequestError {
    fn from(_: TooLarge) -> Self {
        RequestError::TooLarge
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::TooLarge => write!(f, "the body is over {MAX_BODY_BYTES} bytes"),
            RequestError::MalformedJson(why) | RequestError::Invalid(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for RequestError {}

/// Bodies larger than this are refused with 413 before they are parsed, and read no further
/// than one piece past it ([`crate::body::BoundedBody`]).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// `details` is 1 to 1024 characters (Unicode scalar values, not bytes).
pub const MAX_DETAILS_CHARS: usize = 1024;
/// An `Idempotency-Key` is 1 to 128 visible ASCII characters.
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 128;

/// A validated new order. Unknown fields, the seed's `id` and `status` among them, are ignored:
/// the server assigns both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrder {
    pub details: String,
}

impl NewOrder {
    /// Parses and validates a `POST /order` body.
    pub fn from_json(body: &[u8]) -> Result<NewOrder, RequestError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(RequestError::TooLarge);
        }
        let text = std::str::from_utf8(body)
            .map_err(|e| RequestError::MalformedJson(format!("body is not UTF-8: {e}")))?;

        let object: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
            .map_err(|e| {
                if e.is_data() {
                    RequestError::Invalid(format!("body must be a JSON object: {e}"))
                } else {
                    RequestError::MalformedJson(e.to_string())
                }
            })?;
        let details = match object.get("details") {
            Some(serde_json::Value::String(details)) => details.clone(),
            Some(other) => {
                return Err(RequestError::Invalid(format!(
                    "`details` must be a string, not {}",
                    json_type_name(other)
                )));
            }
            None => return Err(RequestError::Invalid("`details` is required".into())),
        };
        let chars = details.chars().count();
        if chars == 0 {
            return Err(RequestError::Invalid("`details` must not be empty".into()));
        }
        if chars > MAX_DETAILS_CHARS {
            return Err(RequestError::Invalid(format!(
                "`details` has {chars} characters; at most {MAX_DETAILS_CHARS} are allowed"
            )));
        }
        Ok(NewOrder { details })
    }
}

fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// A client-chosen key that makes a repeated `POST /order` return the first order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// How long a key is remembered, in seconds (24 h).
    pub const TTL_SECONDS: i64 = 24 * 60 * 60;

    /// Validates the raw header value: 1 to 128 visible ASCII characters (`!` to `~`).
    pub fn parse(raw: &[u8]) -> Result<IdempotencyKey, RequestError> {
        let invalid = |why: &str| RequestError::Invalid(format!("`Idempotency-Key` {why}"));
        if raw.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if raw.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(invalid("must be at most 128 characters"));
        }
        if !raw.iter().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(
                "must be visible ASCII characters only (no spaces or control characters)",
            ));
        }
        // Every byte is ASCII, so this cannot fail.
        String::from_utf8(raw.to_vec())
            .map(IdempotencyKey)
            .map_err(|_| invalid("must be ASCII"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Whether a `Content-Type` header names JSON: `application/json` or any `application/*+json`,
/// with or without parameters, in any letter case.
pub fn is_json_content_type(value: &[u8]) -> bool {
    let Ok(value) = std::str::from_utf8(value) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    let subtype = subtype.to_ascii_lowercase();
    kind.eq_ignore_ascii_case("application") && (subtype == "json" || subtype.ends_with("+json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details_of(n: usize) -> String {
        "é".repeat(n)
    }

    fn body(details: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({ "details": details })).unwrap()
    }

    #[test]
    fn accepts_details_of_one_to_1024_chars() {
        for n in [1, 2, 1023, 1024] {
            let order = NewOrder::from_json(&body(&details_of(n))).unwrap();
            assert_eq!(order.details.chars().count(), n);
        }
    }

    #[test]
    fn rejects_empty_and_1025_chars() {
        for n in [0, 1025] {
            let err = NewOrder::from_json(&body(&details_of(n))).unwrap_err();
            assert!(matches!(err, RequestError::Invalid(_)), "{n}: {err:?}");
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        // 1024 two-byte characters are 2048 bytes and still valid.
        let details = details_of(1024);
        assert_eq!(details.len(), 2048);
        assert!(NewOrder::from_json(&body(&details)).is_ok());
    }

    #[test]
    fn ignores_unknown_fields_including_seed_id_and_status() {
        let order = NewOrder::from_json(
            br#"{"id":"chosen-by-client","status":"fulfilled","details":"two pizzas","extra":[1]}"#,
        )
        .unwrap();
        assert_eq!(order.details, "two pizzas");
    }

    #[test]
    fn rejects_wrong_types() {
        for (raw, needle) in [
            (r#"{"details":42}"#, "a number"),
            (r#"{"details":null}"#, "null"),
            (r#"{"details":["a"]}"#, "an array"),
            (r#"{"details":{"a":1}}"#, "an object"),
            (r#"{"details":true}"#, "a boolean"),
            (r#"{}"#, "required"),
            (r#"[]"#, "JSON object"),
            (r#""details""#, "JSON object"),
        ] {
            match NewOrder::from_json(raw.as_bytes()) {
                Err(RequestError::Invalid(detail)) => {
                    assert!(detail.contains(needle), "{raw}: {detail}")
                }
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn rejects_malformed_json_and_non_utf8() {
        for raw in [
            &b"{"[..],
            b"",
            b"{\"details\":\"a\",}",
            b"nul",
            b"{\"details\":\"a\"} trailing",
        ] {
            assert!(
                matches!(
                    NewOrder::from_json(raw),
                    Err(RequestError::MalformedJson(_))
                ),
                "{raw:?}"
            );
        }
        match NewOrder::from_json(b"{\"details\":\"\xff\xfe\"}") {
            Err(RequestError::MalformedJson(detail)) => assert!(detail.contains("UTF-8")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn rejects_bodies_over_16_kib_before_parsing() {
        let mut big = body("x");
        big.resize(MAX_BODY_BYTES + 1, b' ');
        assert_eq!(NewOrder::from_json(&big), Err(RequestError::TooLarge));
        // Exactly 16 KiB of valid JSON (padded with whitespace) is fine.
        let mut fits = body("x");
        fits.resize(MAX_BODY_BYTES, b' ');
        assert!(NewOrder::from_json(&fits).is_ok());
    }

    #[test]
    fn idempotency_keys_are_1_to_128_visible_ascii() {
        assert_eq!(IdempotencyKey::parse(b"k").unwrap().as_str(), "k");
        assert!(IdempotencyKey::parse(&[b'a'; 128]).is_ok());
        assert!(IdempotencyKey::parse(b"!~{}\"").is_ok());
        for bad in [
            &b""[..],
            &[b'a'; 129],
            b"has space",
            b"tab\t",
            b"del\x7f",
            "caf\u{e9}".as_bytes(),
            b"k\xe9y",
            b"\x00",
        ] {
            assert!(
                matches!(IdempotencyKey::parse(bad), Err(RequestError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/problem+json",
            " application/json ",
        ] {
            assert!(is_json_content_type(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "",
            "text/plain",
            "application/x-www-form-urlencoded",
            "json",
            "text/json",
            "application/jsonx",
        ] {
            assert!(!is_json_content_type(bad.as_bytes()), "{bad}");
        }
        assert!(!is_json_content_type(b"application/json\xff"));
    }
}
