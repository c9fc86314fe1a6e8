//! `cargo xtask up --cluster k3d` and `cargo xtask down`: the whole system on a local k3d cluster
//! whose nodes run containerd-shim-spin, with a k3d-managed registry the apps are published to.
//!
//! Every command is first built as data (a [`Step`]), so tests check the exact command lines
//! without a cluster, and running a plan is one loop with the step's purpose as error context.
//!
//! This file is the command: its flags, the tools it needs, and its flow. The command as data is
//! in `step`; creating the cluster in `k3d`; publishing and installing the chart in `helm`;
//! waiting for the API behind the ingress in `probe`; what is shown when a deploy fails in
//! `diagnostics`; `--e2e` in `e2e`.

use std::time::Duration;

use anyhow::Result;

use crate::provision::{Tool, require_tools};
use crate::publish;

mod diagnostics;
mod e2e;
mod helm;
mod k3d;
mod probe;
mod step;

use diagnostics::diagnose;
use helm::{deploy_steps, publish_step};
use k3d::{cluster_step, docker_step, k3d_cluster_exists};
use step::Step;

/// Port the k3d-managed registry listens on inside the cluster's Docker network.
const REGISTRY_INTERNAL_PORT: u16 = 5000;

/// Repository namespace the apps are published under in the cluster's registry.
const REGISTRY_NAMESPACE: &str = "order-system";

/// The kinds of local cluster `up --cluster` can create.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClusterKind {
    /// k3s in Docker on the containerd-shim-spin node image, with a k3d-managed registry
    K3d,
}

/// The flags of `cargo xtask up` that deploy to a local cluster.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterArgs {
    /// Deploy to a local cluster instead of running locally: create it (or reuse it), publish
    /// the apps to its registry, install the chart, run `helm test`
    #[arg(long, value_enum)]
    pub cluster: Option<ClusterKind>,
    #[command(flatten)]
    pub name: ClusterName,
    /// Host port of the cluster's ingress (traefik), where the API is served
    #[arg(long, default_value_t = 8080)]
    pub ingress_port: u16,
    /// Host port of the cluster's registry (apps are pushed to `localhost:<port>`)
    #[arg(long, default_value_t = 5001)]
    pub registry_port: u16,
    /// Kubernetes namespace to install into
    #[arg(long, default_value = "order-system")]
    pub namespace: String,
    /// Helm release name
    #[arg(long, default_value = "order-system")]
    pub release: String,
    /// Then run the black-box e2e suite (`cargo test -p order-e2e`) against the ingress, with
    /// the cluster's Redis port-forwarded to loopback
    #[arg(long)]
    pub e2e: bool,
}

#[derive(clap::Args, Clone, Debug)]
pub struct ClusterName {
    /// Name of the local cluster; its registry is `<name>-registry`
    #[arg(
        long = "cluster-name",
        value_name = "NAME",
        default_value = "order-system"
    )]
    pub value: String,
}

/// Delete the local cluster `up --cluster` created, with its registry.
#[derive(clap::Args)]
pub struct Down {
    /// Kind of local cluster to delete
    #[arg(long, value_enum, default_value = "k3d")]
    cluster: ClusterKind,
    #[command(flatten)]
    name: ClusterName,
}

impl Down {
    pub fn run(self) -> Result<()> {
        require_tools(
            cluster_tools(self.cluster),
            std::env::var_os("PATH").as_deref(),
        )?;
        docker_step().run()?;
        let name = &self.name.value;
        if !k3d_cluster_exists(name)? {
            println!("no k3d cluster named {name}: nothing to delete");
            return Ok(());
        }
        Step::new(
            format!("deleting k3d cluster {name} and its registry"),
            ["k3d", "cluster", "delete", name],
        )
        .run()
    }
}

