// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::logging::components;
use order_model::{OrderId, api};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

/// `POST /order`; one log line per request (docs/observability.md).
#[http_component]
async fn receive(request: IncomingRequest) -> Response {
    order_spin::serve(request, components::RECEIVER, api::ORDER_ROUTE, accept).await
}

fn accept(request: &api::Request<'_>) -> api::Response {
    match order_spin::placement() {
        Ok(placement) => api::receive(
            request,
            order_spin::connect,
            placement,
            order_spin::fulfil,
            OrderId::new_random(),
            order_spin::now_ms(),
        ),
        Err(error) => error.into(),
    }
}
