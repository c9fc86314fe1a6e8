//! k3d: the Docker daemon it needs, and creating, starting or finding the cluster.

use anyhow::{Context, Result};
use serde::Deserialize;

use super::ClusterArgs;
use super::step::Step;

/// k3s with containerd-shim-spin installed and registered as the `spin` runtime handler.
pub(super) const K3D_NODE_IMAGE: &str = "ghcr.io/spinframework/containerd-shim-spin/k3d:v0.24.0";

pub(super) fn k3d_cluster_exists(name: &str) -> Result<bool> {
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

/// Fails with a hint when the Docker daemon does not answer (k3d needs it for everything).
pub(super) fn docker_step() -> Step {
    Step::new(
        "checking that the Docker daemon answers (start it, e.g. `sudo systemctl start docker`)",
        ["docker", "info", "--format", "{{.ServerVersion}}"],
    )
}

/// Creates the cluster, or starts it when it already exists.
pub(super) fn cluster_step(args: &ClusterArgs, exists: bool) -> Step {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::sample_args;
    use crate::cluster::step::argv;

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
}
