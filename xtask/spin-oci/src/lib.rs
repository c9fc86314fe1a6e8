//! Spin apps as OCI artifacts, pushed by digest to any OCI registry: the form `spin registry
//! push` writes (read by `spin up --from` and containerd-shim-spin), or a plain `wasi/wasm`
//! image holding `spin.toml` and its wasm. Component dependencies are composed in first, as
//! `spin registry push` does. No Spin CLI or Docker involved.

//!
//! Without the `push` feature (on by default) the crate is only [`summary`], the shape of
//! `target/publish.json`, for its readers.

#[cfg(feature = "push")]
pub mod artifact;
#[cfg(feature = "push")]
pub mod compose;
#[cfg(feature = "push")]
pub mod publish;
#[cfg(feature = "push")]
pub mod registry;
pub mod summary;

#[cfg(feature = "push")]
pub use artifact::{Artifact, Provenance, pack};
#[cfg(feature = "push")]
pub use publish::{Target, publish};
pub use summary::{AppSummary, Format, Summary};
