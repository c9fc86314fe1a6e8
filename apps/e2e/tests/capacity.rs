//! The fill test: this repository's apps on the embedded runtime, each app on its own (as on
//! Kubernetes), against a real redis-server with a small `maxmemory` and
//! `maxmemory-policy noeviction` (what the chart sets), a retention of seconds, and the chart's
//! reconciler script run as `cargo xtask up` runs it. Concurrent `POST /order` load runs past the
//! point where Redis is full, and on:
//!
//! - nothing crashes: Redis, the API and the fulfiller are still up at the end;
//! - every answer is `202` or a clean `503` (a problem document with `Retry-After`): Redis
//!   refuses the accept script's first write, so nothing is half-written;
//! - every accepted order leaves the pending index: the fulfil script runs over `maxmemory`
//!   (`#!lua flags=allow-oom`) and gives the order its retention;
//! - the API accepts again once retention frees memory.
//!
//! Redis is filled while fulfilment is down, so what fills it are *pending* orders, which never
//! expire: the state in which only fulfilment over `maxmemory` can free memory. Without the
//! fulfil script's `allow-oom` flag, Redis would stay full for good, and this test fails.

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dev_services::{Reconciler, ReconcilerOptions, RedisOptions, RedisServer};
use order_e2e::harness;
use order_e2e::harness::{
    Reply, Running, app_manifest, connection, eventually, request, run_against, wasm_dir,
};

const CHANNEL: &str = "neworders";
/// How long a fulfilled order is kept here: seconds, so that memory frees within the test.
const RETENTION: Duration = Duration::from_secs(3);
/// Room for orders above what Redis uses once the API has served its first order.
const HEADROOM_BYTES: u64 = 3 * 1024 * 1024;
/// Concurrent clients posting orders.
const CLIENTS: usize = 8;
/// The longest each phase may take; the whole test stays around a minute.
const PHASE_LIMIT: Duration = Duration::from_secs(30);

fn report(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "fill test: {line}");
}

/// A field of `INFO <section>`.
fn info_field(db: &mut redis::Connection, section: &str, field: &str) -> Option<String> {
    let info: String = redis::cmd("INFO").arg(section).query(db).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .map(|value| value.trim().to_string())
}

fn used_memory(db: &mut redis::Connection) -> u64 {
    info_field(db, "memory", "used_memory")
        .unwrap()
        .parse()
        .unwrap()
}

fn pending_count(db: &mut redis::Connection) -> u64 {
    redis::cmd("ZCARD").arg("order:pending").query(db).unwrap()
}

/// One app (`apps/<name>/spin.toml`) on the embedded runtime with a retention of seconds.
fn start_app(name: &str, redis: &RedisServer) -> Running {
    let retention = format!("{}s", RETENTION.as_secs());
    run_against(
        &[app_manifest(name)],
        redis,
        &[("order_retention", &retention)],
    )
}

fn start_reconciler(redis: &RedisServer) -> Reconciler {
    let options = ReconcilerOptions {
        channel: CHANNEL.to_string(),
        batch: 10_000,
        ..ReconcilerOptions::for_server(redis)
    };
    Reconciler::start(options, Duration::from_secs(1)).unwrap()
}

/// What the clients got.
#[derive(Default)]
struct Outcomes {
    /// Ids of the 202 answers.
    accepted: Vec<String>,
    /// 202 answers since fulfilment started.
    accepted_since_fulfilment: usize,
    /// Clean 503 answers.
    refused: usize,
    first_refusal: Option<Instant>,
    /// Anything else: the test fails on it.
    other: Vec<Reply>,
}

/// Is `reply` the clean refusal docs/api.md defines: 503, a problem document, `Retry-After`?
fn clean_refusal(reply: &Reply) -> bool {
    reply.status == 503
        && reply
            .header("content-type")
            .is_some_and(|value| value.starts_with("application/problem+json"))
        && reply
            .header("retry-after")
            .is_some_and(|value| value.parse::<u32>().is_ok())
        && serde_json::from_str::<serde_json::Value>(&reply.body).is_ok_and(|problem| {
            problem["status"] == 503
                && problem["type"]
                    .as_str()
                    .is_some_and(|kind| kind.ends_with("store-unavailable"))
        })
}

