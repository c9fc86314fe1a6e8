//! The `spin-local` binary: `SPIN_VARIABLE_*` from its environment (and `.env`) under
//! `--variable` flags, clear errors for a taken port or a missing required variable, and a
//! clean stop on SIGTERM; the compilation cache (`--cache`, `--disable-cache`); and Spin's exit
//! when a Redis subscription drops.

#![allow(clippy::unwrap_used)]

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use dev_services::RedisServer;
use order_e2e::harness::{
    close_the_subscriber, eventually, probe_app, request, spin_local_up, stop, wait_for_subscriber,
    wasm_dir, workspace_root,
};

fn app() -> PathBuf {
    probe_app(
        "cli",
        r#"
        from_env = { default = "from-default" }
        from_dotenv = { default = "from-default" }
        from_flag = { default = "from-default" }
        token = { required = true, secret = true }
        "#,
        r#"
        [component.probe.variables]
        from_env = "{{ from_env }}"
        from_dotenv = "{{ from_dotenv }}"
        from_flag = "{{ from_flag }}"
        "#,
    )
}

fn spin_local(args: &[&str]) -> Command {
    let mut command = spin_local_up(args);
    command
        .env_remove("SPIN_VARIABLE_FROM_ENV")
        .env_remove("SPIN_VARIABLE_FROM_DOTENV")
        .env_remove("SPIN_VARIABLE_FROM_FLAG")
        .env_remove("SPIN_VARIABLE_TOKEN");
    command
}

