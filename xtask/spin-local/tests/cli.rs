//! The `spin-local` binary: `SPIN_VARIABLE_*` from its environment (and `.env`) under
//! `--variable` flags, clear errors for a taken port or a missing required variable, and a
//! clean stop on SIGTERM.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use common::{probe_app, request};

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
    let mut command = Command::new(env!("CARGO_BIN_EXE_spin-local"));
    command
        .arg("up")
        .args(args)
        .env_remove("SPIN_VARIABLE_FROM_ENV")
        .env_remove("SPIN_VARIABLE_FROM_DOTENV")
        .env_remove("SPIN_VARIABLE_FROM_FLAG")
        .env_remove("SPIN_VARIABLE_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

fn stop(child: Child) -> Output {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.wait_with_output().unwrap()
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
