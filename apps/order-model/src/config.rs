//! Settings the components read from Spin variables (declared with defaults in each `spin.toml`;
//! under the shim they arrive as `SPIN_VARIABLE_*` environment variables).

use crate::keys::KeySpace;

/// The Spin variable names every component and the chart agree on.
pub mod vars {
    pub const REDIS_SCHEME: &str = "redis_scheme";
    pub const REDIS_HOST: &str = "redis_host";
    pub const REDIS_PORT: &str = "redis_port";
    pub const REDIS_PASSWORD: &str = "redis_password";
    pub const ORDER_CHANNEL: &str = "order_channel";
    pub const KEY_PREFIX: &str = "key_prefix";
    pub const ALL: [&str; 6] = [
        REDIS_SCHEME,
        REDIS_HOST,
        REDIS_PORT,
        REDIS_PASSWORD,
        ORDER_CHANNEL,
        KEY_PREFIX,
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
    pub redis_password: String,
    pub channel: String,
    pub keys: KeySpace,
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
        Ok(Settings {
            redis_scheme,
            redis_host,
            redis_port,
            redis_password: read(vars::REDIS_PASSWORD)?,
            channel,
            keys: KeySpace::new(read(vars::KEY_PREFIX)?),
        })
    }

    /// The address for Spin's outbound Redis: `redis[s]://[:password@]host:port`, the password
    /// percent-encoded so that any character is safe in it.
    pub fn redis_address(&self) -> String {
        let credentials = if self.redis_password.is_empty() {
            String::new()
        } else {
            format!(":{}@", percent_encode(&self.redis_password))
        };
        format!(
            "{}://{credentials}{}:{}",
            self.redis_scheme, self.redis_host, self.redis_port
        )
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
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
        vars.insert(vars::REDIS_PASSWORD, "p@ss:w/rd ü".into());
        vars.insert(vars::REDIS_SCHEME, "rediss".into());
        assert_eq!(
            load(&vars).unwrap().redis_address(),
            "rediss://:p%40ss%3Aw%2Frd%20%C3%BC@localhost:6379"
        );
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
