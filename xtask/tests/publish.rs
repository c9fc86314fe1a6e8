#![allow(clippy::unwrap_used)]
//! `cargo xtask publish` against a real OCI registry (Debian's docker-registry on a loopback
//! port), read back with skopeo: what a cluster pulling the apps would see.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use dev_services::{RegistryOptions, RegistryServer, free_port, private_dir, require_tool};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Runs share target/publish.json and cargo's build locks: one at a time.
static XTASK: Mutex<()> = Mutex::new(());

/// Fixed, so that the `created` annotation is known and digests can repeat.
const SOURCE_DATE_EPOCH: &str = "1700000000";
const CREATED: &str = "2023-11-14T22:13:20Z";

const SPIN_CONFIG: &str = "application/vnd.fermyon.spin.application.v1+config";
const WASM_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";

/// Each app's components and the wasm cargo builds for each.
const APPS: &[(&str, &[(&str, &str)])] = &[
    ("fulfilment-processor", &[("fulfiller", "fulfiller")]),
    (
        "order-processor",
        &[
            ("receiver", "receiver"),
            ("status-provider", "status_provider"),
        ],
    ),
];

/// The components with `dependencies` in their spin.toml: pushed composed.
const COMPOSED: &[&str] = &["fulfiller", "receiver"];

