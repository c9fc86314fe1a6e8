//! spin-local: an embedded runtime that runs Spin apps from their `spin.toml` (manifest v2) on
//! wasmtime, behaving like `spin up` (Spin 3.6 / 4.0) for what the order-system components use:
//! the HTTP trigger (`wasi:http` 0.2, Spin's routing and `spin-*` headers, the health
//! endpoint), the Redis trigger, outbound Redis, application variables and
//! `allowed_outbound_hosts`; its engine is set up as Spin's (compilation cache, pooling
//! instance allocator), and it exports OpenTelemetry traces as Spin does.
//!
//! Its layers are Spin's: the manifest is read and locked by `spin_manifest` (the same locked
//! app `cargo xtask publish` pushes), crate::app loads it, crate::component prepares each
//! component, crate::host holds one module per host capability, crate::triggers one module per
//! trigger, and crate::runtime runs the triggers.
//!
//! The library is what the `spin-local` binary runs; tests use it to run apps in-process.

mod app;
mod bindings;
mod component;
mod engine;
mod host;
mod runtime;
mod telemetry;
mod triggers;

pub use engine::CompilationCache;
pub use runtime::Runtime;
pub use spin_manifest::VariableProviders;
pub use telemetry::Telemetry;