/// `CLIENTS` threads posting orders of about a kilobyte, every other one with an
/// `Idempotency-Key`, until `stop`.
fn start_load(
    api: SocketAddr,
    outcomes: &Arc<Mutex<Outcomes>>,
    fulfilment_started: &Arc<AtomicBool>,
    stop: &Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    (0..CLIENTS)
        .map(|client| {
            let (outcomes, started, stop) =
                (outcomes.clone(), fulfilment_started.clone(), stop.clone());
            std::thread::spawn(move || {
                let padding = "x".repeat(1000);
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    let key = format!("fill-{client}-{n}");
                    let mut headers = vec![("content-type", "application/json")];
                    if n.is_multiple_of(2) {
                        headers.push(("idempotency-key", &key));
                    }
                    let body = format!(r#"{{"details":"{key} {padding}"}}"#);
                    let reply = request(api, "POST", "/order", &headers, body.as_bytes());
                    let mut outcomes = outcomes.lock().unwrap_or_else(PoisonError::into_inner);
                    if reply.status == 202 {
                        let id = reply
                            .header("location")
                            .and_then(|location| location.strip_prefix("/order/"))
                            .unwrap()
                            .to_string();
                        outcomes.accepted.push(id);
                        if started.load(Ordering::Relaxed) {
                            outcomes.accepted_since_fulfilment += 1;
                        }
                    } else if clean_refusal(&reply) {
                        outcomes.refused += 1;
                        outcomes.first_refusal.get_or_insert_with(Instant::now);
                    } else {
                        outcomes.other.push(reply);
                    }
                }
            })
        })
        .collect()
}

/// Waits until `done` holds of the outcomes. After [`PHASE_LIMIT`], or as soon as an answer was
/// neither 202 nor a clean 503, stops the load and fails with `what` and the counts.
fn wait_for(
    what: &str,
    outcomes: &Mutex<Outcomes>,
    stop: &AtomicBool,
    db: &mut redis::Connection,
    done: impl Fn(&Outcomes) -> bool,
) {
    let deadline = Instant::now() + PHASE_LIMIT;
    let failure = loop {
        let outcomes = outcomes.lock().unwrap();
        if !outcomes.other.is_empty() {
            break format!(
                "answers other than 202 and a clean 503: {:?}",
                &outcomes.other[..outcomes.other.len().min(3)]
            );
        }
        if done(&outcomes) {
            return;
        }
        if Instant::now() >= deadline {
            break format!(
                "{what} within {PHASE_LIMIT:?}: {} accepted ({} since fulfilment started), {} \
                 refused",
                outcomes.accepted.len(),
                outcomes.accepted_since_fulfilment,
                outcomes.refused,
            );
        }
        drop(outcomes);
        std::thread::sleep(Duration::from_millis(50));
    };
    stop.store(true, Ordering::Relaxed);
    panic!(
        "{failure}; {} orders pending, Redis uses {} bytes",
        pending_count(db),
        used_memory(db)
    );
}

