//! The chart's metrics configuration run on this machine, for `cargo xtask up --metrics` and the
//! tests: Debian's `prometheus-redis-exporter` with `files/metrics.lua` (its placeholders filled
//! with the run's prefix, channel and shards), configured through its environment as the chart's
//! sidecar is; and a Prometheus scraping it with `files/metric-relabelings.yaml` and evaluating
//! `files/prometheus-rules.yaml` (placeholders filled from the chart's defaults, some overridden).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_yaml_ng::Value;

use crate::process::{LoopbackServer, private_dir, require_tool};

/// The exporter's program and Debian package.
pub const EXPORTER_PROGRAM: &str = "prometheus-redis-exporter";
pub const EXPORTER_PACKAGE: &str = "prometheus-redis-exporter";
/// What the exporter logs once it serves.
pub const EXPORTER_READY_LINE: &str = "Providing metrics at";

/// A file of the chart's `files/` directory.
pub fn chart_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../charts/order-system/files")
        .join(name)
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// `files/metrics.lua` with `{prefix}`, `{channel}` and `{shards}` replaced, as the chart's
/// ConfigMap renders it.
pub fn metrics_script(prefix: &str, channel: &str, shards: u32) -> Result<String> {
    ensure!(
        (1..=64).contains(&shards),
        "the fulfilment shards must be 1 to 64, not {shards}"
    );
    for (what, text) in [("key prefix", prefix), ("channel", channel)] {
        // The script holds them in Lua long strings `[==[…]==]`.
        ensure!(
            !text.contains("]==]"),
            "the {what} {text:?} cannot stand in metrics.lua"
        );
    }
    Ok(read(&chart_file("metrics.lua"))?
        .replace("{prefix}", prefix)
        .replace("{channel}", channel)
        .replace("{shards}", &shards.to_string()))
}

/// Writes [`metrics_script`] as `metrics.lua` in a new private directory (only this user may
/// read it) and returns its path.
pub fn write_metrics_script(prefix: &str, channel: &str, shards: u32) -> Result<PathBuf> {
    let dir = private_dir("redis-exporter")?;
    restrict(&dir, 0o700)?;
    let path = dir.join("metrics.lua");
    std::fs::write(&path, metrics_script(prefix, channel, shards)?)
        .with_context(|| format!("writing {}", path.display()))?;
    restrict(&path, 0o600)?;
    Ok(path)
}

fn restrict(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("restricting {}", path.display()))
}

/// The exporter's whole environment, as the chart's sidecar sets it (environment variables only:
/// Debian's exporter 1.45 refuses a flag it does not know, where it ignores an unknown variable).
/// `redis_url` is `redis[s]://[user:password@]host:port`, user and password percent-encoded: the
/// exporter decodes them.
pub fn exporter_environment(
    redis_url: &str,
    script: &Path,
    listen: SocketAddr,
) -> Vec<(&'static str, String)> {
    vec![
        ("REDIS_ADDR", redis_url.to_string()),
        ("REDIS_EXPORTER_SCRIPT", script.display().to_string()),
        ("REDIS_EXPORTER_WEB_LISTEN_ADDRESS", listen.to_string()),
        ("REDIS_EXPORTER_DISABLE_SCRAPE_ENDPOINT", "true".to_string()),
    ]
}

/// What redis_exporter to run: the Redis it reads and the order system's settings.
#[derive(Clone, Debug)]
pub struct ExporterOptions {
    /// `redis://[user:password@]127.0.0.1:port`, user and password percent-encoded.
    pub redis_url: String,
    pub key_prefix: String,
    pub channel: String,
    pub shards: u32,
}

/// Debian's redis_exporter on a free loopback port with the run's `metrics.lua`; stops on drop.
pub struct RedisExporter(LoopbackServer);

impl RedisExporter {
    pub fn start(options: &ExporterOptions) -> Result<RedisExporter> {
        let program = require_tool(EXPORTER_PROGRAM, EXPORTER_PACKAGE)?;
        let script = write_metrics_script(&options.key_prefix, &options.channel, options.shards)?;
        let dir = script
            .parent()
            .context("metrics.lua has no directory")?
            .to_path_buf();
        let server = LoopbackServer::start(
            "redis_exporter",
            dir,
            "exporter.log",
            EXPORTER_READY_LINE,
            |port| {
                let listen = SocketAddr::from(([127, 0, 0, 1], port));
                let mut command = Command::new(&program);
                command
                    .env_clear()
                    .envs(exporter_environment(&options.redis_url, &script, listen));
                command
            },
        )?;
        Ok(RedisExporter(server))
    }

