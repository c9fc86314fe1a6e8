//! POST→fulfilled latency: paced orders, each timed from just before its POST to the moment its
//! status became `fulfilled`.
//!
//! With `--redis`, that moment is when Redis announces the order hash's second `hset` (the first
//! stores it as `created`, the second is the fulfilment) through keyspace notifications: no
//! polling, so no polling bias. Without Redis access (a deployed system), the status is polled
//! every `--poll-interval-ms`, and that interval bounds the error.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};

use crate::stats::Summary;

/// How long an order may take to be fulfilled before it counts as lost.
const FULFIL_TIMEOUT: Duration = Duration::from_secs(5);

/// Time orders end to end: POST, then wait for `fulfilled`.
#[derive(clap::Args)]
pub struct EndToEnd {
    /// The order API's base URL, e.g. http://127.0.0.1:3000
    #[arg(long)]
    url: String,
    /// The system's Redis (redis://…): time fulfilments by keyspace notifications.
    #[arg(long)]
    redis: Option<String>,
    /// The system's key prefix (Spin variable key_prefix).
    #[arg(long, default_value = "order:")]
    key_prefix: String,
    /// Orders per second this probe sends.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds to send orders for.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Without --redis: how often to poll each order's status.
    #[arg(long, default_value_t = 1.0)]
    poll_interval_ms: f64,
}

impl EndToEnd {
    pub fn run(self) -> Result<String> {
        if !(self.rate > 0.0 && self.duration > 0.0 && self.poll_interval_ms > 0.0) {
            bail!("--rate, --duration and --poll-interval-ms must be positive");
        }
        let api = Api::new(&self.url);
        let orders = (self.rate * self.duration).ceil() as u32;
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let (method, samples_ms, lost) = match &self.redis {
            Some(redis) => {
                let watcher = FulfilmentWatcher::start(redis, &self.key_prefix)?;
                let sent = send_paced(orders, interval, |_| api.post_order())?;
                let (samples, lost) = watcher.finish(&self.key_prefix, &sent)?;
                ("redis keyspace notifications".to_string(), samples, lost)
            }
            None => {
                let poll = Duration::from_secs_f64(self.poll_interval_ms / 1000.0);
                let mut samples = Vec::new();
                let mut lost = 0;
                send_paced(orders, interval, |started| {
                    let id = api.post_order()?;
                    match api.wait_fulfilled(&id, poll)? {
                        Some(at) => samples.push(millis(at - started)),
                        None => lost += 1,
                    }
                    Ok(id)
                })?;
                (
                    format!("polling every {} ms", self.poll_interval_ms),
                    samples,
                    lost,
                )
            }
        };
        Ok(json!({
            "method": method,
            "rate_per_s": self.rate,
            "sent": orders,
            "lost": lost,
            "latency": Summary::of(samples_ms),
        })
        .to_string())
    }
}

/// POST one order; prints its id.
#[derive(clap::Args)]
pub struct CreateOrder {
    /// The order API's base URL, e.g. http://127.0.0.1:3000
    #[arg(long)]
    url: String,
}

impl CreateOrder {
    pub fn run(self) -> Result<String> {
        let id = Api::new(&self.url).post_order()?;
        Ok(json!({ "id": id }).to_string())
    }
}

