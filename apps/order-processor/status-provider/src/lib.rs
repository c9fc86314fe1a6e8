// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::api;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

/// `GET /order/{id}` and `HEAD /order/{id}`
#[http_component]
async fn status(request: IncomingRequest) -> Response {
    order_spin::serve(request, |request| api::status(request, order_spin::connect)).await
}
