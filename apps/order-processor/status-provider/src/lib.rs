// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::api;
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

/// `GET /order/{id}` and `HEAD /order/{id}`
#[http_component]
fn status(request: Request) -> anyhow::Result<Response> {
    Ok(order_spin::serve(&request, |request| {
        api::status(request, order_spin::connect)
    }))
}
