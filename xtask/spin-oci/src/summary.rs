//! `target/publish.json`: the machine-readable account of a publish, written by `spin-oci push
//! --summary` (which `cargo xtask publish` runs) and read by `cargo xtask up --cluster`, `cargo
//! xtask bench` and the release workflow (`jq`). This module is its one definition; it needs
//! only serde, so xtask reads it without the `push` feature's registry client. The shape:
//!
//! ```json
//! {
//!   "registry": "ghcr.io/OWNER",
//!   "tag": "0.2.0",
//!   "format": "spin",
//!   "dryRun": false,
//!   "apps": {
//!     "order-processor": {
//!       "repository": "ghcr.io/OWNER/order-processor",
//!       "tag": "0.2.0",
//!       "digest": "sha256:…",
//!       "reference": "ghcr.io/OWNER/order-processor@sha256:…",
//!       "format": "spin",
//!       "config": { "mediaType": "…", "digest": "sha256:…", "size": 1234 },
//!       "layers": [{ "mediaType": "…", "digest": "sha256:…", "size": 56789 }],
//!       "blobsPushed": 2
//!     }
//!   }
//! }
//! ```
//!
//! `format` is `spin` or `image` ([`Format`]); `digest` is the manifest's, what to deploy;
//! `blobsPushed` is absent on a dry run.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// How an app is packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "push", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// What `spin registry push` writes: a locked app plus one layer per wasm and per file.
    Spin,
    /// A plain `wasi/wasm` image whose one layer holds `/spin.toml` and the wasm it names.
    Image,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub registry: String,
    pub tag: String,
    pub format: Format,
    pub dry_run: bool,
    /// By app name.
    pub apps: BTreeMap<String, AppSummary>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppSummary {
    pub repository: String,
    pub tag: String,
    pub digest: String,
    /// `repository@digest`: what to deploy.
    pub reference: String,
    pub format: Format,
    pub config: Blob,
    pub layers: Vec<Blob>,
    /// Blobs uploaded by this run; the rest were already there (absent on a dry run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blobs_pushed: Option<usize>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blob {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
}

impl Summary {
    pub fn read(path: &Path) -> Result<Summary> {
        let text = std::fs::read_to_string(path).with_context(|| {
            format!(
                "reading {} (written by `cargo xtask publish`)",
                path.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let json = serde_json::to_string_pretty(self)?;
        std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
    }
}
