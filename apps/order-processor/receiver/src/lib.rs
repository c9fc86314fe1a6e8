// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::{OrderId, api};
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

/// `POST /order`
#[http_component]
async fn receive(request: IncomingRequest) -> Response {
    order_spin::serve(request, |request| match order_spin::placement() {
        Ok(placement) => api::receive(
            request,
            order_spin::connect,
            placement,
            order_spin::fulfil,
            OrderId::new_random(),
            order_spin::now_ms(),
        ),
        Err(error) => error.into(),
    })
    .await
}
