//! What the tests that run the components on the embedded runtime share — the order system's
//! behaviour tests (this crate's) and spin-local's own: the built components, throw-away
//! manifests, spin-local in-process on a thread of its own or as a process, a minimal HTTP
//! client for requests no well-behaved client sends, and the steps of the order flow.
//!
//! Failures panic: these are test helpers, and a panic names what failed.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use dev_services::RedisServer;
use spin_local::{Runtime, VariableProviders};

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs `cargo` with `args` in the workspace; `what` names the build in a failure. The variables
/// cargo set for this test process are not passed on (`dev_services::cargo_program_variables`).
fn cargo_build(args: &[&str], what: &str) -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    for name in dev_services::cargo_program_variables() {
        command.env_remove(name);
    }
    let status = command
        .current_dir(workspace_root())
        .args(args)
        .status()
        .map_err(|error| format!("running cargo: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("cargo build of {what} failed ({status})"))
    }
}

/// Builds (once per test process) the probe component and the apps' components for
/// wasm32-wasip2, and returns the directory holding the `.wasm` files.
pub fn wasm_dir() -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        cargo_build(
            &[
                "build",
                "--release",
                "--locked",
                "--target",
                "wasm32-wasip2",
                "-p",
                "spin-local-probe",
                "-p",
                "receiver",
                "-p",
                "status_provider",
                "-p",
                "fulfiller",
                "-p",
                "fulfilment",
            ],
            "the components for wasm32-wasip2",
        )
    });
    if let Err(why) = built {
        panic!(
            "the test components could not be built: {why}; `cargo xtask build` installs the \
             wasm32-wasip2 target and shows the error"
        );
    }
    workspace_root().join("target/wasm32-wasip2/release")
}

/// The probe: a component for tests that reports what the host shows it (request headers,
/// variables, outbound Redis), and burns CPU on request.
pub fn probe_wasm() -> PathBuf {
    wasm_dir().join("spin_local_probe.wasm")
}

/// An app whose one component, `probe`, serves every path. `variables` is the body of its
/// `[variables]` table, `component` more lines for `[component.probe]` (tables may follow).
pub fn probe_app(name: &str, variables: &str, component: &str) -> PathBuf {
    manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "{name}"
        [variables]
        {variables}
        [[trigger.http]]
        route = "/..."
        component = "probe"
        [component.probe]
        source = "{wasm}"
        {component}
        "#,
        wasm = probe_wasm().display()
    ))
}

/// Writes `text` as a `spin.toml` in a new private directory and returns its path.
pub fn manifest(text: &str) -> PathBuf {
    let dir = dev_services::private_dir("spin-local-test").unwrap();
    let path = dir.join("spin.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A runtime serving on a free loopback port from a background thread; stops on drop, and then
/// fails the test if it had ended with an error that [`Running::failure`] did not collect.
pub struct Running {
    pub address: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Ends with `Runtime::run`'s outcome, the error chain as text.
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl Running {
    pub fn start(manifests: &[PathBuf], providers: VariableProviders) -> Running {
        let runtime = Runtime::load(manifests, &providers, &Default::default()).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (bound, address) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let tokio = tokio::runtime::Runtime::new().unwrap();
            tokio.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                bound.send(listener.local_addr().unwrap()).unwrap();
                let listener = runtime.serves_http().then_some(listener);
                runtime
                    .run(listener, async {
                        let _ = stopped.await;
                    })
                    .await
                    .map_err(|error| format!("{error:#}"))
            })
        });
        Running {
            address: address.recv().unwrap(),
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn get(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        request(self.address, "GET", path, headers, b"")
    }

    /// Waits (up to `timeout`) for the runtime to end by itself, and returns its error.
    pub fn failure(mut self, timeout: Duration) -> String {
        let thread = self.thread.take().unwrap();
        eventually("the runtime to end", timeout, || {
            thread.is_finished().then_some(())
        });
        match thread.join().unwrap() {
            Ok(()) => panic!("the runtime ended without an error"),
            Err(error) => error,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let outcome = thread.join();
            if !std::thread::panicking() {
                outcome
                    .unwrap()
                    .unwrap_or_else(|error| panic!("the runtime failed: {error}"));
            }
        }
    }
}

/// `apps/<name>/spin.toml`.
pub fn app_manifest(name: &str) -> PathBuf {
    workspace_root().join("apps").join(name).join("spin.toml")
}

/// Apps (their manifests) in one embedded runtime — one process, as one `spin up` with several
/// triggers — against `redis` (its port and password), with more `--variable`s; the components
/// are built first. Stops when dropped.
pub fn run_against(
    manifests: &[PathBuf],
    redis: &RedisServer,
    variables: &[(&str, &str)],
) -> Running {
    wasm_dir();
    let port = redis.port().to_string();
    let mut flags = vec![("redis_port", port.as_str())];
    if let Some(password) = redis.password() {
        flags.push(("redis_password", password));
    }
    flags.extend_from_slice(variables);
    Running::start(manifests, providers(&flags, &[]))
}

/// Providers with `--variable` flags and a fake environment.
pub fn providers(flags: &[(&str, &str)], environment: &[(&str, &str)]) -> VariableProviders {
    let environment: Vec<(String, String)> = environment
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    VariableProviders::with_environment(
        flags
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string())),
        move |name| {
            Ok(environment
                .iter()
                .find(|(candidate, _)| candidate == name)
                .map(|(_, value)| value.clone()))
        },
    )
    .unwrap()
}

