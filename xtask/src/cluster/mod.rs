//! `cargo xtask up --cluster k3d` and `cargo xtask down`: the whole system on a local k3d cluster
//! whose nodes run containerd-shim-spin, with a k3d-managed registry the apps are published to.
//!
//! Every command is first built as data (a [`Step`]), so tests check the exact command lines
//! without a cluster, and running a plan is one loop with the step's purpose as error context.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::{project, provision};

/// k3s with containerd-shim-spin installed and registered as the `spin` runtime handler.
const K3D_NODE_IMAGE: &str = "ghcr.io/spinframework/containerd-shim-spin/k3d:v0.24.0";

/// Port the k3d-managed registry listens on inside the cluster's Docker network.
const REGISTRY_INTERNAL_PORT: u16 = 5000;

/// Repository namespace the apps are published under in the cluster's registry.
const REGISTRY_NAMESPACE: &str = "order-system";

const CHART: &str = "charts/order-system";

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
    let published = Published::read(&project::root().join("target").join("publish.json"))?;
    let deployed = deploy_steps(args, &published)?
        .iter()
        .try_for_each(Step::run)
        .and_then(|()| wait_for_api(args.ingress_port, Duration::from_secs(120)));
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
        e2e(args).inspect_err(|_| diagnose(args))?;
    }
    Ok(())
}