/// Checks a pushed composed component against the wasm `crate_name` built: it is another
/// component, its `order-system:fulfilment` import satisfied inside it, and everything it
/// imports is what containerd-shim-spin's Spin 3.6.3 provides.
fn assert_composed(pushed: &[u8], crate_name: &str) {
    let built = std::fs::read(built_wasm(crate_name)).unwrap();
    assert_ne!(
        sha256(pushed),
        sha256(&built),
        "{crate_name} was pushed as built"
    );
    let built_imports = spin_compose::imports(&built).unwrap();
    assert!(
        built_imports
            .iter()
            .any(|i| i.starts_with("order-system:fulfilment/"))
    );
    let imports = spin_compose::imports(pushed).unwrap();
    for import in &imports {
        assert!(
            spin_oci::compose::provided_by_spin_3_6(import),
            "{crate_name} imports {import}"
        );
    }
    assert_eq!(
        spin_compose::exports(pushed).unwrap(),
        spin_compose::exports(&built).unwrap()
    );
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn built_wasm(crate_name: &str) -> PathBuf {
    root()
        .join("target/wasm32-wasip2/release")
        .join(format!("{crate_name}.wasm"))
}

fn sha256(data: &[u8]) -> String {
    let hex: String = Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}

struct Run {
    output: Output,
    /// target/publish.json after a successful run.
    summary: Option<Value>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn assert_success(&self) -> &Value {
        assert!(
            self.output.status.success(),
            "xtask publish failed: {}",
            self.stderr()
        );
        self.summary.as_ref().unwrap()
    }

    /// The failure's last stderr line (cargo may print build notes before it).
    fn assert_failure(&self) -> String {
        assert_eq!(self.output.status.code(), Some(1), "{}", self.stderr());
        self.stderr().lines().last().unwrap_or_default().to_string()
    }
}

/// `cargo xtask publish <args>` with no credentials but those in `env` (an empty docker config
/// unless `DOCKER_CONFIG` is given).
fn publish(args: &[&str], env: &[(&str, &str)]) -> Run {
    let _one_at_a_time = XTASK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let summary_file = root().join("target/publish.json");
    let _ = std::fs::remove_file(&summary_file);
    let empty_docker_config = private_dir("docker-config").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("publish")
        .args(args)
        .env_remove("REGISTRY_USERNAME")
        .env_remove("REGISTRY_PASSWORD")
        .env("DOCKER_CONFIG", &empty_docker_config)
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    std::fs::remove_dir_all(empty_docker_config).unwrap();
    let summary = output
        .status
        .success()
        .then(|| serde_json::from_slice(&std::fs::read(&summary_file).unwrap()).unwrap());
    Run { output, summary }
}

fn skopeo() -> Command {
    let mut command = Command::new(require_tool("skopeo", "skopeo").unwrap());
    command.arg("--insecure-policy");
    command
}

/// The manifest as the registry serves it, and the digest of those bytes.
fn raw_manifest(reference: &str) -> (Value, String) {
    let output = skopeo()
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo inspect {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (
        serde_json::from_slice(&output.stdout).unwrap(),
        sha256(&output.stdout),
    )
}

/// Copies `reference` into a `dir:` layout: one file per blob, named by its hex digest.
fn pull(reference: &str) -> PathBuf {
    let dir = private_dir("pulled").unwrap();
    let output = skopeo()
        .args(["copy", "--src-tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .arg(format!("dir:{}", dir.display()))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy {reference}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dir
}

fn blob(dir: &Path, digest: &str) -> Vec<u8> {
    let data = std::fs::read(dir.join(digest.trim_start_matches("sha256:"))).unwrap();
    assert_eq!(sha256(&data), digest);
    data
}

fn media_types(manifest: &Value) -> Vec<&str> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer["mediaType"].as_str().unwrap())
        .collect()
}

fn git_head() -> String {
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(root())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn assert_annotations(manifest: &Value, app: &str, tag: &str) {
    let annotations = &manifest["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.source"],
        "https://github.com/order-system/order-system"
    );
    assert_eq!(annotations["org.opencontainers.image.revision"], git_head());
    assert_eq!(annotations["org.opencontainers.image.version"], tag);
    assert_eq!(annotations["org.opencontainers.image.created"], CREATED);
    assert_eq!(annotations["org.opencontainers.image.title"], app);
}

/// Blob uploads the registry served (each starts with a POST to …/blobs/uploads/).
fn blob_uploads(log: &str) -> usize {
    log.lines()
        .filter(|line| line.contains("\"POST /v2/") && line.contains("/blobs/uploads/"))
        .count()
}

#[test]
fn publishes_both_apps_as_spin_artifacts_and_repeats_digests_without_pushing_blobs() {
    let registry = RegistryServer::start().unwrap();
    let namespace = format!("{}/order-system", registry.host());
    let args = ["--registry", &namespace, "--tag", "1.2.3", "--insecure"];

    let dry_run = publish(&[&args[..], &["--dry-run"]].concat(), &[]);
    let dry_summary = dry_run.assert_success();
    assert_eq!(dry_summary["dryRun"], true);
    assert!(
        !registry.log().contains("/v2/"),
        "a dry run talked to the registry:\n{}",
        registry.log()
    );

    let first = publish(&args, &[]);
    let summary = first.assert_success();
    for (app, components) in APPS {
        let entry = &summary["apps"][app];
        let repository = format!("{namespace}/{app}");
        let digest = entry["digest"].as_str().unwrap();
        assert_eq!(entry["repository"], repository);
        assert_eq!(entry["tag"], "1.2.3");
        assert_eq!(entry["format"], "spin");
        assert_eq!(
            dry_summary["apps"][app]["digest"], digest,
            "dry run and push differ"
        );
        assert!(first.stdout().contains(&format!("{repository}@{digest}\n")));

        let (manifest, served_digest) = raw_manifest(&format!("{repository}:1.2.3"));
        assert_eq!(served_digest, digest);
        assert_eq!(manifest["schemaVersion"], 2);
        assert_eq!(manifest["config"]["mediaType"], OCI_CONFIG);
        let mut expected_types = vec![WASM_LAYER; components.len()];
        expected_types.push(SPIN_CONFIG);
        assert_eq!(media_types(&manifest), expected_types);
        assert_annotations(&manifest, app, "1.2.3");
        let layers = manifest["layers"].as_array().unwrap();
        for (layer, reported) in layers.iter().zip(entry["layers"].as_array().unwrap()) {
            assert_eq!(layer["digest"], reported["digest"]);
            assert_eq!(layer["size"], reported["size"]);
        }

        let pulled = pull(&format!("{repository}@{digest}"));
        let locked_digest = layers.last().unwrap()["digest"].as_str().unwrap();
        let locked: Value = serde_json::from_slice(&blob(&pulled, locked_digest)).unwrap();
        let config: Value = serde_json::from_slice(&blob(
            &pulled,
            manifest["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(config["architecture"], "wasm");
        assert_eq!(config["os"], "wasip1");
        assert_eq!(
            config["config"]["Labels"]["com.fermyon.spin.lockedAppDigest"],
            locked_digest
        );

        assert_eq!(locked["spin_lock_version"], 0);
        assert_eq!(locked["metadata"]["name"], *app);
        assert!(locked["metadata"].get("origin").is_none());
        assert_eq!(locked["variables"]["redis_password"]["secret"], true);
        assert_eq!(locked["variables"]["key_prefix"]["default"], "order:");
        let locked_components = locked["components"].as_array().unwrap();
        assert_eq!(locked_components.len(), components.len());
        for ((id, crate_name), component) in components.iter().zip(locked_components) {
            assert!(component.get("dependencies").is_none(), "{id}: {component}");
            let wasm = if COMPOSED.contains(id) {
                let digest = component["source"]["digest"].as_str().unwrap();
                let pushed = blob(&pulled, digest);
                assert_composed(&pushed, crate_name);
                pushed
            } else {
                std::fs::read(built_wasm(crate_name)).unwrap()
            };
            let wasm_digest = sha256(&wasm);
            assert_eq!(component["id"], *id);
            assert_eq!(
                component["source"],
                serde_json::json!({"content_type": "application/wasm", "digest": wasm_digest})
            );
            assert!(
                layers.iter().any(|l| l["digest"] == wasm_digest.as_str()
                    && l["mediaType"] == WASM_LAYER
                    && l["size"] == wasm.len()),
                "{app}/{id}: no layer holds {wasm_digest}"
            );
            assert_eq!(blob(&pulled, &wasm_digest), wasm);
            assert_eq!(component["config"]["key_prefix"], "{{ key_prefix }}");
            assert_eq!(
                component["metadata"]["allowed_outbound_hosts"][0],
                "redis://{{ redis_host }}:{{ redis_port }}"
            );
        }
        let triggers: Vec<_> = locked["triggers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["trigger_type"].as_str().unwrap(), &t["trigger_config"]))
            .collect();
        match *app {
            "order-processor" => assert_eq!(
                triggers,
                [
                    (
                        "http",
                        &serde_json::json!({"route": "/order", "component": "receiver"})
                    ),
                    (
                        "http",
                        &serde_json::json!({"route": "/order/...", "component": "status-provider"})
                    )
                ]
            ),
            _ => assert_eq!(
                triggers,
                [(
                    "redis",
                    &serde_json::json!({
                        "address": "{{ redis_scheme }}://{{ redis_user }}:{{ redis_password }}@{{ redis_host }}:{{ redis_port }}",
                        "channel": "{{ order_channel }}",
                        "component": "fulfiller"
                    })
                )]
            ),
        }
        std::fs::remove_dir_all(pulled).unwrap();
    }

    let uploads_before = blob_uploads(&registry.log());
    assert!(uploads_before > 0);
    let started = std::time::Instant::now();
    let second = publish(&args, &[]);
    let again = second.assert_success();
    eprintln!("second publish took {:?}", started.elapsed());
    for (app, _) in APPS {
        assert_eq!(again["apps"][app]["digest"], summary["apps"][app]["digest"]);
        assert_eq!(again["apps"][app]["blobsPushed"], 0);
    }
    assert_eq!(
        blob_uploads(&registry.log()),
        uploads_before,
        "blobs pushed again"
    );
}

#[test]
fn publishes_plain_wasi_images_holding_spin_toml_and_the_wasm() {
    let registry = RegistryServer::start().unwrap();
    let namespace = format!("{}/images", registry.host());
    let run = publish(
        &["--registry", &namespace, "--insecure", "--format", "image"],
        &[],
    );
    let summary = run.assert_success();
    let version = summary["tag"].as_str().unwrap();
    assert_eq!(
        version,
        std::fs::read_to_string(root().join("Cargo.toml"))
            .unwrap()
            .lines()
            .find_map(|line| line.strip_prefix("version = "))
            .unwrap()
            .trim_matches('"'),
        "the tag defaults to the workspace version"
    );
    for (app, components) in APPS {
        let reference = format!("{namespace}/{app}:{version}");
        let (manifest, digest) = raw_manifest(&reference);
        assert_eq!(summary["apps"][app]["digest"], digest);
        assert_eq!(summary["apps"][app]["format"], "image");
        assert_eq!(
            manifest["mediaType"],
            "application/vnd.oci.image.manifest.v1+json"
        );
        assert_eq!(
            media_types(&manifest),
            ["application/vnd.oci.image.layer.v1.tar+gzip"]
        );
        assert_annotations(&manifest, app, version);

        let pulled = pull(&reference);
        let config: Value = serde_json::from_slice(&blob(
            &pulled,
            manifest["config"]["digest"].as_str().unwrap(),
        ))
        .unwrap();
        assert_eq!(
            (&config["os"], &config["architecture"]),
            (&"wasi".into(), &"wasm".into())
        );
        let layer = pulled.join(
            manifest["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .trim_start_matches("sha256:"),
        );
        let unpacked = private_dir("unpacked").unwrap();
        let status = Command::new("tar")
            .arg("-xzf")
            .arg(&layer)
            .arg("-C")
            .arg(&unpacked)
            .status()
            .unwrap();
        assert!(status.success());
        // The manifest as written, less the dependencies composed into the wasm it ships.
        let shipped: toml::Table =
            toml::from_str(&std::fs::read_to_string(unpacked.join("spin.toml")).unwrap()).unwrap();
        let mut written: toml::Table = toml::from_str(
            &std::fs::read_to_string(root().join("apps").join(app).join("spin.toml")).unwrap(),
        )
        .unwrap();
        for (_, component) in written["component"].as_table_mut().unwrap().iter_mut() {
            let component = component.as_table_mut().unwrap();
            component.remove("dependencies");
            component.remove("dependencies_inherit_configuration");
        }
        assert_eq!(shipped, written);
        // The manifest names `../../target/…`; from `/` that is `/target/…`.
        for (id, crate_name) in *components {
            let inside = std::fs::read(
                unpacked
                    .join("target/wasm32-wasip2/release")
                    .join(format!("{crate_name}.wasm")),
            )
            .unwrap();
            if COMPOSED.contains(id) {
                assert_composed(&inside, crate_name);
            } else {
                assert_eq!(
                    sha256(&inside),
                    sha256(&std::fs::read(built_wasm(crate_name)).unwrap())
                );
            }
        }
        std::fs::remove_dir_all(unpacked).unwrap();
        std::fs::remove_dir_all(pulled).unwrap();
    }
}

#[test]
fn credentials_come_from_the_environment_or_the_docker_config_and_refusals_tag_nothing() {
    let registry = RegistryServer::start_with(RegistryOptions {
        credentials: Some(("publisher".into(), "s3cret".into())),
    })
    .unwrap();
    let namespace = format!("{}/private", registry.host());
    let args = [
        "--registry",
        &namespace,
        "--insecure",
        "--app",
        "fulfilment-processor",
        "--tag",
        "auth",
    ];

    let anonymous = publish(&args, &[]);
    assert_eq!(
        anonymous.assert_failure(),
        format!(
            "error: publishing fulfilment-processor: registry {host} refused anonymous access (HTTP 401): set REGISTRY_USERNAME and \
             REGISTRY_PASSWORD, or `docker login {host}`, for an account that may push there",
            host = registry.host()
        )
    );
    let wrong = publish(
        &args,
        &[
            ("REGISTRY_USERNAME", "publisher"),
            ("REGISTRY_PASSWORD", "guess"),
        ],
    );
    assert!(
        wrong
            .assert_failure()
            .contains("refused user `publisher` from REGISTRY_USERNAME (HTTP 401)")
    );
    assert_eq!(blob_uploads(&registry.log()), 0);
    let tags = skopeo()
        .args([
            "list-tags",
            "--tls-verify=false",
            "--creds",
            "publisher:s3cret",
        ])
        .arg(format!("docker://{namespace}/fulfilment-processor"))
        .output()
        .unwrap();
    assert!(!tags.status.success(), "a refused push left a repository");

    let from_env = publish(
        &args,
        &[
            ("REGISTRY_USERNAME", "publisher"),
            ("REGISTRY_PASSWORD", "s3cret"),
        ],
    );
    let digest = from_env.assert_success()["apps"]["fulfilment-processor"]["digest"].clone();
    assert!(from_env.summary.as_ref().unwrap()["apps"]["order-processor"].is_null());

    let docker_config = private_dir("docker-login").unwrap();
    std::fs::write(
        docker_config.join("config.json"),
        // base64("publisher:s3cret"), as `docker login` stores it.
        format!(
            r#"{{"auths": {{"{}": {{"auth": "cHVibGlzaGVyOnMzY3JldA=="}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let from_docker_config = publish(&args, &[("DOCKER_CONFIG", docker_config.to_str().unwrap())]);
    let summary = from_docker_config.assert_success();
    assert_eq!(summary["apps"]["fulfilment-processor"]["digest"], digest);
    assert_eq!(summary["apps"]["fulfilment-processor"]["blobsPushed"], 0);
    std::fs::remove_dir_all(docker_config).unwrap();
}

#[test]
fn an_unreachable_registry_is_one_line_and_a_failure() {
    let nobody = format!("127.0.0.1:{}/order-system", free_port().unwrap());
    let line = publish(&["--registry", &nobody, "--insecure"], &[]).assert_failure();
    let host = nobody.trim_end_matches("/order-system");
    assert!(
        line.starts_with(&format!(
            "error: publishing fulfilment-processor: cannot reach registry {host} over HTTP: "
        )),
        "{line}"
    );
    assert!(line.contains("refused"), "{line}");
}

#[test]
fn an_unknown_app_is_refused_before_building() {
    let run = publish(
        &[
            "--registry",
            "127.0.0.1:1/x",
            "--app",
            "order-processor",
            "--app",
            "nope",
        ],
        &[],
    );
    assert_eq!(
        run.assert_failure(),
        "error: unknown app `nope`; the apps are fulfilment-processor, order-processor"
    );
    assert!(!run.stderr().contains("Compiling"));
}
