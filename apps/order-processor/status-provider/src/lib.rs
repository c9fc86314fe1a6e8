// The Spin SDK's export macros generate the component ABI, which needs unsafe code.
#![allow(unsafe_code)]

use order_model::api;
use order_model::logging::components;
use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;

/// `GET /order/{id}` and `HEAD /order/{id}`; one log line per request (docs/observability.md).
#[http_component]
async fn status(request: IncomingRequest) -> Response {
    order_spin::serve(
        request,
        components::STATUS_PROVIDER,
        api::STATUS_ROUTE,
        |request| api::status(request, order_spin::connect),
    )
    .await
}
