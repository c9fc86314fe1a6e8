//! A client for a running order-system that knows nothing of its insides: the base URL of the
//! HTTP API and the URL of its Redis are all it is given.
//!
//! `ORDER_SYSTEM_URL` and `ORDER_SYSTEM_REDIS_URL` point the suite at any deployment: the
//! embedded runtime (`cargo xtask up`), `spin up`, or a cluster's ingress. Without them the suite
//! runs `cargo xtask up` itself, against a `redis-server` of its own, with the fulfilment
//! placement `ORDER_SYSTEM_PLACEMENT` names (`message` or `composed`; the apps' default when
//! unset). The suite passes against either placement.

pub mod harness;
mod local;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

pub use local::{LocalDeployment, Runtime, xtask_up};

pub const URL_VAR: &str = "ORDER_SYSTEM_URL";
pub const REDIS_URL_VAR: &str = "ORDER_SYSTEM_REDIS_URL";
/// `cargo xtask up --placement` for the deployment the suite starts itself.
pub const PLACEMENT_VAR: &str = "ORDER_SYSTEM_PLACEMENT";

/// The channel new orders are published on (the contract's default).
pub const CHANNEL: &str = "neworders";

/// How long an accepted order may take to become `fulfilled`.
pub const FULFIL_DEADLINE: Duration = Duration::from_secs(10);

/// What the suite runs against: a deployment named by the environment, or one it started.
pub enum Target {
    External(System),
    Local(Box<LocalDeployment>),
}

impl Target {
    pub fn from_env_or_local() -> Result<Target> {
        match System::from_env() {
            Some(system) => {
                system.wait_until_healthy(Duration::from_secs(60))?;
                Ok(Target::External(system))
            }
            None => Ok(Target::Local(Box::new(LocalDeployment::start()?))),
        }
    }

    pub fn system(&self) -> &System {
        match self {
            Target::External(system) => system,
            Target::Local(local) => local.system(),
        }
    }
}

/// A running order-system.
#[derive(Clone, Debug)]
pub struct System {
    base_url: String,
    redis_url: String,
    agent: ureq::Agent,
}

/// An HTTP answer, whatever its status.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> Result<Value> {
        serde_json::from_str(&self.body)
            .with_context(|| format!("{} body is not JSON: {:?}", self.status, self.body))
    }

    /// The body as an RFC 9457 problem, checked for its media type and members.
    pub fn problem(&self) -> Result<Value> {
        let content_type = self.header("content-type").unwrap_or_default();
        if content_type != "application/problem+json" {
            bail!(
                "{} answered {content_type:?}, not application/problem+json",
                self.status
            );
        }
        let problem = self.json()?;
        for member in ["type", "title", "status", "detail"] {
            if problem.get(member).is_none() {
                bail!("problem without `{member}`: {problem}");
            }
        }
        if problem["status"] != self.status {
            bail!(
                "problem status {} differs from HTTP {}",
                problem["status"],
                self.status
            );
        }
        Ok(problem)
    }
}

impl System {
    pub fn new(base_url: impl Into<String>, redis_url: impl Into<String>) -> System {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        System {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            redis_url: redis_url.into(),
            agent,
        }
    }

    /// The system named by `ORDER_SYSTEM_URL` and `ORDER_SYSTEM_REDIS_URL`, if both are set.
    pub fn from_env() -> Option<System> {
        let base_url = std::env::var(URL_VAR).ok()?;
        let redis_url = std::env::var(REDIS_URL_VAR).ok()?;
        Some(System::new(base_url, redis_url))
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn redis_url(&self) -> &str {
        &self.redis_url
    }

    /// Sends a request; `headers` are extra request headers.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Reply> {
        let url = format!("{}{path}", self.base_url);
        let mut request = ureq::http::Request::builder().method(method).uri(&url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.to_vec())
            .context("building the request")?;
        let mut response = self
            .agent
            .run(request)
            .with_context(|| format!("{method} {url}"))?;
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                (
                    name.to_string(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .read_to_string()
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        Ok(Reply {
            status,
            headers,
            body,
        })
    }

    /// `POST /order` with a JSON body.
    pub fn post_order(&self, body: &str, idempotency_key: Option<&str>) -> Result<Reply> {
        let mut headers = vec![("content-type", "application/json")];
        headers.extend(idempotency_key.map(|key| ("idempotency-key", key)));
        self.send("POST", "/order", &headers, body.as_bytes())
    }

    /// Places an order that must be accepted, and returns its id.
    pub fn place_order(&self, details: &str) -> Result<String> {
        let body = serde_json::json!({ "details": details }).to_string();
        let reply = self.post_order(&body, None)?;
        if reply.status != 202 {
            bail!("POST /order answered {}: {}", reply.status, reply.body);
        }
        let id = reply.json()?["task"]["id"]
            .as_str()
            .context("202 without task.id")?
            .to_string();
        Ok(id)
    }

    pub fn get_order(&self, id: &str) -> Result<Reply> {
        self.send("GET", &format!("/order/{id}"), &[], b"")
    }

    /// Polls `GET /order/{id}` until it shows `status`, or fails at the deadline with the last answer.
    pub fn wait_for_status(&self, id: &str, status: &str, deadline: Duration) -> Result<Duration> {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < deadline {
            let reply = self.get_order(id)?;
            if reply.status == 200 && reply.json()?["status"] == status {
                return Ok(start.elapsed());
            }
            last = Some(reply);
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("order {id} was not {status} within {deadline:?}; last answer: {last:?}")
    }

    /// Publishes a raw message on the new-orders channel, as any publisher could.
    pub fn publish_raw(&self, payload: &[u8]) -> Result<()> {
        let client =
            redis::Client::open(self.redis_url.as_str()).context("parsing the Redis URL")?;
        let mut connection = client.get_connection().context("connecting to Redis")?;
        redis::cmd("PUBLISH")
            .arg(CHANNEL)
            .arg(payload)
            .query::<i64>(&mut connection)
            .context("publishing")?;
        Ok(())
    }

    /// How many clients are subscribed to the new-orders channel (`PUBSUB NUMSUB`).
    pub fn subscribers(&self) -> Result<i64> {
        let client =
            redis::Client::open(self.redis_url.as_str()).context("parsing the Redis URL")?;
        let mut connection = client.get_connection().context("connecting to Redis")?;
        let counts: Vec<(String, i64)> = redis::cmd("PUBSUB")
            .arg("NUMSUB")
            .arg(CHANNEL)
            .query(&mut connection)
            .context("counting subscribers")?;
        Ok(counts.first().map_or(0, |(_, count)| *count))
    }

    /// Waits until the health endpoint answers 200.
    pub fn wait_until_healthy(&self, deadline: Duration) -> Result<()> {
        let start = Instant::now();
        loop {
            match self.send("GET", "/.well-known/spin/health", &[], b"") {
                Ok(reply) if reply.status == 200 => return Ok(()),
                other if start.elapsed() > deadline => {
                    bail!(
                        "{} not healthy within {deadline:?}: {other:?}",
                        self.base_url
                    )
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }
}
