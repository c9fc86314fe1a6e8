//! W3C Trace Context: the `traceparent` value that carries a trace across the order's hops
//! (HTTP request → stored order → new-order message), per the W3C Trace Context
//! recommendation, section "traceparent Header" (<https://www.w3.org/TR/trace-context/>).
//!
//! Version `00` is `00-<trace-id>-<parent-id>-<trace-flags>`: 32, 16 and 2 lowercase hex digits.
//! An all-zero trace-id or parent-id is invalid, and so is version `ff`. A higher version is
//! read by its first four fields, which must be followed by `-` or the end (the spec's
//! "Versioning of traceparent"); it is written back as version `00`, the highest this code
//! knows, as the spec requires. Anything else is not a trace context: the spec says to ignore
//! it and start a new trace, so every caller here treats it as absent, never as an error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A valid `traceparent`: the caller's trace-id, its parent-id (the caller's span) and its flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceParent {
    trace_id: [u8; 16],
    parent_id: [u8; 8],
    flags: u8,
}

/// Why a text is not a `traceparent`; the spec's answer to each is the same (ignore it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceParentError {
    /// Not `<version>-<trace-id>-<parent-id>-<flags>` in lowercase hex of the right lengths.
    Malformed,
    /// Version `ff`, which the spec forbids.
    ForbiddenVersion,
    /// The trace-id is all zeros.
    ZeroTraceId,
    /// The parent-id is all zeros.
    ZeroParentId,
}

impl fmt::Display for TraceParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TraceParentError::Malformed => {
                "not `<version>-<trace-id>-<parent-id>-<flags>` in lowercase hex"
            }
            TraceParentError::ForbiddenVersion => "version `ff` is invalid",
            TraceParentError::ZeroTraceId => "the trace-id is all zeros",
            TraceParentError::ZeroParentId => "the parent-id is all zeros",
        })
    }
}

impl std::error::Error for TraceParentError {}

/// The length of a version-00 `traceparent`, and the least a higher version may have.
const LEN: usize = 55;

impl TraceParent {
    /// The HTTP request header that carries it (header names are case-insensitive).
    pub const HEADER: &'static str = "traceparent";

    /// The trace-id as 32 lowercase hex digits: what logs and trace backends index by.
    pub fn trace_id(&self) -> String {
        hex(&self.trace_id)
    }

    /// The parent-id (the caller's span id) as 16 lowercase hex digits.
    pub fn parent_id(&self) -> String {
        hex(&self.parent_id)
    }

    /// The trace-flags byte as received; bit 0 is `sampled`.
    pub fn flags(&self) -> u8 {
        self.flags
    }

    /// Whether the caller may have recorded this trace (the `sampled` flag).
    pub fn sampled(&self) -> bool {
        self.flags & 1 == 1
    }

    /// The trace context of an HTTP request, given every value of its `traceparent` header
    /// field as received (bytes, as `wasi:http` hands them over). Exactly one value that parses
    /// after trimming optional whitespace (space, tab: RFC 9110 `OWS`) is a trace context;
    /// none, several (the W3C test suite expects a new trace for a duplicated header) or an
    /// invalid one is `None`, never an error.
    pub fn from_header_values<V: AsRef<[u8]>>(values: &[V]) -> Option<TraceParent> {
        let [value] = values else {
            return None;
        };
        let text = std::str::from_utf8(value.as_ref()).ok()?;
        text.trim_matches([' ', '\t']).parse().ok()
    }
}

impl FromStr for TraceParent {
    type Err = TraceParentError;

    /// Parses a `traceparent` value exactly (no surrounding whitespace).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bytes = text.as_bytes();
        if bytes.len() < LEN {
            return Err(TraceParentError::Malformed);
        }
        let version = lower_hex::<1>(&bytes[0..2]).ok_or(TraceParentError::Malformed)?[0];
        let dashes_in_place = [2, 35, 52].iter().all(|&at| bytes[at] == b'-');
        // Version 00 is exactly 55 characters; a later version may add fields after a `-`.
        let end_in_place = match bytes.get(LEN) {
            None => true,
            Some(b'-') => version != 0,
            Some(_) => false,
        };
        if !dashes_in_place || !end_in_place {
            return Err(TraceParentError::Malformed);
        }
        let trace_id = lower_hex::<16>(&bytes[3..35]).ok_or(TraceParentError::Malformed)?;
        let parent_id = lower_hex::<8>(&bytes[36..52]).ok_or(TraceParentError::Malformed)?;
        let flags = lower_hex::<1>(&bytes[53..55]).ok_or(TraceParentError::Malformed)?[0];
        if version == 0xff {
            return Err(TraceParentError::ForbiddenVersion);
        }
        if trace_id == [0; 16] {
            return Err(TraceParentError::ZeroTraceId);
        }
        if parent_id == [0; 8] {
            return Err(TraceParentError::ZeroParentId);
        }
        Ok(TraceParent {
            trace_id,
            parent_id,
            flags,
        })
    }
}