/// Creates or reuses the cluster, publishes both apps to its registry, installs (or upgrades)
/// the chart with the published digests, runs `helm test`, and prints where the API is.
pub fn up(kind: ClusterKind, args: &ClusterArgs) -> Result<()> {
    require_tools(up_tools(kind), std::env::var_os("PATH").as_deref())?;
    docker_step().run()?;
    let exists = k3d_cluster_exists(&args.name.value)?;
    cluster_step(args, exists).run()?;
    publish_step(args).run()?;
    let published = publish::summary()?;
    let deployed = deploy_steps(args, &published)?
        .iter()
        .try_for_each(Step::run)
        .and_then(|()| probe::wait_for_api(args.ingress_port, Duration::from_secs(120)));
    if let Err(error) = deployed {
        diagnose(args);
        return Err(error);
    }
    let url = args.url();
    println!(
        "order-system is up on k3d cluster {}: {url}",
        args.name.value
    );
    println!(
        "try: curl -si -X POST {url}/order -H 'Content-Type: application/json' -d '{{\"details\":\"two pizzas\"}}'"
    );
    println!(
        "remove it with: cargo xtask down --cluster-name {}",
        args.name.value
    );
    if args.e2e {
        e2e::e2e(args).inspect_err(|_| diagnose(args))?;
    }
    Ok(())
}

/// What creating or deleting a k3d cluster takes.
const K3D_TOOLS: &[Tool] = &[
    Tool {
        program: "docker",
        why: "runs the k3d nodes and registry",
        install: "curl -fsSL https://get.docker.com | sh",
    },
    Tool {
        program: "k3d",
        why: "creates the cluster",
        install: "curl -fsSL https://raw.githubusercontent.com/k3d-io/k3d/main/install.sh | TAG=v5.9.0 bash",
    },
];

/// What deploying to any cluster takes.
const DEPLOY_TOOLS: &[Tool] = &[
    Tool {
        program: "helm",
        why: "installs and tests the chart",
        install: "curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-4 | bash",
    },
    Tool {
        program: "kubectl",
        why: "reaches Redis for --e2e and shows pods, events and logs when a deploy fails",
        install: "curl -fsSLO \"https://dl.k8s.io/release/$(curl -fsSL https://dl.k8s.io/release/stable.txt)/bin/linux/amd64/kubectl\" && sudo install kubectl /usr/local/bin/",
    },
];

fn cluster_tools(kind: ClusterKind) -> &'static [Tool] {
    match kind {
        ClusterKind::K3d => K3D_TOOLS,
    }
}

/// Everything `up --cluster <kind>` runs.
fn up_tools(kind: ClusterKind) -> impl Iterator<Item = &'static Tool> {
    cluster_tools(kind).iter().chain(DEPLOY_TOOLS)
}

/// The install command `up` prints for a missing program.
#[cfg(test)]
pub fn install_hint(program: &str) -> Option<&'static str> {
    up_tools(ClusterKind::K3d)
        .find(|tool| tool.program == program)
        .map(|tool| tool.install)
}

impl ClusterArgs {
    fn registry_name(&self) -> String {
        format!("{}-registry", self.name.value)
    }

    fn kube_context(&self) -> String {
        format!("k3d-{}", self.name.value)
    }

    /// Where the ingress serves the API on the host.
    fn url(&self) -> String {
        format!("http://localhost:{}", self.ingress_port)
    }

    /// `kubectl <extra>`, aimed at this cluster and namespace.
    fn kubectl(&self, what: String, extra: &[&str]) -> Step {
        let target = [
            "kubectl".to_owned(),
            format!("--context={}", self.kube_context()),
            format!("--namespace={}", self.namespace),
        ];
        Step::new(
            what,
            target
                .into_iter()
                .chain(extra.iter().map(|arg| (*arg).to_owned())),
        )
    }

    /// Selects the release's Redis objects (the chart's component labels).
    fn redis_selector(&self) -> String {
        format!(
            "--selector=app.kubernetes.io/instance={},app.kubernetes.io/component=redis",
            self.release
        )
    }

    /// The registry as the host pushes to it.
    fn host_registry(&self) -> String {
        format!("localhost:{}", self.registry_port)
    }

