//! spin-local: an embedded runtime that runs Spin apps from their `spin.toml` (manifest v2) on
//! wasmtime, behaving like `spin up` (Spin 3.6 / 4.0) for what the order-system components use:
//! the HTTP trigger (`wasi:http` 0.2, Spin's routing and `spin-*` headers, the health
//! endpoint), the Redis trigger, outbound Redis, application variables and
//! `allowed_outbound_hosts`; its engine is set up as Spin's (compilation cache, pooling
//! instance allocator), and it exports OpenTelemetry traces as Spin does.
//!
//! The library is what the `spin-local` binary runs; tests use it to run apps in-process.

mod allowed_hosts;
mod app;
mod engine;
mod host;
mod http_trigger;
mod manifest;
mod outbound_redis;
mod redis_trigger;
mod routes;
mod telemetry;
mod template;
mod variables;

pub use app::Runtime;
pub use engine::CompilationCache;
pub use telemetry::Telemetry;
pub use variables::{VariableProviders, environment_name};
