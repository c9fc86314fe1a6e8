//! Real backing services on loopback: each starts a Debian-packaged server on a free port in a
//! temporary directory, waits until it answers, and stops it on drop; and the chart's reconciler,
//! run against such a Redis the way its CronJob runs it; the chart's metrics (redis_exporter with
//! its script, a Prometheus with its relabelling and rules); and an OTLP trace receiver.

mod metrics;
mod otlp;
mod process;
mod reconciler;
mod redis;
mod registry;

pub use metrics::{
    EXPORTER_PACKAGE, EXPORTER_PROGRAM, EXPORTER_READY_LINE, ExporterOptions, Prometheus,
    PrometheusOptions, RedisExporter, exporter_environment, http_get, metric_relabel_configs,
    metrics_script, prometheus_rules, rule_defaults, write_metrics_script,
};
pub use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
pub use otlp::{OtlpReceiver, ReceivedSpan};
pub use process::{
    cargo_program_variables, free_port, private_dir, require_tool, set_by_cargo_for_its_program,
    wait_for_port,
};
pub use reconciler::{
    Reconciled, Reconciler, ReconcilerOptions, reconcile_once, script as reconcile_script,
};
pub use redis::{RedisOptions, RedisServer};
pub use registry::{RegistryOptions, RegistryServer};
