//! The Redis trigger's and outbound Redis' spans, as Spin's `crates/trigger-redis` and
//! `crates/factor-outbound-redis` make them.

use opentelemetry::trace::SpanKind;
use opentelemetry::{Context, KeyValue};

use super::propagation::carried_context;
use super::{Telemetry, info, start};

/// A failed Redis handler, as Spin's `handle_message` logs it inside the message's span.
pub fn handler_failed(cx: &Context, component: &str, error: &anyhow::Error) {
    if !Telemetry::enabled() {
        return;
    }
    info(
        cx,
        format!("Component {component} handler failed: {error}"),
        "spin_trigger_redis",
    );
}

/// Spin's `spin_trigger_redis.handle_message` span: `"{channel} receive"`, kind consumer,
/// `messaging.operation` `receive`, `messaging.system` `redis`. Its parent is the context the
/// payload carries (see the module docs), else none.
pub fn redis_message(channel: &str, payload: &[u8]) -> Context {
    if !Telemetry::enabled() {
        return Context::new();
    }
    start(&carried_context(payload), SpanKind::Consumer, || {
        (
            format!("{channel} receive"),
            vec![
                KeyValue::new("messaging.operation", "receive"),
                KeyValue::new("messaging.system", "redis"),
            ],
        )
    })
}

/// One of Spin's `spin_outbound_redis.*` spans (`crates/factor-outbound-redis/src/host.rs`):
/// kind client, `db.system` `redis`, named as Spin names it (e.g. `PUBLISH {channel}`, the
/// command for `execute`), with the arguments Spin records (`channel`, `key`, `keys`,
/// `command`; Spin 4.0 skips `execute`'s `arguments`, and so does spin-local: they are the
/// order's data). `describe` gives the name and those arguments. Ended by [`end`].
pub fn redis_client(
    parent: &Context,
    describe: impl FnOnce() -> (String, Vec<KeyValue>),
) -> Context {
    start(parent, SpanKind::Client, || {
        let (name, arguments) = describe();
        let mut attributes = vec![KeyValue::new("db.system", "redis")];
        attributes.extend(arguments);
        (name, attributes)
    })
}