    pub fn address(&self) -> SocketAddr {
        self.0.address()
    }

    /// Its raw `/metrics` page.
    pub fn scrape(&self) -> Result<String> {
        http_get(self.address(), "/metrics")
    }

    /// What it logged (Redis errors, refused commands).
    pub fn log(&self) -> String {
        self.0.log()
    }
}

/// `files/metric-relabelings.yaml` (prometheus-operator's camelCase `metricRelabelings`) as a
/// Prometheus scrape config's `metric_relabel_configs`: the same rules, keys in snake_case.
pub fn metric_relabel_configs() -> Result<Value> {
    let path = chart_file("metric-relabelings.yaml");
    let rules: Value = serde_yaml_ng::from_str(&read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let Value::Sequence(rules) = rules else {
        bail!("{} is not a list of relabelling rules", path.display());
    };
    rules
        .into_iter()
        .map(|rule| match rule {
            Value::Mapping(fields) => Ok(Value::Mapping(
                fields
                    .into_iter()
                    .map(|(key, value)| match key {
                        Value::String(key) => (Value::String(snake_case(&key)), value),
                        other => (other, value),
                    })
                    .collect(),
            )),
            other => bail!("a relabelling rule of {} is {other:?}", path.display()),
        })
        .collect::<Result<_>>()
        .map(Value::Sequence)
}

/// `sourceLabels` → `source_labels`.
fn snake_case(key: &str) -> String {
    let mut out = String::new();
    for c in key.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The chart's defaults for `files/prometheus-rules.yaml`'s placeholders: every key of
/// `metrics.prometheusRule.thresholds` in values.yaml, and `runbookBaseUrl`.
pub fn rule_defaults() -> Result<Vec<(String, String)>> {
    let path = chart_file("../values.yaml");
    let values: Value = serde_yaml_ng::from_str(&read(&path)?)
        .with_context(|| format!("parsing {}", path.display()))?;
    let rule = &values["metrics"]["prometheusRule"];
    let Value::Mapping(thresholds) = &rule["thresholds"] else {
        bail!("values.yaml has no metrics.prometheusRule.thresholds");
    };
    let text = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Number(number) => Some(number.to_string()),
        _ => None,
    };
    let mut defaults = Vec::new();
    for (key, value) in thresholds {
        let (Value::String(key), Some(value)) = (key, text(value)) else {
            bail!("metrics.prometheusRule.thresholds has {key:?}: {value:?}");
        };
        defaults.push((key.clone(), value));
    }
    let url = text(&rule["runbookBaseUrl"]).context("no metrics.prometheusRule.runbookBaseUrl")?;
    defaults.push(("runbookBaseUrl".to_string(), url));
    Ok(defaults)
}

/// `files/prometheus-rules.yaml` with each `${name}` replaced: `selector` for `${selector}`, then
/// `values` (e.g. `namespace`, `reconcilerCronJob`, a threshold such as `noSubscriberFor`), then
/// [`rule_defaults`] for the rest. An error if a rule still holds a placeholder.
pub fn prometheus_rules(selector: &str, values: &[(&str, &str)]) -> Result<String> {
    let mut text = read(&chart_file("prometheus-rules.yaml"))?.replace("${selector}", selector);
    for (name, value) in values {
        text = text.replace(&format!("${{{name}}}"), value);
    }
    for (name, value) in rule_defaults()? {
        text = text.replace(&format!("${{{name}}}"), &value);
    }
    if let Some(line) = text
        .lines()
        .find(|line| line.contains("${") && !line.trim_start().starts_with('#'))
    {
        bail!("prometheus-rules.yaml: no value for a placeholder in {line:?}");
    }
    Ok(text)
}

/// What the Prometheus of [`Prometheus::start`] scrapes and evaluates.
#[derive(Clone, Debug)]
pub struct PrometheusOptions {
    /// The scrape job's name (the `job` label of its series).
    pub job: String,
    /// The exporter it scrapes.
    pub target: SocketAddr,
    /// Scrape and rule evaluation interval.
    pub interval: Duration,
    /// A rule file's text, e.g. [`prometheus_rules`].
    pub rules: String,
}

/// Debian's `prometheus` on a free loopback port with its data in a private temporary
/// directory, scraping one exporter with the chart's relabelling; stops on drop.
pub struct Prometheus(LoopbackServer);

impl Prometheus {
    pub fn start(options: &PrometheusOptions) -> Result<Prometheus> {
        let program = require_tool("prometheus", "prometheus")?;
        let dir = private_dir("prometheus")?;
        let rules = dir.join("rules.yaml");
        std::fs::write(&rules, &options.rules)?;
        let interval = format!("{}ms", options.interval.as_millis());
        let mut config: Value = serde_yaml_ng::from_str(&format!(
            "global: {{scrape_interval: {interval}, evaluation_interval: {interval}}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n\
             - job_name: {job:?}\n  static_configs: [{{targets: [\"{target}\"]}}]\n",
            rules = rules.display().to_string(),
            job = options.job,
            target = options.target,
        ))?;
        config["scrape_configs"][0]["metric_relabel_configs"] = metric_relabel_configs()?;
        let config_file = dir.join("prometheus.yml");
        std::fs::write(&config_file, serde_yaml_ng::to_string(&config)?)?;
        // A try that fails takes its data directory's lock with it: the next starts afresh.
        let data = dir.join("data");
        let server = LoopbackServer::start(
            "prometheus",
            dir,
            "prometheus.log",
            "Server is ready to receive web requests.",
            |port| {
                let mut command = Command::new(&program);
                command
                    .arg(format!("--config.file={}", config_file.display()))
                    .arg(format!("--storage.tsdb.path={}", data.display()))
                    .arg(format!("--web.listen-address=127.0.0.1:{port}"));
                command
            },
        )?;
        Ok(Prometheus(server))
    }

    pub fn address(&self) -> SocketAddr {
        self.0.address()
    }

    /// `GET /api/v1/query?query=<expr>`: the JSON answer's text.
    pub fn query(&self, expr: &str) -> Result<String> {
        let expr = utf8_percent_encode(expr, NON_ALPHANUMERIC);
        http_get(self.address(), &format!("/api/v1/query?query={expr}"))
    }

    /// `GET /api/v1/alerts`: the JSON answer's text (active alerts: pending and firing).
    pub fn alerts(&self) -> Result<String> {
        http_get(self.address(), "/api/v1/alerts")
    }

    /// What it logged.
    pub fn log(&self) -> String {
        self.0.log()
    }
}

/// One `GET` over HTTP/1.0 (the body ends when the server closes); the body of a 200 answer.
pub fn http_get(address: SocketAddr, path: &str) -> Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))
        .with_context(|| format!("connecting to {address}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n")?;
    let mut raw = String::new();
    stream
        .read_to_string(&mut raw)
        .with_context(|| format!("reading the answer to GET {path} from {address}"))?;
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .with_context(|| format!("{address} answered GET {path} with {raw:?}"))?;
    let status = head.lines().next().unwrap_or_default();
    ensure!(
        status.split(' ').nth(1) == Some("200"),
        "GET http://{address}{path}: {status}: {body}"
    );
    Ok(body.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relabelling_keys_become_snake_case() {
        assert_eq!(snake_case("sourceLabels"), "source_labels");
        assert_eq!(snake_case("targetLabel"), "target_label");
        assert_eq!(snake_case("regex"), "regex");
        let rules = serde_yaml_ng::to_string(&metric_relabel_configs().unwrap()).unwrap();
        assert!(rules.contains("source_labels:") && rules.contains("target_label:"));
        assert!(!rules.contains("sourceLabels") && !rules.contains("targetLabel"));
    }

    #[test]
    fn every_rule_placeholder_gets_a_value() {
        let rules = prometheus_rules(
            "job=\"redis_exporter\"",
            &[
                ("namespace", "local"),
                ("reconcilerCronJob", "order-system-reconciler"),
                ("noSubscriberFor", "3s"),
            ],
        )
        .unwrap();
        assert!(rules.contains("order_system_channel_subscribers{job=\"redis_exporter\"} == 0"));
        assert!(rules.contains("for: 3s"));
        assert!(rules.contains("for: 2m"), "oldestPendingFor's default");
        let error = prometheus_rules("", &[]).unwrap_err().to_string();
        assert!(error.contains("${namespace}"), "{error}");
    }

    #[test]
    fn the_script_is_filled_in() {
        let script = metrics_script("shop:", "orders", 3).unwrap();
        assert!(script.contains("local prefix = [==[shop:]==]"));
        assert!(script.contains("local shards = tonumber([==[3]==])"));
        assert!(!script.contains("{channel}"));
        assert!(metrics_script("a]==]b", "orders", 1).is_err());
        assert!(metrics_script("shop:", "orders", 0).is_err());
    }
}
