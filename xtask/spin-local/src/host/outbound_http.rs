//! Outbound `wasi:http`, as Spin's outbound-networking factor allows it: a request is refused
//! (`HTTP-request-denied`) unless the component's `allowed_outbound_hosts` allows its
//! destination, and reported on stderr as `spin up` reports it.

use std::sync::Arc;

use wasmtime_wasi_http::{WasiBody, WasiHttpHooks};

use super::ComponentConfig;

/// The capability's state in one instance's store.
pub struct OutboundHttp(pub Arc<ComponentConfig>);

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                http::Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for OutboundHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<wasmtime_wasi_http::RequestOptions>,
        _response_errors: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let url = request.uri().to_string();
        if !self.0.allowed_hosts.allows(&url, "https") {
            self.0.report_disallowed(&url);
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}
