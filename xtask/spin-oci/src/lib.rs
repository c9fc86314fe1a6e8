//! Spin apps as OCI artifacts, pushed by digest to any OCI registry: the form `spin registry
//! push` writes (read by `spin up --from` and containerd-shim-spin), or a plain `wasi/wasm`
//! image holding `spin.toml` and its wasm. Component dependencies are composed in first, as
//! `spin registry push` does. No Spin CLI or Docker involved.

pub mod artifact;
pub mod compose;
mod locked;
mod manifest;
pub mod publish;
pub mod registry;

pub use artifact::{Artifact, Format, Provenance, pack};
pub use publish::{AppSummary, Summary, Target, publish};
