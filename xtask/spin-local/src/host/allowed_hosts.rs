//! `allowed_outbound_hosts`: which network destinations a component may reach, with Spin's
//! grammar — `scheme://host[:port]`, where the scheme may be `*`, the host `*`, `*.domain`, a
//! literal name or address, or a CIDR range, and the port `*`, a number or `start..end`
//! (exclusive); an omitted port means the scheme's well-known port.

use std::net::IpAddr;
use std::ops::Range;

use anyhow::{Context, Result, bail, ensure};
use spin_manifest::{ResolvedVariables, Template};

/// A component's resolved `allowed_outbound_hosts`.
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts {
    entries: Vec<AllowedHost>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct AllowedHost {
    scheme: Option<String>,
    host: HostPattern,
    port: PortPattern,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum HostPattern {
    Any,
    /// `*.example.com`, stored as `.example.com`.
    AnySubdomain(String),
    Literal(url::Host),
    Cidr(IpAddr, u8),
    /// `self`: the app's own HTTP listener, never a Redis server.
    ToSelf,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum PortPattern {
    Any,
    Port(u16),
    Range(Range<u16>),
}

impl AllowedHosts {
    /// The entries of `allowed_outbound_hosts` (templates over the app's variables) resolved and
    /// parsed.
    pub fn resolve(templates: &[String], variables: &ResolvedVariables) -> Result<AllowedHosts> {
        let resolved: Vec<String> = templates
            .iter()
            .map(|host| Template::parse(host)?.resolve(variables.values()))
            .collect::<Result<_>>()?;
        AllowedHosts::parse(&resolved)
    }

    /// Parses resolved entries (templates already substituted). Spin's `insecure:allow-all` of
    /// manifest version 1 is refused with Spin's message.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<AllowedHosts> {
        if let [only] = entries
            && only.as_ref() == "insecure:allow-all"
        {
            bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead");
        }
        let entries = entries
            .iter()
            .map(|entry| {
                AllowedHost::parse(entry.as_ref()).with_context(|| {
                    format!("invalid allowed_outbound_hosts entry {:?}", entry.as_ref())
                })
            })
            .collect::<Result<_>>()?;
        Ok(AllowedHosts { entries })
    }

    /// Whether `url` may be reached; `default_scheme` is assumed when `url` has none (as Spin
    /// does for outbound Redis). An unparsable URL is not allowed.
    pub fn allows(&self, url: &str, default_scheme: &str) -> bool {
        match OutboundUrl::parse(url, default_scheme) {
            Ok(url) => self.entries.iter().any(|entry| entry.allows(&url)),
            Err(_) => false,
        }
    }
}

impl AllowedHost {
    fn parse(entry: &str) -> Result<AllowedHost> {
        let entry = entry.trim();
        let Some((scheme, rest)) = entry.split_once("://") else {
            bail!(
                "it has no scheme: write <scheme>://<host>[:<port>], with `*` wildcards allowed for each"
            );
        };
        let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
        let port = match port.split_once('/') {
            Some((port, "")) => port,
            Some(_) => bail!("it has a path, which is not allowed"),
            None => port,
        };
        let scheme = match scheme {
            "*" => None,
            scheme if !scheme.is_empty() && scheme.chars().all(char::is_alphabetic) => {
                Some(scheme.to_string())
            }
            _ => bail!("the scheme {scheme:?} may only contain letters, or be `*`"),
        };
        let port = PortPattern::parse(port, scheme.as_deref())?;
        Ok(AllowedHost {
            host: HostPattern::parse(host)?,
            port,
            scheme,
        })
    }

    fn allows(&self, url: &OutboundUrl) -> bool {
        self.scheme
            .as_ref()
            .is_none_or(|scheme| *scheme == url.scheme)
            && self.host.allows(&url.host)
            && self
                .port
                .allows(url.port.or_else(|| well_known_port(&url.scheme)))
    }
}

impl HostPattern {
    fn parse(host: &str) -> Result<HostPattern> {
        let host = host.trim();
        if host == "*" {
            return Ok(HostPattern::Any);
        }
        if host == "self" || host == "self.alt" {
            return Ok(HostPattern::ToSelf);
        }
        if let Some((address, prefix)) = host.split_once('/')
            && let Ok(address) = address.parse::<IpAddr>()
        {
            let prefix: u8 = prefix
                .parse()
                .with_context(|| format!("the CIDR prefix in {host:?} is not a number"))?;
            let bits = if address.is_ipv4() { 32 } else { 128 };
            ensure!(prefix <= bits, "the CIDR prefix in {host:?} is too long");
            return Ok(HostPattern::Cidr(address, prefix));
        }
        let host = host.trim_end_matches('/');
        ensure!(
            !host.contains('/'),
            "the host {host:?} must not include a path"
        );
        if let Some(domain) = host.strip_prefix("*.") {
            ensure!(
                !domain.contains('*'),
                "wildcards are allowed only as the first label of {host:?}"
            );
            return Ok(HostPattern::AnySubdomain(format!(".{domain}")));
        }
        ensure!(
            !host.contains('*'),
            "wildcards are allowed only as the first label of {host:?}"
        );
        Ok(HostPattern::Literal(url::Host::parse(host).with_context(
            || format!("the host {host:?} is invalid"),
        )?))
    }

    fn allows(&self, host: &str) -> bool {
        let Ok(host) = url::Host::parse(host) else {
            return false;
        };
        match (self, host) {
            (HostPattern::Any, _) => true,
            (HostPattern::AnySubdomain(suffix), url::Host::Domain(domain)) => {
                domain.ends_with(suffix.as_str())
            }
            (HostPattern::Literal(literal), host) => host == *literal,
            (HostPattern::Cidr(network, prefix), url::Host::Ipv4(ip)) => {
                in_network(IpAddr::V4(ip), *network, *prefix)
            }
            (HostPattern::Cidr(network, prefix), url::Host::Ipv6(ip)) => {
                in_network(IpAddr::V6(ip), *network, *prefix)
            }
            _ => false,
        }
    }
}

fn in_network(ip: IpAddr, network: IpAddr, prefix: u8) -> bool {
    let mask = |bits: u32| -> u128 {
        match u32::from(prefix) {
            0 => 0,
            p => u128::MAX << (bits - p.min(bits)),
        }
    };
    match (ip, network) {
        (IpAddr::V4(ip), IpAddr::V4(network)) => {
            let mask = mask(32) as u32;
            u32::from(ip) & mask == u32::from(network) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(network)) => {
            let mask = mask(128);
            u128::from(ip) & mask == u128::from(network) & mask
        }
        _ => false,
    }
}

impl PortPattern {
    fn parse(port: &str, scheme: Option<&str>) -> Result<PortPattern> {
        if port.is_empty() {
            return scheme
                .and_then(well_known_port)
                .map(PortPattern::Port)
                .with_context(|| {
                    format!("no port was given and the scheme {scheme:?} has no well-known port")
                });
        }
        if port == "*" {
            return Ok(PortPattern::Any);
        }
        if let Some((start, end)) = port.split_once("..") {
            let number = |text: &str| {
                text.parse::<u16>()
                    .with_context(|| format!("the port range {port:?} contains a non-number"))
            };
            return Ok(PortPattern::Range(number(start)?..number(end)?));
        }
        Ok(PortPattern::Port(port.parse().with_context(|| {
            format!("the port {port:?} is not a number")
        })?))
    }

    fn allows(&self, port: Option<u16>) -> bool {
        match (self, port) {
            (PortPattern::Any, _) => true,
            (PortPattern::Port(allowed), Some(port)) => *allowed == port,
            (PortPattern::Range(range), Some(port)) => range.contains(&port),
            (_, None) => false,
        }
    }
}

fn well_known_port(scheme: &str) -> Option<u16> {
    match scheme {
        "postgres" => Some(5432),
        "mysql" => Some(3306),
        "redis" => Some(6379),
        "mqtt" => Some(1883),
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// The scheme, host and port of a URL a component wants to reach.
struct OutboundUrl {
    scheme: String,
    host: String,
    port: Option<u16>,
}

impl OutboundUrl {
    /// Parses `url`, or `{default_scheme}://{url}` when `url` has no scheme. Credentials are
    /// percent-encoded first: a password may contain characters a URL does not allow there.
    fn parse(url: &str, default_scheme: &str) -> Result<OutboundUrl> {
        let url = encode_userinfo(url);
        let parsed = match url::Url::parse(&url) {
            Ok(parsed) if parsed.has_host() => parsed,
            _ => url::Url::parse(&format!("{default_scheme}://{url}"))?,
        };
        Ok(OutboundUrl {
            scheme: parsed.scheme().to_string(),
            host: parsed.host_str().context("no host")?.to_string(),
            port: parsed.port(),
        })
    }
}

fn encode_userinfo(url: &str) -> String {
    let authority_start = url.find("://").map_or(0, |i| i + 3);
    let authority_end = url[authority_start..]
        .find('/')
        .map_or(url.len(), |i| authority_start + i);
    let Some(at) = url[authority_start..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &url[authority_start..authority_start + at];
    format!(
        "{}{}{}",
        &url[..authority_start],
        percent_encoding::utf8_percent_encode(userinfo, percent_encoding::NON_ALPHANUMERIC),
        &url[authority_start + at..]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(entries: &[&str]) -> AllowedHosts {
        AllowedHosts::parse(entries).unwrap()
    }

    #[test]
    fn scheme_host_and_port_must_all_match() {
        let hosts = allowed(&["redis://127.0.0.1:6380"]);
        assert!(hosts.allows("redis://127.0.0.1:6380", "redis"));
        assert!(hosts.allows("redis://:pa:ss@word@127.0.0.1:6380", "redis"));
        assert!(hosts.allows("127.0.0.1:6380", "redis"), "scheme defaults");
        assert!(!hosts.allows("rediss://127.0.0.1:6380", "redis"));
        assert!(!hosts.allows("redis://127.0.0.2:6380", "redis"));
        assert!(!hosts.allows("redis://127.0.0.1:6379", "redis"));
        assert!(!hosts.allows("redis://localhost:6380", "redis"));
        assert!(!hosts.allows("not a url", "redis"));
    }

    #[test]
    fn an_omitted_port_is_the_schemes_well_known_port() {
        let hosts = allowed(&["redis://cache.local"]);
        assert!(hosts.allows("redis://cache.local", "redis"));
        assert!(hosts.allows("redis://cache.local:6379", "redis"));
        assert!(!hosts.allows("redis://cache.local:6380", "redis"));
        let error = AllowedHosts::parse(&["custom://host"]).unwrap_err();
        assert!(
            format!("{error:#}").contains("well-known port"),
            "{error:#}"
        );
    }

    #[test]
    fn wildcards_ranges_and_networks() {
        let hosts = allowed(&[
            "*://*.example.com:*",
            "redis://10.0.0.0/8:7000..7002",
            "http://[::1]:8080",
        ]);
        assert!(hosts.allows("redis://db.example.com:1", "redis"));
        assert!(hosts.allows("https://a.b.example.com", "redis"));
        assert!(!hosts.allows("redis://example.com:1", "redis"));
        assert!(hosts.allows("redis://10.1.2.3:7001", "redis"));
        assert!(
            !hosts.allows("redis://10.1.2.3:7002", "redis"),
            "end is exclusive"
        );
        assert!(!hosts.allows("redis://11.1.2.3:7001", "redis"));
        assert!(hosts.allows("http://[::1]:8080/path", "http"));
        assert!(allowed(&["*://*:*"]).allows("rediss://anything:1", "redis"));
        assert!(!allowed(&[]).allows("redis://127.0.0.1:6379", "redis"));
        assert!(!allowed(&["http://self"]).allows("http://self", "http"));
    }

    #[test]
    fn rejects_malformed_entries() {
        for (entry, expected) in [
            ("127.0.0.1:6379", "no scheme"),
            ("redis://host:port", "not a number"),
            ("redis://host:6379/db", "has a path"),
            ("redis://a.*.com:1", "wildcards"),
            ("re-dis://host:1", "only contain letters"),
            ("redis://10.0.0.0/40:1", "too long"),
            ("insecure:allow-all", "use '*://*:*' instead"),
        ] {
            let error = format!("{:#}", AllowedHosts::parse(&[entry]).unwrap_err());
            assert!(error.contains(expected), "{entry}: {error}");
        }
    }
}
