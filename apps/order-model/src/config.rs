//! Settings the components read from Spin variables (declared with defaults in each `spin.toml`;
//! under the shim they arrive as `SPIN_VARIABLE_*` environment variables).

use crate::keys::KeySpace;
use crate::retention::Retention;

/// The Spin variable names every component and the chart agree on.
pub mod vars {
    pub const REDIS_SCHEME: &str = "redis_scheme";
    pub const REDIS_HOST: &str = "redis_host";
    pub const REDIS_PORT: &str = "redis_port";
    pub const REDIS_USER: &str = "redis_user";
    pub const REDIS_PASSWORD: &str = "redis_password";
    pub const ORDER_CHANNEL: &str = "order_channel";
    pub const KEY_PREFIX: &str = "key_prefix";
    pub const ORDER_SHARDS: &str = "order_shards";
    pub const ORDER_RETENTION: &str = "order_retention";
    pub const ALL: [&str; 9] = [
        REDIS_SCHEME,
        REDIS_HOST,
        REDIS_PORT,
        REDIS_USER,
        REDIS_PASSWORD,
        ORDER_CHANNEL,
        KEY_PREFIX,
        ORDER_SHARDS,
        ORDER_RETENTION,
    ];
    /// The receiver's only: where fulfilment runs, see [`super::Placement`].
    pub const FULFILMENT_PLACEMENT: &str = "fulfilment_placement";
}

/// Where the fulfilment component runs relative to the receiver, chosen by the receiver's
/// `fulfilment_placement` variable (`message` or `composed`); docs/nano-services.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The receiver publishes each new order; fulfilment-processor fulfils it.
    Message,
    /// The receiver calls the fulfilment component composed into it, right after storing the
    /// order, and publishes nothing.
    Composed,
}

impl Placement {
    /// The values [`Placement::load`] accepts, in that order (`cargo xtask up --placement` offers them).
    pub const NAMES: [&str; 2] = ["message", "composed"];

