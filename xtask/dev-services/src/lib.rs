//! Real backing services on loopback: each starts a Debian-packaged server on a free port in a
//! temporary directory, waits until it answers, and stops it on drop; and the chart's reconciler,
//! run against such a Redis the way its CronJob runs it; and an OTLP trace receiver.

mod otlp;
mod process;
mod reconciler;
mod redis;
mod registry;

pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::{free_port, private_dir, require_tool, wait_for_port};
pub use reconciler::{
    Reconciled, Reconciler, ReconcilerOptions, reconcile_once, script as reconcile_script,
};
pub use redis::{RedisOptions, RedisServer};
pub use registry::{RegistryOptions, RegistryServer};