#[test]
fn a_full_redis_refuses_new_orders_cleanly_fulfils_accepted_ones_and_accepts_again() {
    wasm_dir();
    let started = Instant::now();
    let redis = RedisServer::start_with(RedisOptions {
        password: Some("fill-test".to_string()),
        ..RedisOptions::default()
    })
    .unwrap();
    let mut db = connection(&redis);
    let api = start_app("order-processor", &redis);
    // The first order loads the scripts; what Redis uses then is its start-up usage.
    let first = harness::post_order(api.address, "the first");
    assert_eq!(first.status, 202, "{first:?}");
    let maxmemory = used_memory(&mut db) + HEADROOM_BYTES;
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg(maxmemory)
        .query(&mut db)
        .unwrap();
    assert_eq!(
        info_field(&mut db, "memory", "maxmemory_policy").as_deref(),
        Some("noeviction")
    );

    // Phase 1, fulfilment down: pending orders fill Redis, and the load goes on past that.
    let outcomes = Arc::new(Mutex::new(Outcomes::default()));
    let fulfilment_started = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let clients = start_load(api.address, &outcomes, &fulfilment_started, &stop);
    wait_for("Redis did not fill up", &outcomes, &stop, &mut db, |o| {
        o.refused >= 100
            && o.first_refusal
                .is_some_and(|at| at.elapsed() >= Duration::from_secs(1))
    });
    let full_at = outcomes.lock().unwrap().accepted.len();
    let peak_pending = pending_count(&mut db);
    assert!(
        used_memory(&mut db) + 512 * 1024 > maxmemory,
        "Redis is not full"
    );

    // Phase 2, the load goes on: fulfilment starts (and the reconciler re-publishes what went
    // unheard). Fulfilling over maxmemory gives each order its retention; once that passes,
    // memory frees and the API accepts again.
    let fulfilment = start_app("fulfilment-processor", &redis);
    harness::wait_for_subscriber(&redis);
    let _reconciler = start_reconciler(&redis);
    fulfilment_started.store(true, Ordering::Relaxed);
    let fulfilment_at = Instant::now();
    wait_for(
        "the API did not accept again (fulfilment must run over maxmemory, or a Redis full of \
         pending orders never frees memory: fulfil.lua's `#!lua flags=allow-oom`)",
        &outcomes,
        &stop,
        &mut db,
        |o| {
            // More than the pending index' share of memory could make room for: the orders' own.
            o.accepted_since_fulfilment >= 300 && fulfilment_at.elapsed() > RETENTION * 2
        },
    );
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().expect("a client thread failed");
    }
    let outcomes = Arc::try_unwrap(outcomes)
        .ok()
        .unwrap()
        .into_inner()
        .unwrap();
    assert!(outcomes.other.is_empty(), "{:?}", outcomes.other);

    // Every accepted order leaves the pending index: fulfilled, or fulfilled and expired
    // already (a pending order never expires).
    eventually(
        "every accepted order to leave the pending index",
        Duration::from_secs(15),
        || (pending_count(&mut db) == 0).then_some(()),
    );
    for id in &outcomes.accepted {
        let status: Option<String> = redis::cmd("HGET")
            .arg(format!("order:{id}"))
            .arg("status")
            .query(&mut db)
            .unwrap();
        assert!(
            status.is_none() || status.as_deref() == Some("fulfilled"),
            "order {id} is {status:?}"
        );
    }

    // Once retention has freed the memory, every order is accepted and fulfilled again.
    eventually("retention to free memory", RETENTION * 5, || {
        (used_memory(&mut db) < maxmemory - HEADROOM_BYTES / 2).then_some(())
    });
    for n in 0..20 {
        let reply = harness::post_order(api.address, &format!("after the fill {n}"));
        assert_eq!(reply.status, 202, "{reply:?}");
    }
    eventually(
        "the last orders' fulfilment",
        Duration::from_secs(10),
        || (pending_count(&mut db) == 0).then_some(()),
    );

    // Nothing crashed: Redis answers, the API serves, the fulfiller is still subscribed (the
    // runtimes' threads fail the test when dropped if they ended with an error).
    let pong: String = redis::cmd("PING").query(&mut db).unwrap();
    assert_eq!(pong, "PONG");
    let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(CHANNEL)
        .query(&mut db)
        .unwrap();
    assert_eq!(subscribers, 1, "the fulfiller is not subscribed any more");
    // Redis refused writes for want of memory: that is what the 503s were.
    let oom = info_field(&mut db, "errorstats", "errorstat_OOM").unwrap_or_default();
    assert!(
        oom.starts_with("count="),
        "no OOM error in Redis' errorstats"
    );
    report(&format!(
        "maxmemory {maxmemory} bytes (start-up usage + {HEADROOM_BYTES}), retention \
         {RETENTION:?}: {} orders accepted ({full_at} until Redis was full, {peak_pending} \
         pending then; {} after fulfilment started), {} refused with a clean 503 (Redis: \
         errorstat_OOM {oom}), every accepted order fulfilled; {:.1?} in all",
        outcomes.accepted.len(),
        outcomes.accepted_since_fulfilment,
        outcomes.refused,
        started.elapsed()
    ));
    drop(fulfilment);
    drop(api);
}
