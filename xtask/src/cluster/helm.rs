//! Deploying: publishing the apps to the cluster's registry (`cargo xtask publish`, which
//! records their digests in `target/publish.json`), then installing the chart with those digests
//! and running its `helm test`.

use anyhow::{Context, Result, bail};
use spin_oci::Summary;

use super::step::Step;
use super::{ClusterArgs, REGISTRY_NAMESPACE};
use crate::project;

const CHART: &str = "charts/order-system";

/// Publishes both apps to the cluster's registry through `cargo xtask publish`, which records
/// their digests in `target/publish.json`.
pub(super) fn publish_step(args: &ClusterArgs) -> Step {
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

/// The digest of `app` as pushed to `repository`; anything else means a stale summary.
fn digest<'a>(published: &'a Summary, app: &str, repository: &str) -> Result<&'a str> {
    if published.dry_run {
        bail!("target/publish.json is from a dry run: nothing was pushed");
    }
    let published = published
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

/// The chart's image values: every app pulled by digest from the cluster's registry, as
/// `<image.registry>/<image.namespace>/<app>.image.repository@<digest>`.
fn image_values(args: &ClusterArgs, published: &Summary) -> Result<Vec<String>> {
    let mut values = vec![
        format!("image.registry={}", args.node_registry()),
        format!("image.namespace={REGISTRY_NAMESPACE}"),
    ];
    for app in project::apps()? {
        let key = chart_key(&app.name);
        let pushed_to = format!("{}/{REGISTRY_NAMESPACE}/{}", args.host_registry(), app.name);
        let digest = digest(published, &app.name, &pushed_to)?;
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
pub(super) fn deploy_steps(args: &ClusterArgs, published: &Summary) -> Result<Vec<Step>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sample_args;
    use crate::cluster::step::argv;

    /// A `target/publish.json` as `cargo xtask publish` writes it (its blobs left empty).
    fn summary(dry_run: bool, apps: &[(&str, &str, &str)]) -> Summary {
        let apps: serde_json::Map<String, serde_json::Value> = apps
            .iter()
            .map(|(name, registry, digest)| {
                let repository = format!("{registry}/{name}");
                let app = serde_json::json!({
                    "repository": repository,
                    "tag": "0.1.0",
                    "digest": digest,
                    "reference": format!("{repository}@{digest}"),
                    "format": "spin",
                    "config": { "mediaType": "", "digest": "", "size": 0 },
                    "layers": [],
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
    fn chart_keys_are_camel_case_app_names() {
        assert_eq!(chart_key("order-processor"), "orderProcessor");
        assert_eq!(chart_key("fulfilment-processor"), "fulfilmentProcessor");
        assert_eq!(chart_key("redis"), "redis");
    }
}
