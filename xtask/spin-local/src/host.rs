//! What a component instance sees of its host: WASI 0.2 (stdout and stderr inherited, the
//! manifest's `environment`), `wasi:http` (outbound requests checked against
//! `allowed_outbound_hosts`), and Spin's `fermyon:spin/variables` and `fermyon:spin/redis`.

use std::sync::Arc;

use anyhow::Result;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView};

use crate::allowed_hosts::AllowedHosts;
use crate::telemetry::{AppLog, Telemetry};
use crate::variables::{AppVariables, ComponentVariables, GetError};

pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        path: "wit",
        world: "host",
        imports: { default: async },
        additional_derives: [PartialEq],
        with: {
            "fermyon:spin/redis.connection": crate::outbound_redis::RedisConnection,
        },
    });
}

use bindings::fermyon::spin2_0_0::variables;

/// Everything fixed about a component for the life of the process.
pub struct ComponentConfig {
    pub app: String,
    pub id: String,
    pub variables: ComponentVariables,
    pub allowed_hosts: AllowedHosts,
    pub environment: Vec<(String, String)>,
    /// The app's variables, to keep `secret` values out of logs.
    pub app_variables: Arc<AppVariables>,
}

impl ComponentConfig {
    /// Tells the user a component was refused a destination, as `spin up` does.
    pub fn report_disallowed(&self, url: &str) {
        eprintln!(
            "[{}] component {:?} tried to reach {:?}, which its `allowed_outbound_hosts` does not allow",
            self.app,
            self.id,
            self.app_variables.redact(url)
        );
    }
}

/// The data of one instance's store; a fresh one for every request or message.
pub struct HostState {
    pub(crate) component: Arc<ComponentConfig>,
    /// The span the instance runs under: the parent of its outbound Redis spans and where its
    /// stdout and stderr go as `app_log` events (crate::telemetry).
    pub(crate) trace: opentelemetry::Context,
    pub(crate) table: ResourceTable,
    pub(crate) redis_connections: usize,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound_http: OutboundHttp,
}

impl HostState {
    /// The state of an instance that runs under the span in `trace`.
    pub fn new(component: Arc<ComponentConfig>, trace: opentelemetry::Context) -> HostState {
        let mut wasi = WasiCtx::builder();
        if Telemetry::enabled() {
            wasi.stdout(AppLog::stdout(&trace))
                .stderr(AppLog::stderr(&trace));
        } else {
            wasi.inherit_stdout().inherit_stderr();
        }
        let wasi = wasi.envs(&component.environment).build();
        HostState {
            outbound_http: OutboundHttp(component.clone()),
            component,
            trace,
            table: ResourceTable::new(),
            redis_connections: 0,
            wasi,
            http: WasiHttpCtx::new(),
        }
    }
}

/// Adds every interface spin-local hosts to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    variables::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    bindings::fermyon::spin2_0_0::redis::add_to_linker::<_, HasSelf<_>>(linker, |state| state)?;
    Ok(())
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for HostState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.outbound_http,
        }
    }
}

/// Outbound `wasi:http` requests, refused (`HTTP-request-denied`) unless the component's
/// `allowed_outbound_hosts` allows the destination, as in Spin.
struct OutboundHttp(Arc<ComponentConfig>);

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

impl variables::Host for HostState {
    async fn get(&mut self, name: String) -> Result<String, variables::Error> {
        self.component
            .variables
            .get(&name)
            .map_err(|error| match error {
                GetError::InvalidName(why) => variables::Error::InvalidName(why),
                GetError::Undefined(why) => variables::Error::Undefined(why),
            })
    }
}
