//! Where the Redis of `cargo xtask up` is: parsed from `--redis-url`, or from the apps' `redis_*`
//! variables, and handed to the apps as those variables again.

use anyhow::{Context, Result, ensure};
use order_model::config::decode_url_password;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Where Redis is, as the apps' variables (`redis_scheme`, `redis_host`, `redis_port`,
/// `redis_password`).
#[derive(Debug, PartialEq, Eq)]
pub struct RedisLocation {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// As it stands in the URL: percent-encoded, the form of the `redis_password` variable.
    pub password: String,
}

const USAGE: &str = "a Redis URL looks like redis://[:password@]host[:port] (rediss:// for TLS), \
                     the password percent-encoded";

impl RedisLocation {
    /// Parses `redis[s]://[:password@]host[:port]`. The password must be percent-encoded as in
    /// any URL (the apps use it as it stands); one that is not is refused with the URL it should
    /// have been.
    pub fn parse(url: &str) -> Result<RedisLocation> {
        let (scheme, rest) = url
            .split_once("://")
            .with_context(|| format!("{url:?} has no scheme: {USAGE}"))?;
        ensure!(
            scheme == "redis" || scheme == "rediss",
            "{scheme:?} is not a Redis scheme: {USAGE}"
        );
        // The last `@`: a raw `@` in the password is reported below, not taken for the host.
        let (password, address) = match rest.rsplit_once('@') {
            Some((credentials, address)) => {
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                ensure!(
                    user.is_empty(),
                    "the apps authenticate with a password only, not as a user: {USAGE}"
                );
                if let Err(why) = decode_url_password(password) {
                    let encoded = utf8_percent_encode(password, NON_ALPHANUMERIC);
                    anyhow::bail!(
                        "the password in the Redis URL is not percent-encoded: {why}. If it is \
                         written as it is, the URL is {scheme}://:{encoded}@{address}"
                    );
                }
                (password.to_string(), address)
            }
            None => (String::new(), rest),
        };
        let address = address.strip_suffix('/').unwrap_or(address);
        ensure!(
            !address.contains('/'),
            "the apps use Redis database 0; leave the database number out: {USAGE}"
        );
        let (host, port) = match address.rsplit_once(':') {
            Some((host, port)) => (
                host,
                port.parse()
                    .with_context(|| format!("{port:?} is not a port number: {USAGE}"))?,
            ),
            None => (address, 6379),
        };
        ensure!(!host.is_empty(), "the Redis URL has no host: {USAGE}");
        Ok(RedisLocation {
            scheme: scheme.to_string(),
            host: host.to_string(),
            port,
            password,
        })
    }

    /// The location as `SPIN_VARIABLE_*` environment variables, which both runtimes read
    /// (and which keep the password out of the process list).
    pub fn environment(&self) -> [(&'static str, String); 4] {
        [
            ("SPIN_VARIABLE_REDIS_SCHEME", self.scheme.clone()),
            ("SPIN_VARIABLE_REDIS_HOST", self.host.clone()),
            ("SPIN_VARIABLE_REDIS_PORT", self.port.to_string()),
            ("SPIN_VARIABLE_REDIS_PASSWORD", self.password.clone()),
        ]
    }

    /// The password Redis checks (decoded), for redis-cli's `REDISCLI_AUTH`; `None` without one.
    pub fn auth(&self) -> Option<String> {
        // `parse` checked it.
        decode_url_password(&self.password)
            .ok()
            .filter(|password| !password.is_empty())
    }

    pub fn without_password(&self) -> String {
        format!("{}://{}:{}", self.scheme, self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_become_the_apps_variables() {
        let location = RedisLocation::parse("redis://127.0.0.1:6380").unwrap();
        assert_eq!(
            location.environment(),
            [
                ("SPIN_VARIABLE_REDIS_SCHEME", "redis".to_string()),
                ("SPIN_VARIABLE_REDIS_HOST", "127.0.0.1".to_string()),
                ("SPIN_VARIABLE_REDIS_PORT", "6380".to_string()),
                ("SPIN_VARIABLE_REDIS_PASSWORD", String::new()),
            ]
        );
        assert_eq!(location.auth(), None);
        let location = RedisLocation::parse("rediss://:s3cr3t@cache.example:6390/").unwrap();
        assert_eq!(
            location,
            RedisLocation {
                scheme: "rediss".into(),
                host: "cache.example".into(),
                port: 6390,
                password: "s3cr3t".into(),
            }
        );
        assert_eq!(location.without_password(), "rediss://cache.example:6390");
        assert_eq!(RedisLocation::parse("redis://db").unwrap().port, 6379);
    }

    #[test]
    fn an_encoded_password_stays_encoded_for_the_apps_and_decoded_for_redis_cli() {
        for special in ["/", "+", "=", "@", ":", "%", "#", "?", "&", " "] {
            let password = format!("Ab1{special}cD");
            let encoded = utf8_percent_encode(&password, NON_ALPHANUMERIC).to_string();
            let url = format!("redis://:{encoded}@127.0.0.1:6390");
            let location = RedisLocation::parse(&url).unwrap();
            assert_eq!(location.password, encoded, "{url}");
            assert_eq!(location.auth().as_deref(), Some(password.as_str()), "{url}");
            assert_eq!(location.port, 6390);
        }
    }

    #[test]
    fn a_raw_special_character_gets_the_encoded_url() {
        let error = RedisLocation::parse("redis://:Ab1/cD+e=@127.0.0.1:6390")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("`/` must be written `%2F`")
                && error.contains("redis://:Ab1%2FcD%2Be%3D@127.0.0.1:6390"),
            "{error}"
        );
        for raw in ["a#b", "a?b", "a b", "a@b", "100%"] {
            let url = format!("redis://:{raw}@127.0.0.1:6390");
            let error = RedisLocation::parse(&url).unwrap_err().to_string();
            assert!(error.contains("not percent-encoded"), "{url}: {error}");
        }
    }

    #[test]
    fn rejects_redis_urls_the_apps_cannot_use() {
        for (url, expected) in [
            ("127.0.0.1:6379", "has no scheme"),
            ("http://127.0.0.1:6379", "not a Redis scheme"),
            ("redis://user:pw@host:6379", "password only"),
            ("redis://host:6379/2", "database 0"),
            ("redis://host:port", "not a port number"),
            ("redis://:6379", "has no host"),
        ] {
            let error = RedisLocation::parse(url).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }
}
