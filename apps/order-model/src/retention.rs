//! How long a fulfilled order is kept: the `order_retention` Spin variable (chart value
//! `orders.retention`). The fulfil script sets the order's expiry in the same atomic step that
//! marks it `fulfilled`; pending orders never expire (docs/api.md, Retention).

use std::fmt;
use std::time::Duration;

/// The retention when nothing sets it, as the manifests' and the chart's default `7d`: a week,
/// long enough for a customer to look an order up after delivery, short enough that Redis holds
/// a bounded window of orders (docs/capacity.md).
pub const DEFAULT_RETENTION: Retention = Retention(Duration::from_secs(7 * 24 * 60 * 60));

/// The longest retention accepted: ten years, far beyond any order system's need, and small
/// enough that its milliseconds fit every integer on the way to Redis.
pub const MAX_RETENTION_SECONDS: u64 = 3650 * 24 * 60 * 60;

/// A retention period, whole seconds from 1 to [`MAX_RETENTION_SECONDS`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Retention(Duration);

impl Retention {
    /// Parses `7d`, `12h`, `30m`, `45s`, or plain seconds (`3600`). The error is the sentence that
    /// follows a variable's name ("must be …"), as the other settings' errors are.
    pub fn parse(text: &str) -> Result<Retention, String> {
        let refuse = || {
            format!(
                "must be a duration such as `7d`, `12h`, `30m`, `45s` or a number of seconds \
                 (from 1 s to 3650d), not `{text}`"
            )
        };
        let (digits, unit_seconds) = match text.as_bytes().last() {
            Some(b'd') => (&text[..text.len() - 1], 24 * 60 * 60),
            Some(b'h') => (&text[..text.len() - 1], 60 * 60),
            Some(b'm') => (&text[..text.len() - 1], 60),
            Some(b's') => (&text[..text.len() - 1], 1),
            _ => (text, 1),
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse());
        }
        let seconds = digits
            .parse::<u64>()
            .ok()
            .and_then(|n| n.checked_mul(unit_seconds))
            .filter(|s| (1..=MAX_RETENTION_SECONDS).contains(s))
            .ok_or_else(refuse)?;
        Ok(Retention(Duration::from_secs(seconds)))
    }

    pub fn duration(self) -> Duration {
        self.0
    }

    /// The period in milliseconds, as `PEXPIRE` takes it.
    pub fn as_millis(self) -> i64 {
        // At most 3650 days: about 3.2e11 ms.
        self.0.as_millis() as i64
    }
}

impl Default for Retention {
    fn default() -> Self {
        DEFAULT_RETENTION
    }
}

/// The largest unit that divides the period: `7d`, `36h`, `90s`.
impl fmt::Display for Retention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seconds = self.0.as_secs();
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if seconds.is_multiple_of(size) {
                return write!(f, "{}{unit}", seconds / size);
            }
        }
        write!(f, "{seconds}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_the_docs_name_parses() {
        for (text, seconds) in [
            ("7d", 7 * 86_400),
            ("12h", 12 * 3_600),
            ("30m", 1_800),
            ("45s", 45),
            ("3600", 3_600),
            ("1", 1),
            ("3650d", MAX_RETENTION_SECONDS),
        ] {
            let retention = Retention::parse(text).unwrap();
            assert_eq!(retention.duration(), Duration::from_secs(seconds), "{text}");
            assert_eq!(retention.as_millis(), seconds as i64 * 1000);
        }
        assert_eq!(Retention::default().to_string(), "7d");
        assert_eq!(Retention::parse("7d"), Ok(DEFAULT_RETENTION));
        assert_eq!(Retention::parse("90s").unwrap().to_string(), "90s");
        assert_eq!(Retention::parse("86400").unwrap().to_string(), "1d");
    }

    #[test]
    fn anything_else_is_refused_with_the_forms_it_takes() {
        for bad in [
            "",
            "0",
            "0s",
            "d",
            "7 d",
            " 7d",
            "7d ",
            "-1",
            "+5",
            "1.5h",
            "7D",
            "7w",
            "1y",
            "10ms",
            "3651d",
            "99999999999999999999",
            "18446744073709551615d",
            "٣s",
        ] {
            let why = Retention::parse(bad).unwrap_err();
            assert!(
                why.starts_with("must be a duration such as `7d`")
                    && why.ends_with(&format!("not `{bad}`")),
                "{bad}: {why}"
            );
        }
    }
}