    /// Reads the placement through `get`, which returns a variable's value.
    pub fn load(get: impl Fn(&str) -> Result<String, String>) -> Result<Placement, String> {
        let name = vars::FULFILMENT_PLACEMENT;
        match get(name)
            .map_err(|e| format!("variable `{name}`: {e}"))?
            .as_str()
        {
            "message" => Ok(Placement::Message),
            "composed" => Ok(Placement::Composed),
            other => Err(format!(
                "variable `{name}` must be `message` or `composed`, not `{other}`"
            )),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// `redis` for plain TCP, `rediss` for TLS.
    pub redis_scheme: String,
    pub redis_host: String,
    pub redis_port: u16,
    /// The Redis ACL user in its URL form (percent-encoded); empty for Redis' `default` user.
    pub redis_user: String,
    /// The password in its URL form (percent-encoded); empty when Redis needs none.
    pub redis_password: String,
    pub channel: String,
    /// Fulfilment shards (1..=64): new orders go to the channel [`crate::shard::channel_for`] names.
    pub shards: u32,
    pub keys: KeySpace,
    /// How long a fulfilled order is kept (`order_retention`).
    pub retention: Retention,
}

impl Settings {
    /// Reads and checks every setting through `get`, which returns a variable's value.
    pub fn load(get: impl Fn(&str) -> Result<String, String>) -> Result<Settings, String> {
        let read = |name: &str| get(name).map_err(|e| format!("variable `{name}`: {e}"));
        let redis_scheme = read(vars::REDIS_SCHEME)?;
        if redis_scheme != "redis" && redis_scheme != "rediss" {
            return Err(format!(
                "variable `{}` must be `redis` or `rediss`, not `{redis_scheme}`",
                vars::REDIS_SCHEME
            ));
        }
        let redis_host = read(vars::REDIS_HOST)?;
        if redis_host.is_empty() || redis_host.contains(['/', '@', ' ']) {
            return Err(format!(
                "variable `{}` must be a host name or address, not `{redis_host}`",
                vars::REDIS_HOST
            ));
        }
        let port = read(vars::REDIS_PORT)?;
        let redis_port = port.parse().map_err(|_| {
            format!(
                "variable `{}` must be a port number, not `{port}`",
                vars::REDIS_PORT
            )
        })?;
        let channel = read(vars::ORDER_CHANNEL)?;
        if channel.is_empty() {
            return Err(format!(
                "variable `{}` must not be empty",
                vars::ORDER_CHANNEL
            ));
        }
        let shards = read(vars::ORDER_SHARDS)?;
        let shards = crate::shard::parse_shards(&shards)
            .map_err(|why| format!("variable `{}` {why}", vars::ORDER_SHARDS))?;
        let retention = read(vars::ORDER_RETENTION)?;
        let retention = Retention::parse(&retention)
            .map_err(|why| format!("variable `{}` {why}", vars::ORDER_RETENTION))?;
        let redis_user = read(vars::REDIS_USER)?;
        // A user name is no secret: its error may name the character.
        decode_url_user(&redis_user)
            .map_err(|e| format!("variable `{}`: {e}", vars::REDIS_USER))?;
        let redis_password = read(vars::REDIS_PASSWORD)?;
        // This error ends up in a component's log: it must not name a character of the secret.
        decode_url_password(&redis_password).map_err(|e| {
            format!(
                "variable `{}`: {}",
                vars::REDIS_PASSWORD,
                e.without_character()
            )
        })?;
        Ok(Settings {
            redis_scheme,
            redis_host,
            redis_port,
            redis_user,
            redis_password,
            channel,
            shards,
            keys: KeySpace::new(read(vars::KEY_PREFIX)?),
            retention,
        })
    }

    /// The address for Spin's outbound Redis: `redis[s]://[[user]:password@]host:port`. User and
    /// password are already in their URL form (checked by [`Settings::load`]), so they go in as
    /// they are: the fulfilment trigger's address in `spin.toml` embeds the same variables
    /// unchanged, and both must name the same credentials.
    pub fn redis_address(&self) -> String {
        let credentials = if self.redis_password.is_empty() && self.redis_user.is_empty() {
            String::new()
        } else {
            format!("{}:{}@", self.redis_user, self.redis_password)
        };
        format!(
            "{}://{credentials}{}:{}",
            self.redis_scheme, self.redis_host, self.redis_port
        )
    }
}

/// Why a password is not in its URL form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordError {
    /// A character that must be percent-encoded: the character and its encoding (`%2F`).
    NotEncoded { character: char, encoded: String },
    /// A `%` not followed by two hex digits.
    BadEscape,
    /// The encoded bytes are not UTF-8, which Spin's Redis client (the `redis` crate) refuses.
    NotUtf8,
}

impl std::fmt::Display for PasswordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const FORM: &str = "it is written as in a redis:// URL, percent-encoded \
                            (letters, digits and `-._~` stay as they are)";
        match self {
            PasswordError::NotEncoded { character, encoded } => {
                let shown = match character {
                    ' ' => "a space".to_string(),
                    c if c.is_control() => format!("the control character {c:?}"),
                    c => format!("`{c}`"),
                };
                write!(f, "{shown} must be written `{encoded}`: {FORM}")
            }
            PasswordError::BadEscape => write!(
                f,
                "`%` must be followed by two hex digits (a `%` itself is written `%25`): {FORM}"
            ),
            PasswordError::NotUtf8 => write!(
                f,
                "its percent-encoded bytes are not UTF-8, which Spin's Redis client refuses: {FORM}"
            ),
        }
    }
}

impl PasswordError {
    /// The error as [`Display`](std::fmt::Display) writes it, except that it does not name the
    /// offending character or its encoding, which are part of the password: for the
    /// components' logs (the `cargo xtask` CLI shows the full message to whoever typed it).
    pub fn without_character(&self) -> String {
        match self {
            PasswordError::NotEncoded { .. } => "a character in it must be percent-encoded \
                 (`%XX` for each of its UTF-8 bytes): the password is written as in a redis:// \
                 URL (letters, digits and `-._~` stay as they are)"
                .to_string(),
            other => other.to_string(),
        }
    }
}

/// The password a URL-form password stands for: what the `redis` crate (Spin's Redis client, for
/// the trigger and outbound connections alike) sends to the server after parsing
/// `redis://:<password>@host`.
///
/// The URL form is RFC 3986 `userinfo`: unreserved characters (letters, digits, `-._~`),
/// sub-delimiters (`!$&'()*+,;=`) and `:` as they are, anything else as `%XX` escapes of its
/// UTF-8 bytes. A character outside that set is refused rather than passed on, because the URL
/// parser would misread it (`/`, `?` and `#` end the authority, `@` splits it) or silently change
/// it; the error names the character and its encoding.
pub fn decode_url_password(password: &str) -> Result<String, PasswordError> {
    let mut decoded = Vec::with_capacity(password.len());
    let mut rest = password;
    while let Some(character) = rest.chars().next() {
        if character == '%' {
            let escape = rest
                .get(1..3)
                .filter(|hex| hex.bytes().all(|b| b.is_ascii_hexdigit()))
                .ok_or(PasswordError::BadEscape)?;
            decoded.push(u8::from_str_radix(escape, 16).map_err(|_| PasswordError::BadEscape)?);
            rest = &rest[3..];
            continue;
        }
        let allowed = character.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:".contains(character);
        if !allowed {
            let mut utf8 = [0; 4];
            let encoded = character
                .encode_utf8(&mut utf8)
                .bytes()
                .map(|b| format!("%{b:02X}"))
                .collect();
            return Err(PasswordError::NotEncoded { character, encoded });
        }
        decoded.push(character as u8);
        rest = &rest[1..];
    }
    String::from_utf8(decoded).map_err(|_| PasswordError::NotUtf8)
}