/// Version 00: `00-<trace-id>-<parent-id>-<flags>`, with only the `sampled` flag passed on: the
/// W3C processing model sets unknown flags to 0 on what goes out, as OpenTelemetry's
/// `TraceContextPropagator` (and so Spin) does.
impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id(),
            self.parent_id(),
            self.flags & SAMPLED
        )
    }
}

/// The `sampled` bit of trace-flags.
const SAMPLED: u8 = 0x01;

/// As its version-00 text.
impl Serialize for TraceParent {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// From its text; an invalid one is an error (use [`lenient`] where it must not be).
impl<'de> Deserialize<'de> for TraceParent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A serde `deserialize_with` for an optional `traceparent` member that must never make its
/// document fail: any JSON value that is not a valid `traceparent` string reads as `None`.
pub fn lenient<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<TraceParent>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value
        .as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|text| text.parse().ok()))
}

/// `N` bytes from `2 * N` lowercase hex digits; uppercase and anything else is `None`.
fn lower_hex<const N: usize>(digits: &[u8]) -> Option<[u8; N]> {
    fn nibble(digit: u8) -> Option<u8> {
        match digit {
            b'0'..=b'9' => Some(digit - b'0'),
            b'a'..=b'f' => Some(digit - b'a' + 10),
            _ => None,
        }
    }
    if digits.len() != 2 * N {
        return None;
    }
    let mut out = [0; N];
    for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const PARENT: &str = "00f067aa0ba902b7";

    #[test]
    fn the_specs_examples_are_valid() {
        for (text, sampled) in [
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                true,
            ),
            (
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
                false,
            ),
        ] {
            let parsed: TraceParent = text.parse().unwrap();
            assert_eq!(parsed.trace_id(), TRACE);
            assert_eq!(parsed.parent_id(), PARENT);
            assert_eq!(parsed.sampled(), sampled);
            assert_eq!(parsed.to_string(), text, "written back unchanged");
        }
    }

    #[test]
    fn every_flag_byte_is_read_and_only_sampled_is_passed_on() {
        for flags in [0x00, 0x01, 0x02, 0x03, 0x09, 0x80, 0xff] {
            let text = format!("00-{TRACE}-{PARENT}-{flags:02x}");
            let parsed: TraceParent = text.parse().unwrap();
            assert_eq!(parsed.flags(), flags);
            assert_eq!(parsed.sampled(), flags & 1 == 1, "the mask, not the value");
            let sampled = if flags & 1 == 1 { "01" } else { "00" };
            assert_eq!(parsed.to_string(), format!("00-{TRACE}-{PARENT}-{sampled}"));
        }
    }

    #[test]
    fn a_higher_version_is_read_by_its_first_four_fields_and_written_as_00() {
        let written = format!("00-{TRACE}-{PARENT}-01");
        for text in [
            format!("01-{TRACE}-{PARENT}-01"),
            format!("cc-{TRACE}-{PARENT}-01"),
            format!("cc-{TRACE}-{PARENT}-01-what-the-future-will-be-like"),
            format!("fe-{TRACE}-{PARENT}-01-"),
        ] {
            let parsed: TraceParent = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(parsed.trace_id(), TRACE, "{text}");
            assert_eq!(parsed.to_string(), written, "{text}");
        }
    }

    #[test]
    fn invalid_values_say_why() {
        use TraceParentError::*;
        let valid_trace = "12345678901234567890123456789012";
        let valid_parent = "1234567890123456";
        let cases: Vec<(String, TraceParentError)> = vec![
            // Version.
            (
                format!("ff-{valid_trace}-{valid_parent}-01"),
                ForbiddenVersion,
            ),
            (format!(".0-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("0.-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("0-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("000-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("0000-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("0A-{valid_trace}-{valid_parent}-01"), Malformed),
            // Trace-id.
            (
                format!("00-{}-{valid_parent}-01", "0".repeat(32)),
                ZeroTraceId,
            ),
            (
                format!("00-.2345678901234567890123456789012-{valid_parent}-01"),
                Malformed,
            ),
            (
                format!("00-1234567890123456789012345678901.-{valid_parent}-01"),
                Malformed,
            ),
            (format!("00-{valid_trace}3-{valid_parent}-01"), Malformed),
            (
                format!("00-1234567890123456789012345678901-{valid_parent}-01"),
                Malformed,
            ),
            (
                format!("00-4BF92F3577B34DA6A3CE929D0E0E4736-{valid_parent}-01"),
                Malformed,
            ),
            (
                format!("00-4bf92f3577b34da6a3ce929d0e0e473G-{valid_parent}-01"),
                Malformed,
            ),
            // Parent-id.
            (
                format!("00-{valid_trace}-0000000000000000-01"),
                ZeroParentId,
            ),
            (format!("00-{valid_trace}-.234567890123456-01"), Malformed),
            (format!("00-{valid_trace}-123456789012345.-01"), Malformed),
            (format!("00-{valid_trace}-12345678901234567-01"), Malformed),
            (format!("00-{valid_trace}-123456789012345-01"), Malformed),
            (format!("00-{valid_trace}-00F067AA0BA902B7-01"), Malformed),
            // Flags.
            (format!("00-{valid_trace}-{valid_parent}-.0"), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-0."), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-001"), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-1"), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-0A"), Malformed),
            // Version 00 has exactly four fields.
            (format!("00-{valid_trace}-{valid_parent}-01."), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-01-"), Malformed),
            (
                format!("00-{valid_trace}-{valid_parent}-01-what-the-future-will-be-like"),
                Malformed,
            ),
            // A higher version's flags are followed by `-` or the end, nothing else.
            (
                format!("cc-{valid_trace}-{valid_parent}-01.what-the-future-will-be-like"),
                Malformed,
            ),
            // Other separators, surrounding whitespace (trimmed only for headers), nothing.
            (format!("00_{valid_trace}_{valid_parent}_01"), Malformed),
            (format!("00-{valid_trace}{valid_parent}-01-0"), Malformed),
            (format!(" 00-{valid_trace}-{valid_parent}-01"), Malformed),
            (format!("00-{valid_trace}-{valid_parent}-01 "), Malformed),
            (String::new(), Malformed),
            ("traceparent".into(), Malformed),
            // Multi-byte characters where hex digits belong must not panic on char boundaries.
            (
                format!("00-{}é-{valid_parent}-01", &valid_trace[..31]),
                Malformed,
            ),
            (format!("é0-{valid_trace}-{valid_parent}-01"), Malformed),
        ];
        for (text, why) in cases {
            assert_eq!(text.parse::<TraceParent>(), Err(why), "{text:?}");
        }
    }

    #[test]
    fn a_header_is_one_field_value_trimmed_of_optional_whitespace() {
        let text = format!("00-{TRACE}-{PARENT}-01");
        for value in [
            text.clone(),
            format!(" {text}"),
            format!("\t{text}"),
            format!("{text} "),
            format!("{text}\t"),
            format!("\t {text} \t"),
        ] {
            let parsed = TraceParent::from_header_values(&[value.as_bytes()]);
            assert_eq!(
                parsed.map(|t| t.trace_id()).as_deref(),
                Some(TRACE),
                "{value:?}"
            );
        }
        let other = format!("00-{}-{PARENT}-01", "1".repeat(32));
        let none: [&[u8]; 0] = [];
        for values in [
            &none[..],
            &[text.as_bytes(), other.as_bytes()][..],
            &[format!("{text},{other}").as_bytes()][..],
            &[&b"00-garbage"[..]][..],
            &[&b"00-\xff"[..]][..],
            &[format!("\n{text}").as_bytes()][..],
        ] {
            assert_eq!(TraceParent::from_header_values(values), None, "{values:?}");
        }
    }

    #[test]
    fn serde_uses_the_text_and_lenient_reads_any_junk_as_none() {
        let text = format!("00-{TRACE}-{PARENT}-01");
        let parsed: TraceParent = text.parse().unwrap();
        assert_eq!(
            serde_json::to_value(parsed).unwrap(),
            serde_json::json!(text)
        );
        assert_eq!(
            serde_json::from_value::<TraceParent>(serde_json::json!(text)).unwrap(),
            parsed
        );
        assert!(serde_json::from_value::<TraceParent>(serde_json::json!("00-x")).is_err());

        #[derive(Deserialize)]
        struct Carrier {
            #[serde(default, deserialize_with = "lenient")]
            traceparent: Option<TraceParent>,
        }
        let read =
            |json: serde_json::Value| serde_json::from_value::<Carrier>(json).unwrap().traceparent;
        assert_eq!(
            read(serde_json::json!({ "traceparent": text })),
            Some(parsed)
        );
        for junk in [
            serde_json::json!({}),
            serde_json::json!({ "traceparent": null }),
            serde_json::json!({ "traceparent": "" }),
            serde_json::json!({ "traceparent": format!("ff-{TRACE}-{PARENT}-01") }),
            serde_json::json!({ "traceparent": 42 }),
            serde_json::json!({ "traceparent": ["00"] }),
            serde_json::json!({ "traceparent": { "trace_id": TRACE } }),
        ] {
            assert_eq!(read(junk.clone()), None, "{junk}");
        }
    }
}
