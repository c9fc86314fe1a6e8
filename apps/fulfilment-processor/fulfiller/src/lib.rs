// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use std::time::Instant;

use order_model::fulfilment;
use order_model::logging::{self, LogLine, components};
use spin_sdk::redis_component;

/// One message from the new-orders channel, adapted into the `order-system:fulfilment` call
/// (the fulfilment component composed into this one), and one log line about it
/// (docs/observability.md). A malformed message is logged and dropped (`Ok`), so it cannot
/// fail the trigger; only a failed call is an error, whose text is redacted as the log's is.
#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let started = Instant::now();
    let delivery = fulfilment::on_message(&message, order_spin::fulfil);
    order_spin::log(&LogLine::redis_message(
        components::FULFILLER,
        &delivery,
        order_spin::now_ms(),
        started.elapsed(),
    ));
    match delivery.result {
        Ok(_) => Ok(()),
        Err(error) => Err(anyhow::anyhow!(logging::redact_userinfo(
            &error.to_string()
        ))),
    }
}
