//! Where the Redis of `cargo xtask up` is: parsed from `--redis-url`, or from the apps' `redis_*`
//! variables, and handed to the apps as those variables again; and the check that this Redis
//! never evicts keys ([`RedisLocation::check_never_evicts`]), made before the apps start.

use anyhow::{Context, Result, bail, ensure};
use duct::cmd;
use order_model::config::{decode_url_password, decode_url_user};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// Where Redis is and who the apps are there, as the apps' variables (`redis_scheme`,
/// `redis_host`, `redis_port`, `redis_user`, `redis_password`).
#[derive(Debug, PartialEq, Eq)]
pub struct RedisLocation {
    pub scheme: String,
    pub host: String,
    pub port: u16,
    /// The Redis ACL user as it stands in the URL: percent-encoded, the form of the `redis_user`
    /// variable; empty for Redis' `default` user.
    pub user: String,
    /// As it stands in the URL: percent-encoded, the form of the `redis_password` variable.
    pub password: String,
}

const USAGE: &str = "a Redis URL looks like redis://[[user]:password@]host[:port] (rediss:// for \
                     TLS), the user and password percent-encoded";

/// The only `maxmemory-policy` the order system runs on: under any other, a full Redis deletes
/// keys (accepted orders, the pending index, idempotency keys) to make room.
pub const REQUIRED_POLICY: &str = "noeviction";

impl RedisLocation {
    /// Parses `redis[s]://[[user]:password@]host[:port]`. User and password must be
    /// percent-encoded as in any URL (the apps use them as they stand); one that is not is
    /// refused with the URL it should have been.
    pub fn parse(url: &str) -> Result<RedisLocation> {
        let (scheme, rest) = url
            .split_once("://")
            .with_context(|| format!("{url:?} has no scheme: {USAGE}"))?;
        ensure!(
            scheme == "redis" || scheme == "rediss",
            "{scheme:?} is not a Redis scheme: {USAGE}"
        );
        // The last `@`: a raw `@` in the password is reported below, not taken for the host.
        let (user, password, address) = match rest.rsplit_once('@') {
            Some((credentials, address)) => {
                // The first `:`: a `:` in a user name is written `%3A`, in a password it may
                // stand as it is.
                let (user, password) = credentials.split_once(':').unwrap_or((credentials, ""));
                let user_error = decode_url_user(user).err();
                let password_error = decode_url_password(password).err();
                if user_error.is_some() || password_error.is_some() {
                    // Only what is not in URL form yet is encoded: the other part stands.
                    let encode = |part: &str, bad: bool| {
                        if bad {
                            utf8_percent_encode(part, NON_ALPHANUMERIC).to_string()
                        } else {
                            part.to_string()
                        }
                    };
                    let (what, why) = match (&user_error, &password_error) {
                        (Some(why), _) => ("user name", why),
                        (None, Some(why)) => ("password", why),
                        (None, None) => unreachable!(),
                    };
                    bail!(
                        "the {what} in the Redis URL is not percent-encoded: {why}. If it is \
                         written as it is, the URL is {scheme}://{}:{}@{address}",
                        encode(user, user_error.is_some()),
                        encode(password, password_error.is_some()),
                    );
                }
                (user.to_string(), password.to_string(), address)
            }
            None => (String::new(), String::new(), rest),
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
            user,
            password,
        })
    }

    /// The location as `SPIN_VARIABLE_*` environment variables, which both runtimes read
    /// (and which keep the password out of the process list).
    pub fn environment(&self) -> [(&'static str, String); 5] {
        [
            ("SPIN_VARIABLE_REDIS_SCHEME", self.scheme.clone()),
            ("SPIN_VARIABLE_REDIS_HOST", self.host.clone()),
            ("SPIN_VARIABLE_REDIS_PORT", self.port.to_string()),
            ("SPIN_VARIABLE_REDIS_USER", self.user.clone()),
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

    /// The ACL user (decoded), for redis-cli's `--user` and the reconciler; `None` for Redis'
    /// `default` user.
    pub fn user_name(&self) -> Option<String> {
        // `parse` checked it.
        decode_url_user(&self.user)
            .ok()
            .filter(|user| !user.is_empty())
    }

    /// The URL without the password, to show: `redis[s]://[user@]host:port`.
    pub fn without_password(&self) -> String {
        let user = if self.user.is_empty() {
            String::new()
        } else {
            format!("{}@", self.user)
        };
        format!("{}://{user}{}:{}", self.scheme, self.host, self.port)
    }

    /// `redis-cli` running `arguments` against this Redis as this user, its error output with
    /// its output. The password (decoded) goes through `REDISCLI_AUTH`, never on the command
    /// line; redis-cli 7.0 does not authenticate with `-u redis://:password@…` (an empty user).
    pub fn redis_cli(&self, arguments: &[&str]) -> duct::Expression {
        let port = self.port.to_string();
        let user = self.user_name();
        let mut all = vec!["--no-auth-warning", "-h", &self.host, "-p", &port];
        if let Some(user) = &user {
            all.extend(["--user", user]);
        }
        if self.scheme == "rediss" {
            all.push("--tls");
        }
        all.extend(arguments);
        let command = cmd("redis-cli", &all).stderr_to_stdout();
        match self.auth() {
            None => command.env_remove("REDISCLI_AUTH"),
            Some(password) => command.env("REDISCLI_AUTH", password),
        }
    }

    /// Fails unless this Redis' `maxmemory-policy` is `noeviction`, read from `INFO memory` (as
    /// the apps' scripts read it: managed Redis services disable `CONFIG GET` but allow INFO), or
    /// when INFO cannot be read. `cargo xtask up` checks this before it starts the apps against a
    /// Redis it did not start.
    pub fn check_never_evicts(&self) -> Result<()> {
        let reply = self
            .redis_cli(&["INFO", "memory"])
            .unchecked()
            .read()
            .unwrap_or_else(|error| format!("running redis-cli: {error}"));
        eviction_verdict(&self.without_password(), &reply)
    }
}

/// The `maxmemory_policy` field of an `INFO memory` reply.
fn maxmemory_policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.trim().strip_prefix("maxmemory_policy:"))
        .map(str::trim)
        .filter(|policy| !policy.is_empty())
}