/// Waits until the ingress on `127.0.0.1:port` routes `/order/…` to order-processor: until the
/// route exists traefik answers a plain-text 404, the app a problem document.
fn wait_for_api(port: u16, timeout: Duration) -> Result<()> {
    eprintln!("==> waiting for the API behind the ingress on port {port}");
    let deadline = Instant::now() + timeout;
    loop {
        let last = match api_answers(port) {
            Ok(true) => return Ok(()),
            Ok(false) => "the ingress does not route /order yet".to_owned(),
            Err(error) => error.to_string(),
        };
        if Instant::now() >= deadline {
            bail!(
                "the API did not answer on http://localhost:{port}/order within {timeout:?}: {last}"
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Whether `GET /order/<nil uuid>` gets the app's `application/problem+json` answer.
fn api_answers(port: u16) -> std::io::Result<bool> {
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(
        b"GET /order/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\n\
          Host: localhost\r\nConnection: close\r\n\r\n",
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let response = String::from_utf8_lossy(&response);
    Ok(response
        .lines()
        .take_while(|line| !line.is_empty())
        .any(|header| {
            header
                .to_ascii_lowercase()
                .starts_with("content-type: application/problem+json")
        }))
}

/// Runs the e2e suite against the ingress, with the release's Redis pod port-forwarded to a
/// free loopback port for the duration.
fn e2e(args: &ClusterArgs) -> Result<()> {
    let password = redis_password_step(args).read()?;
    let pod = redis_pod_step(args).read()?;
    if pod.is_empty() {
        bail!("release {} has no Redis pod to reach", args.release);
    }
    let port = dev_services::free_port()?;
    let forward = port_forward_step(args, &pod, port);
    eprintln!("==> {}", forward.what);
    let forwarding = forward
        .expression()
        .stdout_null()
        .start()
        .with_context(|| forward.what.clone())?;
    let outcome = dev_services::wait_for_port(port, Duration::from_secs(30))
        .context("waiting for `kubectl port-forward` to the Redis pod")
        .and_then(|()| e2e_step(args, &password, port).run());
    forwarding
        .kill()
        .context("stopping `kubectl port-forward`")?;
    outcome
}

/// A program a cluster task needs, why, and the one command that installs it.
struct Tool {
    program: &'static str,
    why: &'static str,
    install: &'static str,
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

/// Fails, before anything runs, with one line per tool missing from `path` (a PATH value).
fn require_tools<'a>(
    tools: impl IntoIterator<Item = &'a Tool>,
    path: Option<&OsStr>,
) -> Result<()> {
    let missing: Vec<String> = tools
        .into_iter()
        .filter(|tool| provision::which_in(tool.program, path).is_none())
        .map(|tool| {
            format!(
                "`{}` is missing ({}): install it with `{}`",
                tool.program, tool.why, tool.install
            )
        })
        .collect();
    if !missing.is_empty() {
        bail!("{}", missing.join("\n"));
    }
    Ok(())
}

/// One command of a plan: what it is for (progress and error context) and its argv.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Step {
    what: String,
    argv: Vec<String>,
    /// Extra environment; never printed (it may hold a password).
    env: Vec<(String, String)>,
}

impl Step {
    fn new(what: impl Into<String>, argv: impl IntoIterator<Item = impl Into<String>>) -> Step {
        Step {
            what: what.into(),
            argv: argv.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    fn env(mut self, name: &str, value: impl Into<String>) -> Step {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    fn expression(&self) -> duct::Expression {
        let mut expression = duct::cmd(&self.argv[0], &self.argv[1..]).dir(project::root());
        for (name, value) in &self.env {
            expression = expression.env(name, value);
        }
        expression
    }

    fn run(&self) -> Result<()> {
        eprintln!("==> {}", self.what);
        self.expression()
            .run()
            .with_context(|| format!("{} (`{}`)", self.what, self.argv.join(" ")))?;
        Ok(())
    }

    fn read(&self) -> Result<String> {
        self.expression()
            .read()
            .with_context(|| format!("{} (`{}`)", self.what, self.argv.join(" ")))
    }
}

fn k3d_cluster_exists(name: &str) -> Result<bool> {
    #[derive(Deserialize)]
    struct Cluster {
        name: String,
    }
    let listing = Step::new(
        "listing k3d clusters",
        ["k3d", "cluster", "list", "--output", "json"],
    )
    .read()?;
    let clusters: Vec<Cluster> =
        serde_json::from_str(&listing).context("reading `k3d cluster list --output json`")?;
    Ok(clusters.iter().any(|cluster| cluster.name == name))
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

    /// `kubectl` flags that aim at this cluster and namespace.
    fn kubectl(&self) -> [String; 3] {
        [
            "kubectl".to_owned(),
            format!("--context={}", self.kube_context()),
            format!("--namespace={}", self.namespace),
        ]
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

/// Fails with a hint when the Docker daemon does not answer (k3d needs it for everything).
fn docker_step() -> Step {
    Step::new(
        "checking that the Docker daemon answers (start it, e.g. `sudo systemctl start docker`)",
        ["docker", "info", "--format", "{{.ServerVersion}}"],
    )
}

/// Creates the cluster, or starts it when it already exists.
fn cluster_step(args: &ClusterArgs, exists: bool) -> Step {
    let name = &args.name.value;
    if exists {
        Step::new(
            format!("starting the existing k3d cluster {name}"),
            ["k3d", "cluster", "start", name.as_str(), "--wait"],
        )
    } else {
        let registry = format!("{}:127.0.0.1:{}", args.registry_name(), args.registry_port);
        let ingress = format!("{}:80@loadbalancer", args.ingress_port);
        #[rustfmt::skip]
        let create = [
            "k3d", "cluster", "create", name,
            "--image", K3D_NODE_IMAGE,
            "--registry-create", &registry,
            "--port", &ingress,
            "--agents", "0",
            "--wait", "--timeout", "300s",
        ];
        Step::new(
            format!("creating k3d cluster {name} on {K3D_NODE_IMAGE}"),
            create,
        )
    }
}

/// Publishes both apps to the cluster's registry through `cargo xtask publish`, which records
/// their digests in `target/publish.json`.
fn publish_step(args: &ClusterArgs) -> Step {
    Step::new(
        format!("publishing the apps to {}", args.host_registry()),
        [
            project::cargo(),
            "xtask".to_owned(),
            "publish".to_owned(),
            "--registry".to_owned(),
            format!("{}/{REGISTRY_NAMESPACE}", args.host_registry()),
            "--insecure".to_owned(),
        ],
    )
}

/// What `cargo xtask publish` wrote to `target/publish.json` (the part read here).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Published {
    dry_run: bool,
    /// By app name.
    apps: BTreeMap<String, PublishedApp>,
}

#[derive(Debug, Deserialize)]
struct PublishedApp {
    repository: String,
    digest: String,
}

impl Published {
    fn read(path: &Path) -> Result<Published> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {} (written by `cargo xtask publish`)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    /// The digest of `app` as pushed to `repository`; anything else means a stale summary.
    fn digest(&self, app: &str, repository: &str) -> Result<&str> {
        if self.dry_run {
            bail!("target/publish.json is from a dry run: nothing was pushed");
        }
        let published = self
            .apps
            .get(app)
            .with_context(|| format!("`cargo xtask publish` recorded no digest for {app}"))?;
        if published.repository != repository {
            bail!(
                "{app} was published to {}, not {repository}: target/publish.json is from another publish",
                published.repository
            );
        }
        if !published.digest.starts_with("sha256:") {
            bail!(
                "{app} has no sha256 digest in target/publish.json: {}",
                published.digest
            );
        }
        Ok(&published.digest)
    }
}

/// The chart's image values: every app pulled by digest from the cluster's registry, as
/// `<image.registry>/<image.namespace>/<app>.image.repository@<digest>`.
fn image_values(args: &ClusterArgs, published: &Published) -> Result<Vec<String>> {
    let mut values = vec![
        format!("image.registry={}", args.node_registry()),
        format!("image.namespace={REGISTRY_NAMESPACE}"),
    ];
    for app in project::apps()? {
        let key = chart_key(&app.name);
        let pushed_to = format!("{}/{REGISTRY_NAMESPACE}/{}", args.host_registry(), app.name);
        let digest = published.digest(&app.name, &pushed_to)?;
        values.push(format!("{key}.image.repository={}", app.name));
        values.push(format!("{key}.image.digest={digest}"));
    }
    Ok(values)
}

/// The chart's values key for an app: `order-processor` → `orderProcessor`.
fn chart_key(app: &str) -> String {
    let mut words = app.split('-');
    let mut key: String = words.next().unwrap_or_default().to_owned();
    for word in words {
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            key.extend(first.to_uppercase());
            key.push_str(chars.as_str());
        }
    }
    key
}

/// Installs or upgrades the release with the published digests, then runs its `helm test`.
fn deploy_steps(args: &ClusterArgs, published: &Published) -> Result<Vec<Step>> {
    let context = args.kube_context();
    #[rustfmt::skip]
    let mut install: Vec<String> = [
        "helm", "upgrade", "--install", &args.release, CHART,
        "--kube-context", &context,
        "--namespace", &args.namespace, "--create-namespace",
        "--wait", "--timeout", "5m",
        "--set", "ingress.enabled=true",
        "--set", "ingress.className=traefik",
    ]
    .map(str::to_owned)
    .to_vec();
    for value in image_values(args, published)? {
        install.extend(["--set".to_owned(), value]);
    }
    #[rustfmt::skip]
    let test = [
        "helm", "test", &args.release,
        "--kube-context", &context,
        "--namespace", &args.namespace,
        "--logs", "--timeout", "5m",
    ];
    Ok(vec![
        Step::new(
            format!(
                "installing the chart as release {} in namespace {}",
                args.release, args.namespace
            ),
            install,
        ),
        Step::new(
            format!("running `helm test` for release {}", args.release),
            test,
        ),
    ])
}

/// What to look at when a deploy fails: pods, recent events, and every container's logs.
fn diagnostic_steps(args: &ClusterArgs) -> Vec<Step> {
    let instance = format!("--selector=app.kubernetes.io/instance={}", args.release);
    vec![
        kubectl_step(args, "pods".into(), &["get", "pods", "--output=wide"]),
        kubectl_step(
            args,
            "events".into(),
            &["get", "events", "--sort-by=.lastTimestamp"],
        ),
        kubectl_step(
            args,
            "logs".into(),
            &[
                "logs",
                &instance,
                "--all-containers",
                "--prefix",
                "--tail=200",
            ],
        ),
    ]
}

fn kubectl_step(args: &ClusterArgs, what: String, extra: &[&str]) -> Step {
    Step::new(
        what,
        args.kubectl()
            .into_iter()
            .chain(extra.iter().map(|arg| (*arg).to_owned())),
    )
}

/// Prints `output` (a kubectl output template) of the release's Redis `kind` of object.
fn redis_get_step(args: &ClusterArgs, what: &str, kind: &str, output: &str) -> Step {
    kubectl_step(
        args,
        format!("{what} of release {}", args.release),
        &["get", kind, &args.redis_selector(), output],
    )
}

/// Prints the password in the release's Redis Secret (the one the chart generates).
fn redis_password_step(args: &ClusterArgs) -> Step {
    redis_get_step(
        args,
        "reading the Redis password",
        "secret",
        r#"--output=go-template={{range .items}}{{index .data "redis-password" | base64decode}}{{end}}"#,
    )
}

/// Prints the name of the release's Redis pod.
fn redis_pod_step(args: &ClusterArgs) -> Step {
    redis_get_step(
        args,
        "finding the Redis pod",
        "pod",
        "--output=jsonpath={.items[0].metadata.name}",
    )
}

fn port_forward_step(args: &ClusterArgs, pod: &str, port: u16) -> Step {
    kubectl_step(
        args,
        format!("forwarding 127.0.0.1:{port} to Redis in pod {pod}"),
        &[
            "port-forward",
            &format!("pod/{pod}"),
            &format!("{port}:6379"),
        ],
    )
}

/// The e2e suite, pointed at the ingress and the forwarded Redis.
fn e2e_step(args: &ClusterArgs, redis_password: &str, redis_port: u16) -> Step {
    Step::new(
        format!("running the e2e suite against {}", args.url()),
        [
            project::cargo().as_str(),
            "test",
            "--package",
            "order-e2e",
            "--locked",
        ],
    )
    .env("ORDER_SYSTEM_URL", args.url())
    .env(
        "ORDER_SYSTEM_REDIS_URL",
        format!("redis://:{redis_password}@127.0.0.1:{redis_port}"),
    )
}

/// Prints the diagnostics; their own failures are reported, never mask the deploy's error.
fn diagnose(args: &ClusterArgs) {
    for step in diagnostic_steps(args) {
        if let Err(error) = step.run() {
            eprintln!("(could not show {}: {error:#})", step.what);
        }
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

    fn argv(step: &Step) -> String {
        step.argv.join(" ")
    }

    /// A `target/publish.json` as `cargo xtask publish` writes it (its other fields omitted).
    fn summary(dry_run: bool, apps: &[(&str, &str, &str)]) -> Published {
        let apps: serde_json::Map<String, serde_json::Value> = apps
            .iter()
            .map(|(name, registry, digest)| {
                let repository = format!("{registry}/{name}");
                let app = serde_json::json!({
                    "repository": repository,
                    "tag": "0.1.0",
                    "digest": digest,
                    "reference": format!("{repository}@{digest}"),
                });
                (name.to_string(), app)
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "registry": "localhost:5001/order-system",
            "tag": "0.1.0",
            "format": "spin",
            "dryRun": dry_run,
            "apps": apps,
        }))
        .unwrap()
    }

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
    fn a_new_cluster_runs_the_shim_image_with_a_registry_and_the_ingress_port() {
        assert_eq!(
            argv(&cluster_step(&sample_args(), false)),
            format!(
                "k3d cluster create order-system --image {K3D_NODE_IMAGE} \
                 --registry-create order-system-registry:127.0.0.1:5001 \
                 --port 8080:80@loadbalancer --agents 0 --wait --timeout 300s"
            )
        );
    }

    #[test]
    fn an_existing_cluster_is_started_not_created() {
        assert_eq!(
            argv(&cluster_step(&sample_args(), true)),
            "k3d cluster start order-system --wait"
        );
    }

    #[test]
    fn apps_are_pushed_to_localhost_and_pulled_through_the_registry_name() {
        let args = sample_args();
        assert_eq!(
            publish_step(&args).argv[1..].join(" "),
            "xtask publish --registry localhost:5001/order-system --insecure"
        );
        let published = summary(
            false,
            &[
                (
                    "fulfilment-processor",
                    "localhost:5001/order-system",
                    "sha256:aaa",
                ),
                (
                    "order-processor",
                    "localhost:5001/order-system",
                    "sha256:bbb",
                ),
            ],
        );
        let steps = deploy_steps(&args, &published).unwrap();
        assert_eq!(
            argv(&steps[0]),
            "helm upgrade --install order-system charts/order-system \
             --kube-context k3d-order-system --namespace order-system --create-namespace \
             --wait --timeout 5m --set ingress.enabled=true --set ingress.className=traefik \
             --set image.registry=order-system-registry:5000 --set image.namespace=order-system \
             --set fulfilmentProcessor.image.repository=fulfilment-processor \
             --set fulfilmentProcessor.image.digest=sha256:aaa \
             --set orderProcessor.image.repository=order-processor \
             --set orderProcessor.image.digest=sha256:bbb"
        );
        assert_eq!(
            argv(&steps[1]),
            "helm test order-system --kube-context k3d-order-system --namespace order-system \
             --logs --timeout 5m"
        );
    }

    #[test]
    fn a_summary_from_another_registry_or_without_an_app_is_refused() {
        let args = sample_args();
        let elsewhere = summary(
            false,
            &[
                ("fulfilment-processor", "ghcr.io/someone", "sha256:aaa"),
                ("order-processor", "ghcr.io/someone", "sha256:bbb"),
            ],
        );
        let error = deploy_steps(&args, &elsewhere).unwrap_err().to_string();
        assert!(
            error.contains(
                "published to ghcr.io/someone/fulfilment-processor, \
                 not localhost:5001/order-system/fulfilment-processor"
            ),
            "{error}"
        );
        let partial = summary(
            false,
            &[(
                "fulfilment-processor",
                "localhost:5001/order-system",
                "sha256:aaa",
            )],
        );
        let error = deploy_steps(&args, &partial).unwrap_err().to_string();
        assert_eq!(
            error,
            "`cargo xtask publish` recorded no digest for order-processor"
        );
        let dry = summary(
            true,
            &[(
                "fulfilment-processor",
                "localhost:5001/order-system",
                "sha256:aaa",
            )],
        );
        let error = deploy_steps(&args, &dry).unwrap_err().to_string();
        assert_eq!(
            error,
            "target/publish.json is from a dry run: nothing was pushed"
        );
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

    #[test]
    fn the_e2e_suite_gets_the_ingress_and_a_port_forwarded_redis() {
        let args = sample_args();
        let target = "kubectl --context=k3d-order-system --namespace=order-system";
        let redis =
            "--selector=app.kubernetes.io/instance=order-system,app.kubernetes.io/component=redis";
        assert_eq!(
            argv(&redis_password_step(&args)),
            format!(
                "{target} get secret {redis} --output=go-template=\
                 {{{{range .items}}}}{{{{index .data \"redis-password\" | base64decode}}}}{{{{end}}}}"
            )
        );
        assert_eq!(
            argv(&redis_pod_step(&args)),
            format!("{target} get pod {redis} --output=jsonpath={{.items[0].metadata.name}}")
        );
        assert_eq!(
            argv(&port_forward_step(&args, "order-system-redis-0", 40000)),
            format!("{target} port-forward pod/order-system-redis-0 40000:6379")
        );
        let e2e = e2e_step(&args, "s3cret", 40000);
        assert!(
            argv(&e2e).ends_with(" test --package order-e2e --locked"),
            "{e2e:?}"
        );
        assert_eq!(
            e2e.env,
            [
                (
                    "ORDER_SYSTEM_URL".to_owned(),
                    "http://localhost:8080".to_owned()
                ),
                (
                    "ORDER_SYSTEM_REDIS_URL".to_owned(),
                    "redis://:s3cret@127.0.0.1:40000".to_owned()
                ),
            ]
        );
    }

    /// Serves each canned response to one connection, in order, then stops.
    fn answer_in_turn(responses: &'static [&'static str]) -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for response in responses {
                let (mut stream, _) = listener.accept().unwrap();
                let mut request = [0u8; 1024];
                let read = stream.read(&mut request).unwrap();
                assert!(
                    request[..read].starts_with(
                        b"GET /order/00000000-0000-0000-0000-000000000000 HTTP/1.1\r\n"
                    )
                );
                stream.write_all(response.as_bytes()).unwrap();
            }
        });
        port
    }

    #[test]
    fn the_api_counts_as_up_once_the_app_answers_through_the_ingress() {
        let port = answer_in_turn(&[
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n404 page not found\n",
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/problem+json\r\n\r\n{\"status\":404}",
        ]);
        wait_for_api(port, Duration::from_secs(10)).unwrap();
    }

    #[test]
    fn an_ingress_that_never_routes_the_api_times_out_saying_so() {
        let port = answer_in_turn(&[
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n\r\n404 page not found\n",
        ]);
        let error = wait_for_api(port, Duration::from_millis(200))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!(
                "the API did not answer on http://localhost:{port}/order within"
            )),
            "{error}"
        );
    }

    #[test]
    fn chart_keys_are_camel_case_app_names() {
        assert_eq!(chart_key("order-processor"), "orderProcessor");
        assert_eq!(chart_key("fulfilment-processor"), "fulfilmentProcessor");
        assert_eq!(chart_key("redis"), "redis");
    }
}
