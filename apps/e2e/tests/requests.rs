//! Requests the order-processor must refuse without harm, on spin-local as a process of its own:
//! a body over the 16 KiB bound, on any route and however it is framed, costs the runtime no
//! memory beyond that bound and is answered 413 before the client has sent it; and a header
//! value that is not UTF-8 fails in the host before any component runs, as in Spin.

#![allow(clippy::unwrap_used)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Output};
use std::time::Duration;

use order_e2e::harness::{Reply, spin_local_up, stop, wasm_dir, workspace_root};

const MIB: usize = 1024 * 1024;
/// What an oversized request may add to the runtime's peak resident memory.
const MEMORY_BOUND_BYTES: u64 = 32 * MIB as u64;
/// Only a failure bound: a refusal that waits for the rest of the body never comes.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(60);
const AN_ID: &str = "7c0b5b0e-6a4b-4a59-9d2e-3c1f6a0b9e11";

/// The order-processor on spin-local in a child process; killed when dropped.
struct Api {
    child: Option<Child>,
    address: SocketAddr,
}

impl Api {
    fn start() -> Api {
        wasm_dir();
        let manifest = workspace_root().join("apps/order-processor/spin.toml");
        let port = dev_services::free_port().unwrap();
        // Nothing listens there: no request in these tests gets as far as Redis.
        let redis_port = format!("redis_port={}", dev_services::free_port().unwrap());
        let listen = format!("127.0.0.1:{port}");
        let child = spin_local_up(&[
            "-f",
            manifest.to_str().unwrap(),
            "--listen",
            &listen,
            "--variable",
            &redis_port,
        ])
        .spawn()
        .unwrap();
        let api = Api {
            child: Some(child),
            address: listen.parse().unwrap(),
        };
        dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
        api
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Stops the runtime and returns what it printed.
    fn stop(mut self) -> Output {
        stop(self.child.take().unwrap())
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A request line and headers (`Connection: close` is added), then a body that `send` writes
/// from a thread of its own: a server that answers before reading the whole body may close the
/// connection while it is being sent, and its answer must still be read.
fn exchange(
    address: SocketAddr,
    head: &[u8],
    send: impl FnOnce(&mut TcpStream) -> std::io::Result<()> + Send + 'static,
) -> Reply {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(ANSWER_TIMEOUT)).unwrap();
    stream.write_all(head).unwrap();
    stream
        .write_all(format!("Host: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        // The server may stop reading and close: the rest is then not sent, as intended.
        let _ = send(&mut writer);
    });
    let mut raw = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => raw.extend_from_slice(&buffer[..read]),
            // A server that closes with the request body unread resets the connection after
            // its answer.
            Err(error) if error.kind() == ErrorKind::ConnectionReset => break,
            Err(error) => panic!(
                "no complete answer within {ANSWER_TIMEOUT:?}: {error} (got {:?})",
                String::from_utf8_lossy(&raw)
            ),
        }
    }
    drop(stream);
    let _ = sender.join();
    parse(&raw)
}

fn parse(raw: &[u8]) -> Reply {
    let raw = String::from_utf8_lossy(raw);
    let (head, body) = raw
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("not an HTTP answer: {raw:?}"));
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse();
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_string(), value.trim().to_string()))
        .collect();
    Reply {
        status: status.unwrap(),
        headers,
        body: body.to_string(),
    }
}

/// `bytes` bytes of spaces as one `Content-Length` body.
fn sized(bytes: usize) -> impl FnOnce(&mut TcpStream) -> std::io::Result<()> + Send + 'static {
    move |stream| {
        let piece = vec![b' '; MIB];
        let mut left = bytes;
        while left > 0 {
            let now = left.min(piece.len());
            stream.write_all(&piece[..now])?;
            left -= now;
        }
        Ok(())
    }
}

/// `bytes` bytes of spaces in chunks of 64 KiB; `finish` sends the last, empty chunk.
fn chunked(
    bytes: usize,
    finish: bool,
) -> impl FnOnce(&mut TcpStream) -> std::io::Result<()> + Send + 'static {
    move |stream| {
        let mut left = bytes;
        while left > 0 {
            let now = left.min(64 * 1024);
            stream.write_all(format!("{now:x}\r\n").as_bytes())?;
            stream.write_all(&vec![b' '; now])?;
            stream.write_all(b"\r\n")?;
            left -= now;
        }
        if finish {
            stream.write_all(b"0\r\n\r\n")?;
        }
        Ok(())
    }
}

fn assert_problem(reply: &Reply, status: u16, slug: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert!(
        reply
            .body
            .contains(&format!("\"urn:order-system:problem:{slug}\"")),
        "{reply:?}"
    );
}

/// A field of `/proc/<pid>/status` in bytes (`VmRSS`, `VmHWM`).
fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"));
    let kib: u64 = line.trim().trim_end_matches("kB").trim().parse().unwrap();
    kib * 1024
}

/// Sets the process's peak resident memory (`VmHWM`) to its current level (proc(5),
/// `clear_refs`) and returns that level.
fn reset_peak(pid: u32) -> u64 {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
    memory(pid, "VmRSS")
}