/// What `cargo xtask up` makes of the `INFO memory` reply (`reply`, or why there is none) of the
/// Redis at `redis`.
fn eviction_verdict(redis: &str, reply: &str) -> Result<()> {
    match maxmemory_policy(reply) {
        Some(REQUIRED_POLICY) => Ok(()),
        Some(policy) => bail!(
            "the Redis at {redis} has maxmemory-policy `{policy}`: order-system needs \
             `{REQUIRED_POLICY}`. Under any other policy a full Redis deletes keys to make room \
             (accepted orders, the pending index, idempotency keys), so acknowledged orders would \
             be lost; with `{REQUIRED_POLICY}` it refuses new orders instead (503) and keeps \
             every accepted one. Set it with `redis-cli CONFIG SET maxmemory-policy \
             {REQUIRED_POLICY}` (and `maxmemory-policy {REQUIRED_POLICY}` in redis.conf, to keep \
             it over a restart); on a managed Redis service, where CONFIG is disabled, set the \
             `maxmemory-policy` parameter of its parameter group (or configuration) to \
             `{REQUIRED_POLICY}`. The apps were not started."
        ),
        None => bail!(
            "could not read `maxmemory_policy` from `INFO memory` of the Redis at {redis}: {}. \
             `cargo xtask up` checks that Redis' maxmemory-policy is `{REQUIRED_POLICY}` before it \
             starts the apps (an evicting Redis loses accepted orders), and so do the apps' \
             scripts before every write: the Redis user needs the INFO command (ACL `+info`). \
             The apps were not started.",
            match reply.trim() {
                "" => "redis-cli answered nothing",
                answer => answer,
            }
        ),
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
                ("SPIN_VARIABLE_REDIS_USER", String::new()),
                ("SPIN_VARIABLE_REDIS_PASSWORD", String::new()),
            ]
        );
        assert_eq!(location.auth(), None);
        assert_eq!(location.user_name(), None);
        let location = RedisLocation::parse("rediss://:s3cr3t@cache.example:6390/").unwrap();
        assert_eq!(
            location,
            RedisLocation {
                scheme: "rediss".into(),
                host: "cache.example".into(),
                port: 6390,
                user: String::new(),
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
            ("redis://host:6379/2", "database 0"),
            ("redis://host:port", "not a port number"),
            ("redis://:6379", "has no host"),
        ] {
            let error = RedisLocation::parse(url).unwrap_err().to_string();
            assert!(error.contains(expected), "{url}: {error}");
        }
    }

    #[test]
    fn a_user_goes_to_the_apps_encoded_and_to_redis_cli_decoded() {
        let location =
            RedisLocation::parse("redis://order-processor:s%2Fcret@127.0.0.1:6390").unwrap();
        assert_eq!(location.user, "order-processor");
        assert_eq!(location.user_name().as_deref(), Some("order-processor"));
        assert_eq!(location.auth().as_deref(), Some("s/cret"));
        assert_eq!(
            location.environment()[3],
            ("SPIN_VARIABLE_REDIS_USER", "order-processor".to_string())
        );
        assert_eq!(
            location.without_password(),
            "redis://order-processor@127.0.0.1:6390"
        );
        // `%3A` is a `:` in the name; the first raw `:` ends it, so a password may hold one.
        let location = RedisLocation::parse("redis://a%3Ab:x:y@db").unwrap();
        assert_eq!(location.user, "a%3Ab");
        assert_eq!(location.user_name().as_deref(), Some("a:b"));
        assert_eq!(location.auth().as_deref(), Some("x:y"));
        // A user without a password (an ACL user with `nopass`).
        let location = RedisLocation::parse("redis://reader@db:6379").unwrap();
        assert_eq!((location.user.as_str(), location.auth()), ("reader", None));
    }

    #[test]
    fn a_raw_user_name_gets_the_encoded_url() {
        let error = RedisLocation::parse("redis://team a:s%2Fcret@127.0.0.1:6390")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("user name")
                && error.contains("redis://team%20a:s%2Fcret@127.0.0.1:6390"),
            "{error}"
        );
    }

    const INFO: &str = "# Memory\r\nused_memory:1015688\r\nmaxmemory:0\r\n\
                        maxmemory_human:0B\r\nmaxmemory_policy:noeviction\r\n\
                        allocator_frag_ratio:1.00\r\n";

    #[test]
    fn only_noeviction_passes() {
        assert_eq!(maxmemory_policy(INFO), Some("noeviction"));
        eviction_verdict("redis://db:6379", INFO).unwrap();
        for policy in [
            "allkeys-lru",
            "volatile-lru",
            "volatile-ttl",
            "allkeys-random",
        ] {
            let info = INFO.replace("noeviction", policy);
            let error = eviction_verdict("redis://db:6379", &info)
                .unwrap_err()
                .to_string();
            for expected in [
                format!("maxmemory-policy `{policy}`"),
                "needs `noeviction`".to_string(),
                "CONFIG SET maxmemory-policy noeviction".to_string(),
                "parameter group".to_string(),
                "redis://db:6379".to_string(),
            ] {
                assert!(error.contains(&expected), "{expected:?} not in {error}");
            }
        }
    }

    #[test]
    fn an_unreadable_info_is_an_error_that_says_so() {
        for reply in [
            "NOPERM User reader has no permissions to run the 'info' command",
            "ERR unknown command 'INFO', with args beginning with: 'memory' ",
            "Could not connect to Redis at 127.0.0.1:6390: Connection refused",
            "",
        ] {
            let error = eviction_verdict("redis://db:6379", reply)
                .unwrap_err()
                .to_string();
            assert!(
                error.contains("could not read `maxmemory_policy` from `INFO memory`")
                    && error.contains(reply.trim())
                    && error.contains("+info"),
                "{error}"
            );
        }
    }
}