/// The user name a URL-form user name stands for, by the rules of [`decode_url_password`] with
/// one more: a `:` ends the user name in a URL's userinfo, so in a name it is written `%3A`.
pub fn decode_url_user(user: &str) -> Result<String, PasswordError> {
    if user.contains(':') {
        return Err(PasswordError::NotEncoded {
            character: ':',
            encoded: "%3A".into(),
        });
    }
    decode_url_password(user)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn defaults() -> HashMap<&'static str, String> {
        HashMap::from([
            (vars::REDIS_SCHEME, "redis".to_string()),
            (vars::REDIS_HOST, "localhost".to_string()),
            (vars::REDIS_PORT, "6379".to_string()),
            (vars::REDIS_PASSWORD, String::new()),
            (vars::ORDER_CHANNEL, "neworders".to_string()),
            (vars::KEY_PREFIX, "order:".to_string()),
            (vars::ORDER_SHARDS, "1".to_string()),
            (vars::REDIS_USER, String::new()),
            (vars::ORDER_RETENTION, "7d".to_string()),
        ])
    }

    fn load(vars: &HashMap<&'static str, String>) -> Result<Settings, String> {
        Settings::load(|name| vars.get(name).cloned().ok_or_else(|| "undefined".into()))
    }

    #[test]
    fn builds_addresses_with_and_without_password() {
        let mut vars = defaults();
        assert_eq!(
            load(&vars).unwrap().redis_address(),
            "redis://localhost:6379"
        );
        // Used as it is: encoding it again would send `%2F` literally and fail AUTH.
        vars.insert(vars::REDIS_PASSWORD, "p%40ss:w%2Frd%20%C3%BC+=".into());
        vars.insert(vars::REDIS_SCHEME, "rediss".into());
        assert_eq!(
            load(&vars).unwrap().redis_address(),
            "rediss://:p%40ss:w%2Frd%20%C3%BC+=@localhost:6379"
        );
    }

    /// What the `redis` crate (as Spin 3.6 and 4.0 use it, and spin-local) takes from an address.
    fn password_the_redis_crate_reads(address: &str) -> Option<String> {
        use redis::IntoConnectionInfo;
        address
            .into_connection_info()
            .unwrap()
            .redis_settings()
            .password()
            .map(str::to_string)
    }

    #[test]
    fn users_and_retention_are_settings() {
        let mut vars = defaults();
        let settings = load(&vars).unwrap();
        assert_eq!(settings.retention, Retention::default());
        vars.insert(vars::ORDER_RETENTION, "45s".into());
        vars.insert(vars::REDIS_USER, "order-processor".into());
        vars.insert(vars::REDIS_PASSWORD, "s%2Fcret".into());
        let settings = load(&vars).unwrap();
        assert_eq!(settings.retention.as_millis(), 45_000);
        let address = settings.redis_address();
        assert_eq!(address, "redis://order-processor:s%2Fcret@localhost:6379");
        use redis::IntoConnectionInfo;
        let info = address.into_connection_info().unwrap();
        assert_eq!(info.redis_settings().username(), Some("order-processor"));
        assert_eq!(info.redis_settings().password(), Some("s/cret"));
        // An encoded `:` reaches Redis as part of the name.
        vars.insert(vars::REDIS_USER, "a%3Ab".into());
        let info = load(&vars)
            .unwrap()
            .redis_address()
            .into_connection_info()
            .unwrap();
        assert_eq!(info.redis_settings().username(), Some("a:b"));
    }

    #[test]
    fn every_password_reaches_redis_through_its_url_form() {
        for special in [
            "/", "+", "=", "@", ":", "%", "#", "?", "&", " ", "ü", "\"", "\\",
        ] {
            let password = format!("Ab1{special}cD{special}");
            let encoded: String = password.bytes().map(|b| format!("%{b:02X}")).collect();
            assert_eq!(decode_url_password(&encoded).unwrap(), password);
            let mut vars = defaults();
            vars.insert(vars::REDIS_PASSWORD, encoded);
            let address = load(&vars).unwrap().redis_address();
            assert_eq!(
                password_the_redis_crate_reads(&address).as_deref(),
                Some(password.as_str()),
                "{address}"
            );
        }
    }

    #[test]
    fn passwords_not_in_url_form_are_refused_with_their_encoding() {
        for (password, character, encoded) in [
            ("Ab1/cD+e=", '/', "%2F"),
            ("a@b", '@', "%40"),
            ("a#b", '#', "%23"),
            ("a?b", '?', "%3F"),
            ("a b", ' ', "%20"),
            ("pässword", 'ä', "%C3%A4"),
            ("a\"b", '"', "%22"),
        ] {
            assert_eq!(
                decode_url_password(password),
                Err(PasswordError::NotEncoded {
                    character,
                    encoded: encoded.to_string()
                }),
                "{password}"
            );
            let mut vars = defaults();
            vars.insert(vars::REDIS_PASSWORD, password.into());
            // What the CLI shows names the character; what a component logs does not.
            let error = decode_url_password(password).unwrap_err().to_string();
            assert!(
                error.contains(&format!("must be written `{encoded}`")),
                "{error}"
            );
            let why = load(&vars).unwrap_err();
            assert!(
                why.starts_with("variable `redis_password`: ")
                    && why.contains("must be percent-encoded")
                    && !why.contains(password)
                    && !why.contains(&format!("`{character}`"))
                    && !why.contains(encoded),
                "{why}"
            );
        }
        for bad_escape in ["100%", "%2", "%zz", "a%2Gb"] {
            assert_eq!(
                decode_url_password(bad_escape),
                Err(PasswordError::BadEscape)
            );
        }
        assert_eq!(decode_url_password("%FF%FE"), Err(PasswordError::NotUtf8));
        // Sub-delimiters and `:` are valid in a URL's userinfo as they are.
        assert_eq!(decode_url_password("a+b=c&d:e!").unwrap(), "a+b=c&d:e!");
        assert_eq!(decode_url_password("").unwrap(), "");
    }

    #[test]
    fn rejects_bad_values_by_name() {
        for (name, value, needle) in [
            (vars::REDIS_PORT, "http", "port number"),
            (vars::REDIS_PORT, "70000", "port number"),
            (vars::REDIS_SCHEME, "http", "`redis` or `rediss`"),
            (vars::REDIS_HOST, "", "host name"),
            (vars::REDIS_HOST, "a@b", "host name"),
            (vars::ORDER_CHANNEL, "", "must not be empty"),
            (vars::ORDER_SHARDS, "0", "from 1 to 64"),
            (vars::ORDER_SHARDS, "many", "from 1 to 64"),
            (vars::ORDER_RETENTION, "", "`7d`, `12h`, `30m`, `45s`"),
            (vars::ORDER_RETENTION, "0", "`7d`, `12h`, `30m`, `45s`"),
            (vars::ORDER_RETENTION, "1 week", "not `1 week`"),
            (vars::REDIS_USER, "app:1", "`%3A`"),
            (vars::REDIS_USER, "a/b", "`%2F`"),
            (vars::REDIS_USER, "a b", "`%20`"),
        ] {
            let mut vars = defaults();
            vars.insert(name, value.into());
            let why = load(&vars).unwrap_err();
            assert!(why.contains(name) && why.contains(needle), "{why}");
        }
        let mut vars = defaults();
        vars.remove(vars::KEY_PREFIX);
        assert_eq!(load(&vars).unwrap_err(), "variable `key_prefix`: undefined");
    }

    #[test]
    fn placements_by_name_and_nothing_else() {
        let placement = |value: &str| Placement::load(|_| Ok(value.to_string()));
        assert_eq!(placement("message"), Ok(Placement::Message));
        assert_eq!(placement("composed"), Ok(Placement::Composed));
        for bad in ["", "Composed", "messages", " message"] {
            let why = placement(bad).unwrap_err();
            assert!(
                why.contains("fulfilment_placement") && why.contains("`message` or `composed`"),
                "{why}"
            );
        }
        assert_eq!(
            Placement::load(|_| Err("undefined".into())),
            Err("variable `fulfilment_placement`: undefined".into())
        );
    }
}
