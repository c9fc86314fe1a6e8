#![allow(clippy::unwrap_used)]
//! The cluster tasks, run as the real binary with no tools on PATH, stop before doing anything
//! and name every missing tool with its install command, one line each.

use std::process::{Command, Output};

fn run_without_tools(args: &[&str]) -> Output {
    let empty = dev_services::private_dir("no-tools").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(args)
        .env("PATH", &empty)
        .output()
        .unwrap();
    std::fs::remove_dir_all(empty).unwrap();
    output
}

fn missing_tools(output: &Output) -> Vec<String> {
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "something ran: {output:?}");
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(" is missing ("))
        .map(|line| line.split('`').nth(1).unwrap().to_owned())
        .collect()
}

#[test]
fn up_on_k3d_names_docker_k3d_helm_and_kubectl() {
    let output = run_without_tools(&["up", "--cluster", "k3d"]);
    assert_eq!(missing_tools(&output), ["docker", "k3d", "helm", "kubectl"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "`docker` is missing (runs the k3d nodes and registry): \
             install it with `curl -fsSL https://get.docker.com | sh`"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "`k3d` is missing (creates the cluster): install it with \
             `curl -fsSL https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | TAG=v5.9.0 bash`"
        ),
        "{stderr}"
    );
}

#[test]
fn down_needs_only_docker_and_k3d() {
    let output = run_without_tools(&["down"]);
    assert_eq!(missing_tools(&output), ["docker", "k3d"]);
}