#[test]
fn serves_with_variables_from_env_and_flags_and_stops_on_sigterm() {
    let port = dev_services::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let manifest = app();
    // Like `spin up`, spin-local reads a `.env` file in its working directory, under the
    // environment.
    let workdir = manifest.parent().unwrap();
    std::fs::write(
        workdir.join(".env"),
        "SPIN_VARIABLE_FROM_DOTENV=from-dotenv\nSPIN_VARIABLE_FROM_ENV=dotenv-loses\n",
    )
    .unwrap();
    let child = spin_local(&[
        "-f",
        manifest.to_str().unwrap(),
        "--listen",
        &listen,
        "--variable",
        "from_flag=from-flag",
    ])
    .current_dir(workdir)
    .env("SPIN_VARIABLE_FROM_ENV", "from-env")
    .env("SPIN_VARIABLE_FROM_FLAG", "env-loses")
    .env("SPIN_VARIABLE_TOKEN", "s3cr3t")
    .spawn()
    .unwrap();
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();

    let address: SocketAddr = listen.parse().unwrap();
    let variable = |name: &str| {
        request(
            address,
            "GET",
            "/",
            &[("probe", &format!("variable {name}"))],
            b"",
        )
        .body
    };
    assert_eq!(variable("from_env"), "ok from-env");
    assert_eq!(variable("from_dotenv"), "ok from-dotenv");
    assert_eq!(variable("from_flag"), "ok from-flag");

    let output = stop(child);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{output:?}");
    assert!(
        stdout.contains(&format!("Serving http://{listen}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("[cli] GET / -> 200"),
        "requests are logged: {stdout}"
    );
    assert!(stdout.trim_end().ends_with("Stopped."), "{stdout}");
}

#[test]
fn a_taken_port_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let manifest = app();
    let output = spin_local(&[
        "-f",
        manifest.to_str().unwrap(),
        "--listen",
        &listen,
        "--variable",
        "token=x",
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!("{listen} is already in use")) && stderr.contains("--listen"),
        "{stderr}"
    );
}

#[test]
fn a_missing_required_variable_is_a_clear_error() {
    let manifest = app();
    let output = spin_local(&["-f", manifest.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(r#"no value for required variable(s) ["token"]"#),
        "{stderr}"
    );
}

/// Starts spin-local on `app()` with `args` and the user directories under `home`, waits until
/// it serves and stops it.
fn serve_once(home: &Path, args: &[&str]) {
    let port = dev_services::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    let manifest = app();
    let mut all_args = vec!["-f", manifest.to_str().unwrap(), "--listen", &listen];
    all_args.extend(args);
    let child = spin_local(&all_args)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("SPIN_VARIABLE_TOKEN", "x")
        .spawn()
        .unwrap();
    dev_services::wait_for_port(port, Duration::from_secs(120)).unwrap();
    let output = stop(child);
    assert!(output.status.success(), "{output:?}");
}

fn files_under(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() { files_under(&path) } else { 1 }
        })
        .sum()
}

#[test]
fn compiled_components_are_cached_like_spin_up_unless_disabled() {
    let home = dev_services::private_dir("spin-local-cache").unwrap();
    let default_cache = home.join("cache/wasmtime");

    serve_once(&home, &["--disable-cache"]);
    assert_eq!(
        files_under(&default_cache),
        0,
        "--disable-cache wrote a cache"
    );

    serve_once(&home, &[]);
    let cached = files_under(&default_cache);
    assert!(
        cached > 0,
        "nothing cached under {}",
        default_cache.display()
    );

    // A configuration file (`--cache`, as `spin up --cache`) picks the directory.
    let elsewhere = home.join("elsewhere");
    let config = home.join("wasmtime-cache.toml");
    std::fs::write(
        &config,
        format!("[cache]\ndirectory = {:?}\n", elsewhere.to_str().unwrap()),
    )
    .unwrap();
    serve_once(&home, &["--cache", config.to_str().unwrap()]);
    assert!(
        files_under(&elsewhere) > 0,
        "nothing cached under {}",
        elsewhere.display()
    );
    assert_eq!(files_under(&default_cache), cached);
}

#[test]
fn a_broken_cache_configuration_is_a_clear_error() {
    let home = dev_services::private_dir("spin-local-cache").unwrap();
    let config = home.join("wasmtime-cache.toml");
    std::fs::write(&config, "[cache]\nno-such-setting = 1\n").unwrap();
    let manifest = app();
    let output = spin_local(&[
        "-f",
        manifest.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--variable",
        "token=x",
        "--cache",
        config.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains(&format!(
            "reading the cache configuration {}",
            config.display()
        )),
        "{stderr}"
    );
}

/// Spin's `spin up` when its Redis trigger's subscription drops: the trigger's error
/// (`crates/trigger-redis/src/lib.rs`), "Trigger executor failed" (`crates/trigger/src/cli.rs`),
/// `Error: …` from its main (`src/bin/spin.rs`) and exit status 1, passed on by `spin up`.
#[test]
fn a_dropped_subscription_ends_it_with_status_1_and_spins_error() {
    let redis = RedisServer::start().unwrap();
    let manifest = workspace_root().join("apps/fulfilment-processor/spin.toml");
    wasm_dir();
    let mut child = spin_local(&["-f", manifest.to_str().unwrap()])
        .env("SPIN_VARIABLE_REDIS_PORT", redis.port().to_string())
        .spawn()
        .unwrap();
    wait_for_subscriber(&redis);
    close_the_subscriber(&redis);
    eventually("spin-local to exit", Duration::from_secs(30), || {
        child.try_wait().unwrap()
    });
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.ends_with(&format!(
            "Trigger executor failed\nError: disconnected from 127.0.0.1:{}\n",
            redis.port()
        )),
        "{stderr}"
    );
}

/// `--listen 127.0.0.1:0` takes a free port, and what it prints is that port, not `:0`.
#[test]
fn port_zero_prints_the_port_it_took() {
    use std::io::{BufRead, BufReader};
    let manifest = app();
    let mut child = spin_local(&["-f", manifest.to_str().unwrap(), "--listen", "127.0.0.1:0"])
        .env("SPIN_VARIABLE_TOKEN", "x")
        .spawn()
        .unwrap();
    // Read on a thread to the end: a closed pipe would fail its request log.
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let (serving, lines) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(address) = line.strip_prefix("Serving http://") {
                let _ = serving.send(address.to_string());
            }
        }
    });
    let serving = lines.recv_timeout(Duration::from_secs(120)).unwrap();
    let address: SocketAddr = serving.split_whitespace().next().unwrap().parse().unwrap();
    assert_ne!(address.port(), 0, "{serving}");
    let health = request(address, "GET", "/.well-known/spin/health", &[], b"");
    assert_eq!(health.status, 200, "{health:?}");
    let output = stop(child);
    assert!(output.status.success(), "{output:?}");
    reader.join().unwrap();
}