/// The `spin-local` program, built (once per test process) as `cargo build -p spin-local` builds
/// it, in the workspace's target directory (or `CARGO_TARGET_DIR`).
pub fn spin_local_program() -> PathBuf {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        cargo_build(
            &[
                "build",
                "--locked",
                "-p",
                "spin-local",
                "--bin",
                "spin-local",
            ],
            "spin-local",
        )
    });
    if let Err(why) = built {
        panic!("spin-local could not be built: {why}");
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace_root().join("target"), PathBuf::from);
    target.join("debug/spin-local")
}

/// `spin-local up` with `args`, its output captured.
pub fn spin_local_up(args: &[&str]) -> Command {
    let mut command = Command::new(spin_local_program());
    command
        .arg("up")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Stops a spin-local with SIGTERM, as a user's Ctrl-C or Kubernetes would, and returns what
/// it printed.
pub fn stop(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
}

pub use crate::Reply;

/// One HTTP/1.0 exchange (so the body ends when the server closes the connection).
pub fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!("{method} {path} HTTP/1.0\r\nHost: {address}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap();
            (name.trim().to_string(), value.trim().to_string())
        })
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Polls `check` until it returns `Some`, failing after `timeout`.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connection to `redis` as its `default` user.
pub fn connection(redis: &RedisServer) -> redis::Connection {
    redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap()
}

/// The order id of a 202 answer to `POST /order`, from its `Location`.
pub fn accepted_id(reply: &Reply) -> String {
    assert_eq!(reply.status, 202, "{reply:?}");
    let location = reply.header("location").unwrap();
    location.strip_prefix("/order/").unwrap().to_string()
}

/// Polls `GET location` (e.g. `/order/<id>`) at `api` until the order is `fulfilled`; every
/// answer must be a 200.
pub fn wait_until_fulfilled(api: SocketAddr, location: &str) {
    eventually(
        &format!("{location} to be fulfilled"),
        Duration::from_secs(30),
        || {
            let reply = request(api, "GET", location, &[], b"");
            assert_eq!(reply.status, 200, "{reply:?}");
            reply.body.contains(r#""status":"fulfilled""#).then_some(())
        },
    );
}

/// Why `app` does not load on the embedded runtime (no variables given), as `{:#}` shows it.
pub fn load_error(app: PathBuf) -> String {
    let error = Runtime::load(&[app], &providers(&[], &[]), &Default::default())
        .err()
        .expect("the app must not load");
    format!("{error:#}")
}

/// Waits until the fulfiller listens on the order channel, so no message is missed.
pub fn wait_for_subscriber(redis: &RedisServer) {
    let client = redis::Client::open(redis.url()).unwrap();
    eventually(
        "the fulfiller's subscription",
        Duration::from_secs(30),
        || {
            let mut connection = client.get_connection().ok()?;
            let (_, subscribers): (String, i64) = redis::cmd("PUBSUB")
                .arg("NUMSUB")
                .arg("neworders")
                .query(&mut connection)
                .ok()?;
            (subscribers > 0).then_some(())
        },
    );
}

/// Closes the one subscriber's connection, as Redis does to a subscriber past its
/// `client-output-buffer-limit pubsub`.
pub fn close_the_subscriber(redis: &RedisServer) {
    let mut connection = redis::Client::open(redis.url())
        .unwrap()
        .get_connection()
        .unwrap();
    let closed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query(&mut connection)
        .unwrap();
    assert_eq!(closed, 1);
}

/// `POST /order` with these details to the API at `address`.
pub fn post_order(address: SocketAddr, details: &str) -> Reply {
    request(
        address,
        "POST",
        "/order",
        &[("content-type", "application/json")],
        format!(r#"{{"details":"{details}"}}"#).as_bytes(),
    )
}