#[test]
fn oversized_bodies_cost_the_runtime_no_memory_past_the_bound() {
    let api = Api::start();
    let post = |length: &str| {
        format!("POST /order HTTP/1.1\r\nContent-Type: application/json\r\n{length}")
    };
    // Warm-up: both components have run and refused a body, so the idle level counts what the
    // runtime keeps between requests.
    for _ in 0..3 {
        let reply = exchange(
            api.address,
            post("Content-Length: 17000\r\n").as_bytes(),
            sized(17000),
        );
        assert_problem(&reply, 413, "payload-too-large");
        let reply = exchange(
            api.address,
            post("Transfer-Encoding: chunked\r\n").as_bytes(),
            chunked(17000, true),
        );
        assert_problem(&reply, 413, "payload-too-large");
        let reply = exchange(
            api.address,
            b"GET /order/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n",
            chunked(17000, true),
        );
        assert_problem(&reply, 400, "invalid-order-id");
    }
    let idle = reset_peak(api.pid());

    let big = 64 * MIB;
    for (head, status, slug) in [
        (post(""), 413, "payload-too-large"),
        (
            "PUT /order HTTP/1.1\r\n".to_string(),
            405,
            "method-not-allowed",
        ),
        (
            format!("GET /order/{AN_ID}x HTTP/1.1\r\n"),
            400,
            "invalid-order-id",
        ),
    ] {
        let with_length = format!("{head}Content-Length: {big}\r\n");
        assert_problem(
            &exchange(api.address, with_length.as_bytes(), sized(big)),
            status,
            slug,
        );
        let without = format!("{head}Transfer-Encoding: chunked\r\n");
        assert_problem(
            &exchange(api.address, without.as_bytes(), chunked(big, true)),
            status,
            slug,
        );
    }

    let peak = memory(api.pid(), "VmHWM");
    let grown = peak.saturating_sub(idle);
    println!(
        "idle {} MiB, peak {} MiB",
        idle / MIB as u64,
        peak / MIB as u64
    );
    assert!(
        grown < MEMORY_BOUND_BYTES,
        "64 MiB bodies raised the runtime's peak memory by {} MiB (idle {} MiB)",
        grown / MIB as u64,
        idle / MIB as u64
    );
}

#[test]
fn an_oversized_body_is_refused_before_it_is_sent() {
    let api = Api::start();
    // 64 MiB declared, 64 KiB sent: the answer comes without the rest.
    let declared = format!(
        "POST /order HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        64 * MIB
    );
    let reply = exchange(api.address, declared.as_bytes(), sized(64 * 1024));
    assert_problem(&reply, 413, "payload-too-large");
    // No length, the body never finished: refused once past the bound.
    let unbounded =
        "POST /order HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n";
    let reply = exchange(api.address, unbounded.as_bytes(), chunked(64 * 1024, false));
    assert_problem(&reply, 413, "payload-too-large");
    // A body within the bound is still read whole.
    let fits = format!(
        "POST /order HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        16 * 1024
    );
    let reply = exchange(api.address, fits.as_bytes(), |stream| {
        let mut body = br#"{"details":""}"#.to_vec();
        body.resize(16 * 1024, b' ');
        stream.write_all(&body)
    });
    assert_problem(&reply, 400, "validation-failed");
}

#[test]
fn header_values_that_are_not_utf8_fail_in_the_host_as_in_spin() {
    let api = Api::start();
    let post = |header: &[u8]| {
        let mut head =
            b"POST /order HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                .to_vec();
        head.extend_from_slice(header);
        head
    };
    let get = |header: &[u8]| {
        let mut head = b"GET /order/x HTTP/1.1\r\nContent-Length: 2\r\n".to_vec();
        head.extend_from_slice(header);
        head
    };
    let body = |stream: &mut TcpStream| stream.write_all(b"{}");
    // UTF-8 that is not ASCII reaches the components, which answer as for any request.
    let note = "X-Note: caf\u{e9}\r\n".as_bytes();
    assert_problem(
        &exchange(api.address, &post(note), body),
        400,
        "validation-failed",
    );
    assert_problem(
        &exchange(api.address, &get(note), body),
        400,
        "invalid-order-id",
    );

    // Not UTF-8: a bare 500 from the host, the Utf8Error in its log.
    for (head, cause) in [
        (
            post(b"X-Note: caf\xe9\r\n"),
            "incomplete utf-8 byte sequence from index 3",
        ),
        (
            post(b"Idempotency-Key: k\xe9y\r\n"),
            "invalid utf-8 sequence of 1 bytes from index 1",
        ),
        (
            get(b"X-Note: \xff\r\n"),
            "invalid utf-8 sequence of 1 bytes from index 0",
        ),
    ] {
        let reply = exchange(api.address, &head, body);
        assert_eq!((reply.status, reply.body.as_str()), (500, ""), "{cause}");
    }
    let output = api.stop();
    let stderr = String::from_utf8_lossy(&output.stderr);
    for cause in [
        "incomplete utf-8 byte sequence from index 3",
        "invalid utf-8 sequence of 1 bytes from index 1",
        "invalid utf-8 sequence of 1 bytes from index 0",
    ] {
        assert!(stderr.contains(cause), "{cause}: {stderr}");
    }
}
