#![allow(clippy::unwrap_used)] // a failed step should panic with its cause
//! Sustained overload: `POST /order` from many clients at once while the fulfilment app falls
//! behind, until Redis closes its subscription for passing the pub/sub output buffer limit
//! (lowered here, as `CONFIG SET client-output-buffer-limit`). Its trigger exits as Spin's does,
//! `cargo xtask up` restarts it, and the reconciler re-publishes what the closed backlog held:
//! every accepted order ends `fulfilled`, with nobody stepping in.
//!
//! The subscriber is made to fall behind by pausing its process (SIGSTOP, until Redis has
//! closed it), as CPU throttling or a stalled node would: a merely slow handler does not fill
//! Redis' buffer, because the redis crate of both runtimes (Spin's 0.32, spin-local's 1.x) reads
//! the subscription into an unbounded in-process queue as fast as it arrives. Not a timed test:
//! it drives the load until Redis has closed the subscriber, however long that takes. It runs its
//! own local deployment, whatever `ORDER_SYSTEM_URL` says.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use order_e2e::{LocalDeployment, Runtime};

/// Redis closes a subscriber at once when this much output waits for it. Above what one
/// reconciler run publishes at once (500 orders of about 1.1 KB here): under that, each run
/// would close the restarted subscriber again, and the backlog would never drain.
const PUBSUB_HARD_LIMIT: &str = "1mb";
/// Concurrent clients: enough to keep every HTTP worker busy.
const CLIENTS: usize = 16;
/// A safety net, not a target: the load stops here if Redis never closed the subscriber.
const MOST_ORDERS: usize = 200_000;
/// How long the reconciler (every 5 s, at most 500 orders a run) may take to catch up.
const CATCH_UP_DEADLINE: Duration = Duration::from_secs(15 * 60);

#[test]
fn sustained_overload_loses_nothing_and_recovers_by_itself() {
    for runtime in Runtime::available() {
        overload(runtime);
    }
}

fn overload(runtime: Runtime) {
    let local = LocalDeployment::start_on(runtime).unwrap();
    let system = local.system().clone();
    let mut redis = redis::Client::open(system.redis_url())
        .unwrap()
        .get_connection()
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg(format!("pubsub {PUBSUB_HARD_LIMIT} 0 0"))
        .query(&mut redis)
        .unwrap();

    // The longest details the API takes: the fewest messages fill the buffer.
    let details = "x".repeat(1000);
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(Vec::new()));
    let done = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (system, details) = (system.clone(), details.clone());
            let (accepted, refused, done) = (accepted.clone(), refused.clone(), done.clone());
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    match system.place_order(&details) {
                        Ok(id) => accepted.lock().unwrap().push(id),
                        Err(error) => refused.lock().unwrap().push(format!("{error:#}")),
                    }
                }
            })
        })
        .collect();
    let subscriber = subscriber_pid(&mut redis).unwrap();
    signal(subscriber, "STOP");
    while system.subscribers().unwrap() > 0 {
        let count = accepted.lock().unwrap().len();
        if count >= MOST_ORDERS {
            signal(subscriber, "CONT");
            done.store(true, Ordering::Relaxed);
            panic!("{runtime:?}: {count} orders accepted and Redis never closed the subscriber");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    signal(subscriber, "CONT");
    // The load goes on until the app has exited and been started again.
    let started = Instant::now();
    while !local.log_text().contains("supervisor: restarted ") {
        assert!(
            started.elapsed() < CATCH_UP_DEADLINE,
            "{runtime:?}: the fulfilment app was not restarted:\n{}",
            local.log_tail()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    done.store(true, Ordering::Relaxed);
    for client in clients {
        client.join().unwrap();
    }
    let accepted = accepted.lock().unwrap().clone();
    let refused = refused.lock().unwrap().clone();
    assert!(
        refused.is_empty(),
        "{runtime:?}: refused: {:?}",
        &refused[..refused.len().min(5)]
    );

    let started = Instant::now();
    let mut unfulfilled = accepted.clone();
    while !unfulfilled.is_empty() {
        assert!(
            started.elapsed() < CATCH_UP_DEADLINE,
            "{runtime:?}: {} of {} orders still unfulfilled:\n{}",
            unfulfilled.len(),
            accepted.len(),
            local.log_tail()
        );
        std::thread::sleep(Duration::from_secs(1));
        let mut statuses = redis::pipe();
        for id in &unfulfilled {
            statuses
                .cmd("HGET")
                .arg(format!("order:{id}"))
                .arg("status");
        }
        let statuses: Vec<Option<String>> = statuses.query(&mut redis).unwrap();
        unfulfilled = unfulfilled
            .into_iter()
            .zip(statuses)
            .filter(|(_, status)| status.as_deref() != Some("fulfilled"))
            .map(|(id, _)| id)
            .collect();
    }
    let log = local.log_text();
    assert!(
        log.contains("(fulfilment-processor) exited")
            && log.contains("Error: disconnected from 127.0.0.1:"),
        "{runtime:?}:\n{}",
        local.log_tail()
    );
    eprintln!(
        "overload on {runtime:?}: {} orders accepted, 0 refused; Redis closed the subscriber \
         (pub/sub limit {PUBSUB_HARD_LIMIT}), the app was restarted, and all were fulfilled \
         {:.0?} after the load stopped",
        accepted.len(),
        started.elapsed()
    );
}

fn signal(pid: u32, name: &str) {
    let sent = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -{name} {pid}");
}

/// The process holding the one subscriber's connection: Redis names its address
/// (`CLIENT LIST TYPE pubsub`), /proc/net/tcp the socket, /proc/<pid>/fd the process.
fn subscriber_pid(redis: &mut redis::Connection) -> Result<u32, String> {
    let clients: String = redis::cmd("CLIENT")
        .arg("LIST")
        .arg("TYPE")
        .arg("pubsub")
        .query(redis)
        .map_err(|error| error.to_string())?;
    let port: u16 = clients
        .split_whitespace()
        .find_map(|field| field.strip_prefix("addr=127.0.0.1:"))
        .and_then(|port| port.parse().ok())
        .ok_or_else(|| format!("no subscriber on loopback in {clients:?}"))?;
    let table = std::fs::read_to_string("/proc/net/tcp").map_err(|error| error.to_string())?;
    let inode = table
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        // The connected socket (state 01) on that local port, not an old one in TIME_WAIT.
        .find(|fields| {
            let local_port = fields
                .get(1)
                .and_then(|local| local.rsplit_once(':'))
                .and_then(|(_, hex)| u16::from_str_radix(hex, 16).ok());
            local_port == Some(port) && fields.get(3) == Some(&"01")
        })
        .and_then(|fields| fields.get(9).map(|inode| inode.to_string()))
        .ok_or_else(|| format!("no socket on port {port} in /proc/net/tcp"))?;
    let socket = std::path::PathBuf::from(format!("socket:[{inode}]"));
    for process in std::fs::read_dir("/proc").map_err(|error| error.to_string())? {
        let process = process.map_err(|error| error.to_string())?;
        let Ok(pid) = process.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(descriptors) = std::fs::read_dir(process.path().join("fd")) else {
            continue;
        };
        if descriptors
            .flatten()
            .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target == socket))
        {
            return Ok(pid);
        }
    }
    Err(format!("no process holds {}", socket.display()))
}
