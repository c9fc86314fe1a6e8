//! A test component: answers with what the host showed it, chosen by the `probe` header.
//! - no `probe` header: every request header as `name: value` lines, in the order received;
//! - `probe: variable <name>`: `ok <value>` or `error <error>` from `variables::get`;
//! - `probe: redis <address>`: `ok <reply>` to a `PING` over `redis::Connection::open`, or
//!   `error <error>`;
//! - `probe: http <url>`: `ok <status> <body>` for an outbound `GET <url>`, or `error <error>`;
//! - `probe: busy <ms>`: `ok busy` after keeping the CPU busy for that long without giving the
//!   host a chance to run anything else on the thread;
//! - `probe: trap <why>`: no answer at all, the instance traps (a panic, with `panic = abort`).

// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use std::time::{Duration, Instant};

use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;
use spin_sdk::redis::{Connection, RedisResult};

#[http_component]
async fn probe(request: Request) -> Response {
    let probe = request
        .header("probe")
        .and_then(|value| value.as_str())
        .unwrap_or_default();
    let body = match probe.split_once(' ') {
        Some(("variable", name)) => match spin_sdk::variables::get(name) {
            Ok(value) => format!("ok {value}"),
            Err(error) => format!("error {error:?}"),
        },
        Some(("redis", address)) => ping(address),
        Some(("http", url)) => fetch(url).await,
        Some(("busy", ms)) => busy(ms),
        Some(("trap", why)) => panic!("trap requested: {why}"),
        _ => request
            .headers()
            .map(|(name, value)| format!("{name}: {}\n", value.as_str().unwrap_or("<binary>")))
            .collect(),
    };
    Response::new(200, body)
}

fn ping(address: &str) -> String {
    let reply = Connection::open(address).and_then(|connection| connection.execute("PING", &[]));
    match reply.as_deref() {
        Ok([RedisResult::Status(status)]) => format!("ok {status}"),
        Ok(other) => format!("ok {other:?}"),
        Err(error) => format!("error {error:?}"),
    }
}

async fn fetch(url: &str) -> String {
    match spin_sdk::http::send::<_, Response>(Request::get(url).build()).await {
        Ok(response) => format!(
            "ok {} {}",
            response.status(),
            String::from_utf8_lossy(response.body())
        ),
        Err(error) => format!("error {error:?}"),
    }
}

fn busy(ms: &str) -> String {
    let Ok(ms) = ms.parse() else {
        return format!("error {ms:?} is not a number of milliseconds");
    };
    let until = Instant::now() + Duration::from_millis(ms);
    while Instant::now() < until {}
    "ok busy".to_string()
}