/// Calls `send` `count` times, the n-th at `n × interval` after the start (later when a call
/// overruns its slot), with the instant of the call; returns `(id, instant)` per call.
fn send_paced(
    count: u32,
    interval: Duration,
    mut send: impl FnMut(Instant) -> Result<String>,
) -> Result<Vec<(String, Instant)>> {
    let start = Instant::now();
    let mut sent = Vec::new();
    for n in 0..count {
        let slot = start + interval * n;
        if let Some(wait) = slot.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let started = Instant::now();
        sent.push((send(started)?, started));
    }
    Ok(sent)
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

struct Api {
    agent: ureq::Agent,
    base: String,
}

impl Api {
    fn new(base: &str) -> Api {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        Api {
            agent,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// `POST /order`; the new order's id.
    fn post_order(&self) -> Result<String> {
        let url = format!("{}/order", self.base);
        let mut response = self
            .agent
            .post(&url)
            .header("content-type", "application/json")
            .send(r#"{"details":"bench-probe end-to-end order"}"#)
            .with_context(|| format!("POST {url}"))?;
        let status = response.status();
        let body = response.body_mut().read_to_string()?;
        if status != 202 {
            bail!("POST {url} answered {status}: {body}");
        }
        let answer: Value =
            serde_json::from_str(&body).with_context(|| format!("POST {url} answered {body}"))?;
        answer["task"]["id"]
            .as_str()
            .map(str::to_string)
            .with_context(|| format!("POST {url} answered no task.id: {body}"))
    }

    /// Polls `GET /order/{id}` until it says `fulfilled` (the instant it first did), or None
    /// after [`FULFIL_TIMEOUT`].
    fn wait_fulfilled(&self, id: &str, poll: Duration) -> Result<Option<Instant>> {
        let url = format!("{}/order/{id}", self.base);
        let deadline = Instant::now() + FULFIL_TIMEOUT;
        while Instant::now() < deadline {
            let mut response = self
                .agent
                .get(&url)
                .call()
                .with_context(|| format!("GET {url}"))?;
            let seen = Instant::now();
            let body = response.body_mut().read_to_string()?;
            if response.status() != 200 {
                bail!("GET {url} answered {}: {body}", response.status());
            }
            let order: Value = serde_json::from_str(&body)?;
            if order["status"] == "fulfilled" {
                return Ok(Some(seen));
            }
            std::thread::sleep(poll);
        }
        Ok(None)
    }
}

/// Records when each order hash under a prefix is written (`hset`), as Redis announces it.
struct FulfilmentWatcher {
    writes: Arc<Mutex<HashMap<String, Vec<Instant>>>>,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Result<()>>,
}

impl FulfilmentWatcher {
    fn start(redis_url: &str, key_prefix: &str) -> Result<FulfilmentWatcher> {
        let client =
            redis::Client::open(redis_url).with_context(|| format!("bad Redis URL {redis_url}"))?;
        let mut control = client
            .get_connection()
            .with_context(|| format!("connecting to {redis_url}"))?;
        // K: keyspace channels, h: hash commands. Only a Redis the bench owns should get this.
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg("Kh")
            .exec(&mut control)
            .context("enabling keyspace notifications")?;
        let mut connection = client.get_connection()?;
        let pattern = format!("__keyspace@*__:{}*", glob_escape(key_prefix));
        let writes = Arc::new(Mutex::new(HashMap::<String, Vec<Instant>>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (subscribed, is_subscribed) = std::sync::mpsc::channel();
        let thread = {
            let writes = Arc::clone(&writes);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || -> Result<()> {
                let mut pubsub = connection.as_pubsub();
                pubsub.psubscribe(&pattern)?;
                pubsub.set_read_timeout(Some(Duration::from_millis(50)))?;
                let _ = subscribed.send(());
                while !stop.load(Ordering::Relaxed) {
                    let message = match pubsub.get_message() {
                        Ok(message) => message,
                        Err(error) if error.is_timeout() => continue,
                        Err(error) => return Err(error.into()),
                    };
                    let at = Instant::now();
                    let event: String = message.get_payload()?;
                    if event == "hset"
                        && let Some((_, key)) = message.get_channel_name().split_once("__:")
                        && let Ok(mut writes) = writes.lock()
                    {
                        writes.entry(key.to_string()).or_default().push(at);
                    }
                }
                Ok(())
            })
        };
        if is_subscribed.recv_timeout(Duration::from_secs(5)).is_err() {
            stop.store(true, Ordering::Relaxed);
            return match thread.join() {
                Ok(Err(error)) => Err(error.context("subscribing to keyspace notifications")),
                _ => bail!("subscribing to keyspace notifications did not finish"),
            };
        }
        Ok(FulfilmentWatcher {
            writes,
            stop,
            thread,
        })
    }

    /// Waits until every sent order was fulfilled (or [`FULFIL_TIMEOUT`]), stops watching, and
    /// returns the latencies in ms and how many orders were never fulfilled.
    fn finish(self, key_prefix: &str, sent: &[(String, Instant)]) -> Result<(Vec<f64>, usize)> {
        let fulfilled_at = |writes: &HashMap<String, Vec<Instant>>, id: &str| {
            // The first write stores the order as created; the second fulfils it.
            writes
                .get(&format!("{key_prefix}{id}"))
                .and_then(|times| times.get(1))
                .copied()
        };
        let deadline = Instant::now() + FULFIL_TIMEOUT;
        loop {
            let pending = {
                let writes = self.lock()?;
                sent.iter()
                    .filter(|(id, _)| fulfilled_at(&writes, id).is_none())
                    .count()
            };
            if pending == 0 || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop.store(true, Ordering::Relaxed);
        let writes = self.lock()?;
        let mut samples = Vec::new();
        let mut lost = 0;
        for (id, started) in sent {
            match fulfilled_at(&writes, id) {
                Some(at) => samples.push(millis(at.saturating_duration_since(*started))),
                None => lost += 1,
            }
        }
        drop(writes);
        match self.thread.join() {
            Ok(result) => result.context("watching keyspace notifications")?,
            Err(_) => bail!("the keyspace watcher panicked"),
        }
        Ok((samples, lost))
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, HashMap<String, Vec<Instant>>>> {
        self.writes
            .lock()
            .map_err(|_| anyhow::anyhow!("the keyspace watcher panicked"))
    }
}

/// `text` as a literal in a Redis glob pattern.
fn glob_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_escape_keeps_a_prefix_literal() {
        assert_eq!(glob_escape("order:"), "order:");
        assert_eq!(glob_escape("a*b?[c]\\"), "a\\*b\\?\\[c\\]\\\\");
    }

    #[test]
    fn paced_sends_keep_their_slots() {
        let started = Instant::now();
        let sent = send_paced(5, Duration::from_millis(20), |_| Ok("id".into())).unwrap();
        assert_eq!(sent.len(), 5);
        let last = sent[4].1 - started;
        assert!(last >= Duration::from_millis(80), "{last:?}");
    }
}
