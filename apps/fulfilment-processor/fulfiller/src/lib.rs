// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::fulfilment::{self, Handled};
use spin_sdk::redis_component;

/// One message from the new-orders channel, adapted into the `order-system:fulfilment` call
/// (the fulfilment component composed into this one). A malformed message is logged and
/// dropped (`Ok`), so it cannot fail the trigger; only a failed call is an error.
#[redis_component]
fn on_message(message: Vec<u8>) -> anyhow::Result<()> {
    let handled = fulfilment::on_message(&message, order_spin::fulfil)?;
    match handled {
        Handled::Malformed(_) => eprintln!("{handled}"),
        _ => println!("{handled}"),
    }
    Ok(())
}