    /// The registry as the cluster's nodes pull from it (k3d writes the mirror for this name).
    fn node_registry(&self) -> String {
        format!("{}:{REGISTRY_INTERNAL_PORT}", self.registry_name())
    }
}

/// The xtask command lines a plan runs (`cargo xtask …` without `cargo xtask`), so the tests
/// can check that they parse.
#[cfg(test)]
pub fn sample_xtask_invocations() -> Vec<Vec<String>> {
    let args = sample_args();
    vec![publish_step(&args).argv[2..].to_vec()]
}

#[cfg(test)]
fn sample_args() -> ClusterArgs {
    use clap::Parser;
    #[derive(Parser)]
    struct Up {
        #[command(flatten)]
        cluster: ClusterArgs,
    }
    Up::try_parse_from(["up", "--cluster", "k3d"])
        .map(|up| up.cluster)
        .unwrap_or_else(|error| panic!("{error}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provision;
    use diagnostics::diagnostic_steps;
    use step::argv;

    #[test]
    fn missing_tools_fail_fast_naming_each_with_its_install_command() {
        let empty = dev_services::private_dir("empty-path").unwrap();
        let error = require_tools(up_tools(ClusterKind::K3d), Some(empty.as_os_str()))
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = error.lines().collect();
        assert_eq!(lines.len(), 4, "{error}");
        assert!(lines[0].starts_with("`docker` is missing"), "{error}");
        assert!(lines[0].ends_with("install it with `curl -fsSL https://get.docker.com | sh`"));
        assert!(lines[1].starts_with("`k3d` is missing"), "{error}");
        assert!(lines[1].contains("install.sh | TAG=v5.9.0 bash"), "{error}");
        assert!(lines[2].starts_with("`helm` is missing"), "{error}");
        assert!(lines[3].starts_with("`kubectl` is missing"), "{error}");
        std::fs::remove_dir_all(empty).unwrap();
    }

    #[test]
    fn only_the_absent_tools_are_named() {
        // The check only looks names up on PATH and runs nothing, so links to `sh` can stand
        // for the two tools that are present.
        let dir = dev_services::private_dir("partial-path").unwrap();
        let sh = provision::which("sh").unwrap();
        std::os::unix::fs::symlink(&sh, dir.join("docker")).unwrap();
        std::os::unix::fs::symlink(&sh, dir.join("helm")).unwrap();
        let error = require_tools(up_tools(ClusterKind::K3d), Some(dir.as_os_str()))
            .unwrap_err()
            .to_string();
        let named: Vec<&str> = error
            .lines()
            .map(|line| line.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(named, ["k3d", "kubectl"], "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn custom_names_and_ports_reach_every_command() {
        use clap::Parser;
        #[derive(Parser)]
        struct Up {
            #[command(flatten)]
            cluster: ClusterArgs,
        }
        let args = Up::try_parse_from([
            "up",
            "--cluster",
            "k3d",
            "--cluster-name",
            "demo",
            "--ingress-port",
            "9090",
            "--registry-port",
            "5555",
            "--namespace",
            "shop",
            "--release",
            "orders",
        ])
        .unwrap()
        .cluster;
        assert_eq!(args.cluster, Some(ClusterKind::K3d));
        let create = argv(&cluster_step(&args, false));
        assert!(create.contains("k3d cluster create demo "), "{create}");
        assert!(
            create.contains("--registry-create demo-registry:127.0.0.1:5555"),
            "{create}"
        );
        assert!(create.contains("--port 9090:80@loadbalancer"), "{create}");
        assert!(
            argv(&publish_step(&args))
                .ends_with("--registry localhost:5555/order-system --insecure")
        );
        let logs = argv(&diagnostic_steps(&args)[2]);
        assert_eq!(
            logs,
            "kubectl --context=k3d-demo --namespace=shop logs \
             --selector=app.kubernetes.io/instance=orders --all-containers --prefix --tail=200"
        );
    }
}
