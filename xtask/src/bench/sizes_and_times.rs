//! The report's "Sizes and times" beyond HTTP: each component's wasm bytes, an unchanged
//! `cargo xtask publish` and its artifacts' bytes, and the cold start (timed by the probe).

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::project::{self, App};
use crate::publish;

/// Bytes of each component's wasm (each pushed artifact's are in [`PublishTimes`]).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sizes {
    /// Component id → wasm bytes.
    pub(super) wasm: Vec<(String, u64)>,
    /// Both apps' wasm together.
    pub(super) apps_wasm_total: u64,
    pub(super) hello_wasm: u64,
}

impl Sizes {
    pub(super) fn measure(components: &[(String, PathBuf, u64)], hello: &App) -> Result<Sizes> {
        let hello_wasm = hello
            .components
            .iter()
            .map(|component| {
                std::fs::metadata(&component.wasm)
                    .map(|metadata| metadata.len())
                    .with_context(|| format!("no {}", component.wasm.display()))
            })
            .sum::<Result<u64>>()?;
        Ok(Sizes {
            wasm: components
                .iter()
                .map(|(id, _, bytes)| (id.clone(), *bytes))
                .collect(),
            apps_wasm_total: components.iter().map(|(_, _, bytes)| bytes).sum(),
            hello_wasm,
        })
    }
}

/// `cargo xtask publish` to a local registry: the first push, then the same again unchanged.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PublishTimes {
    pub(super) first_s: f64,
    pub(super) unchanged_s: f64,
    /// Blobs the unchanged publish uploaded: 0 when nothing changed, as it should be.
    pub(super) unchanged_blobs_pushed: u64,
    /// App → bytes of its pushed artifact (config and layers).
    pub(super) artifact_bytes: Vec<(String, u64)>,
}

impl PublishTimes {
    pub(super) fn measure() -> Result<PublishTimes> {
        eprintln!("bench: cargo xtask publish to a local registry, first and unchanged");
        let registry = dev_services::RegistryServer::start().context("starting docker-registry")?;
        let target = format!("{}/order-system", registry.host());
        let publish = || -> Result<f64> {
            let started = Instant::now();
            project::cargo_command(["xtask", "publish", "--registry", &target, "--insecure"])
                .stdout_null()
                .run()
                .context("`cargo xtask publish` failed")?;
            Ok(started.elapsed().as_secs_f64())
        };
        let first_s = publish()?;
        let unchanged_s = publish()?;
        let summary = publish::summary()?;
        let mut unchanged_blobs_pushed = 0;
        let mut artifact_bytes = Vec::new();
        for (name, app) in summary.apps {
            unchanged_blobs_pushed += app.blobs_pushed.unwrap_or(0) as u64;
            let blob_bytes = std::iter::once(&app.config)
                .chain(&app.layers)
                .map(|blob| u64::try_from(blob.size).unwrap_or(0))
                .sum();
            artifact_bytes.push((name, blob_bytes));
        }
        Ok(PublishTimes {
            first_s,
            unchanged_s,
            unchanged_blobs_pushed,
            artifact_bytes,
        })
    }
}

/// From spawning the runtime with both apps to the first 2xx of `GET /order/{id}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdStart {
    /// With the compiled components in the compilation cache: every start but the first.
    pub(super) cached_ms: f64,
    /// Compiling every component (`--disable-cache`): the first start on a machine.
    pub(super) compiling_ms: f64,
}
