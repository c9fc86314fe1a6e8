//! Publishing several apps, and the machine-readable account of it (a [`Summary`], written to
//! `target/publish.json`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use oci_client::Reference;
use oci_client::manifest::OciDescriptor;

use crate::artifact::{self, Provenance};
use crate::registry::{Credentials, Registry};
use crate::summary::{AppSummary, Blob, Format, Summary};

/// Where and how to publish.
pub struct Target {
    /// `host[:port][/namespace]`; each app goes to `<registry>/<app name>`.
    pub registry: String,
    pub tag: String,
    pub format: Format,
    /// Plain HTTP.
    pub insecure: bool,
    /// Pack and report digests, push nothing.
    pub dry_run: bool,
}

impl From<&OciDescriptor> for Blob {
    fn from(descriptor: &OciDescriptor) -> Blob {
        Blob {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.clone(),
            size: descriptor.size,
        }
    }
}

/// Packs every app in `manifests` (all of them before pushing any), then pushes each unless
/// this is a dry run. Prints `repository@digest` per app on stdout.
pub fn publish(manifests: &[PathBuf], target: &Target, provenance: &Provenance) -> Result<Summary> {
    let host = registry_host(&target.registry)?;
    let artifacts = manifests
        .iter()
        .map(|manifest| artifact::pack(manifest, target.format, provenance))
        .collect::<Result<Vec<_>>>()?;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let registry = (!target.dry_run)
        .then(|| Credentials::for_host(host).map(|c| Registry::new(host, target.insecure, c)))
        .transpose()?;

    let mut apps = BTreeMap::new();
    for artifact in &artifacts {
        let repository = format!("{}/{}", target.registry, artifact.app);
        let tagged = format!("{repository}:{}", target.tag);
        let reference: Reference = tagged
            .parse()
            .with_context(|| format!("`{tagged}` is not a valid image reference"))?;
        let blobs_pushed = match &registry {
            Some(registry) => {
                let report = runtime
                    .block_on(registry.push(&reference, artifact))
                    .with_context(|| format!("publishing {}", artifact.app))?;
                eprintln!(
                    "{}: {} blob(s) pushed, {} already present, manifest {}",
                    artifact.app,
                    report.blobs_pushed,
                    report.blobs_present,
                    if report.manifest_pushed {
                        "pushed"
                    } else {
                        "unchanged"
                    }
                );
                Some(report.blobs_pushed)
            }
            None => None,
        };
        println!("{repository}@{}", artifact.digest);
        let config = OciDescriptor {
            media_type: artifact.config.media_type.clone(),
            digest: artifact.config.sha256_digest(),
            size: artifact.config.data.len() as i64,
            ..Default::default()
        };
        apps.insert(
            artifact.app.clone(),
            AppSummary {
                reference: format!("{repository}@{}", artifact.digest),
                repository,
                tag: target.tag.clone(),
                digest: artifact.digest.clone(),
                format: artifact.format,
                config: (&config).into(),
                layers: artifact.descriptors.iter().map(Blob::from).collect(),
                blobs_pushed,
            },
        );
    }
    Ok(Summary {
        registry: target.registry.clone(),
        tag: target.tag.clone(),
        format: target.format,
        dry_run: target.dry_run,
        apps,
    })
}

/// The host part of `host[:port][/namespace]`, which must look like a host (a dot, a port or
/// `localhost`) so that it is not mistaken for a Docker Hub namespace.
fn registry_host(registry: &str) -> Result<&str> {
    let host = registry.split('/').next().unwrap_or_default();
    ensure!(
        !registry.ends_with('/') && !registry.contains("://"),
        "--registry `{registry}`: write it as host[:port]/namespace, without a scheme or a trailing `/`"
    );
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        bail!(
            "--registry `{registry}` must start with a registry host, e.g. ghcr.io/OWNER or 127.0.0.1:5000/order-system"
        );
    }
    Ok(host)
}

#[cfg(test)]
mod tests {
    use super::registry_host;

    #[test]
    fn registry_needs_a_host_first() {
        assert_eq!(registry_host("ghcr.io/owner").unwrap(), "ghcr.io");
        assert_eq!(
            registry_host("127.0.0.1:5000/ns/sub").unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(registry_host("localhost").unwrap(), "localhost");
        assert!(registry_host("owner/ns").is_err());
        assert!(registry_host("https://ghcr.io/owner").is_err());
        assert!(registry_host("ghcr.io/owner/").is_err());
    }
}
