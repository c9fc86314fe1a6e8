//! The HTTP trigger: serves an app's routes over HTTP/1.1, one fresh instance of the matched
//! component per request through `wasi:http/incoming-handler`, as `spin up` does.
//!
//! Like Spin, it puts no bound on a request body: the body reaches the component as
//! wasmtime-wasi-http's incoming-body stream, which takes one frame from hyper each time the
//! component reads (spinframework/spin `crates/trigger-http/src/wasi.rs`, `WasiHttpExecutor`),
//! so the host holds at most one frame and a component that stops reading stops the upload.
//! Bounding a body is the component's job.

mod routes;

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use http::header::{HOST, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use tokio::net::TcpListener;
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use serde::Deserialize;

use crate::app::LoadedApp;
use crate::component::LoadedComponent;
use crate::host::HostState;
use crate::telemetry::{self, Telemetry};
use routes::{HttpRoute, Router, WELL_KNOWN_PREFIX};

pub struct HttpTrigger {
    app: String,
    version: String,
    router: Router,
    handlers: HashMap<String, Handler>,
}

struct Handler {
    component: LoadedComponent,
    proxy: ProxyPre<HostState>,
}

/// A `[[trigger.http]]` entry's configuration in the locked app.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpTriggerConfig {
    component: String,
    route: RouteConfig,
    #[serde(default)]
    executor: Option<Executor>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RouteConfig {
    Route(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Executor {
    #[serde(rename = "type")]
    kind: String,
}

/// The routable (non-private) route of one trigger's configuration.
fn http_route(config: &serde_json::Value) -> Result<Option<HttpRoute>> {
    let config = HttpTriggerConfig::deserialize(config).context("an `[[trigger.http]]` entry")?;
    let component = config.component;
    if let Some(executor) = config.executor {
        ensure!(
            executor.kind == "http",
            "component {component:?}: the {:?} executor is not supported by spin-local (only `http`)",
            executor.kind
        );
    }
    match config.route {
        RouteConfig::Route(route) => Ok(Some(HttpRoute { route, component })),
        // A private endpoint has no route; it is only reachable by service chaining.
        RouteConfig::Private { private: true } => Ok(None),
        RouteConfig::Private { private: false } => bail!(
            "route must be a string pattern or `{{ private = true }}`: {component:?} has `{{ private = false }}`"
        ),
    }
}

impl HttpTrigger {
    /// The trigger type in a manifest: `[[trigger.http]]`.
    pub const TYPE: &str = "http";

    /// The app's HTTP trigger; none when it has no routable route. Errors: a configuration
    /// spin-local cannot serve, a component that is no `wasi:http` handler.
    pub fn new(app: &LoadedApp) -> Result<Option<HttpTrigger>> {
        let mut routes = Vec::new();
        for trigger in app.triggers(Self::TYPE) {
            routes.extend(http_route(&trigger.trigger_config)?);
        }
        if routes.is_empty() {
            return Ok(None);
        }
        let router = Router::build(&routes)?;
        let mut handlers = HashMap::new();
        for route in &routes {
            let component = app.components[&route.component].clone();
            let proxy = ProxyPre::new(component.pre.clone())
                .map_err(anyhow::Error::from)
                .with_context(|| {
                    format!(
                        "component {:?} does not export wasi:http/incoming-handler@0.2",
                        route.component
                    )
                })?;
            handlers.insert(route.component.clone(), Handler { component, proxy });
        }
        Ok(Some(HttpTrigger {
            app: app.name().to_string(),
            version: app.locked.metadata_str("version").to_string(),
            router,
            handlers,
        }))
    }

    /// Lines describing what is served at `base_url`, for the start-up summary.
    pub fn summary(&self, base_url: &str) -> Vec<String> {
        let mut lines = vec![format!("Serving {base_url} ({})", self.app)];
        lines.push("Available Routes:".to_string());
        for (route, component) in self.router.routes() {
            lines.push(format!("  {component}: {base_url}{route}"));
            let description = &self.handlers[component].component.description;
            if !description.is_empty() {
                lines.push(format!("    {description}"));
            }
        }
        lines
    }

    /// Accepts connections on `listener` until `shutdown` completes.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        tokio::pin!(shutdown);
        loop {
            let (stream, client) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        eprintln!("[{}] accepting a connection failed: {error}", self.app);
                        continue;
                    }
                },
                () = &mut shutdown => return Ok(()),
            };
            let trigger = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    let trigger = trigger.clone();
                    async move { trigger.handle(request, client).await }
                });
                // A client that goes away mid-request is not the server's problem.
                let _ = hyper::server::conn::http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    /// Answers one request and logs it: method, path, status, time, component. A failure
    /// inside the runtime or the component gets the client a bare 500, as in Spin. The request
    /// is traced as Spin traces it (crate::telemetry).
    async fn handle(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<HyperOutgoingBody>, Infallible> {
        let started = Instant::now();
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let span = telemetry::http_server(&request, client);
        let host_is_text = request
            .headers()
            .get(HOST)
            .is_none_or(|host| host.to_str().is_ok());
        let (result, component, route) = if let Some(name) = path.strip_prefix(WELL_KNOWN_PREFIX) {
            // Spin's well-known answers carry their path as the route; an unknown one is a 404
            // without a route.
            let known = matches!(name, "health" | "info");
            (
                Ok(self.well_known(&path)),
                None,
                known.then_some(path.as_str()),
            )
        } else if let Some(found) = self.router.route(&path) {
            let component = found.component().to_string();
            let route = found.raw_route();
            let result = match spin_headers(&request, &found, client) {
                Ok(headers) => self.call(&component, request, headers, &span).await,
                Err(error) => Err(error),
            };
            (result, Some(component), Some(route))
        } else {
            (Ok(plain(StatusCode::NOT_FOUND, "")), None, None)
        };
        let by = component
            .map(|component| format!(" [{component}]"))
            .unwrap_or_default();
        let (response, error) = match result {
            Ok(response) => (response, None),
            Err(error) => {
                eprintln!("[{}] {method} {path}{by} failed: {error:#}", self.app);
                (
                    plain(StatusCode::INTERNAL_SERVER_ERROR, ""),
                    Some(format!("{error:?}")),
                )
            }
        };
        let status = response.status().as_u16();
        // Spin names an unrouted request by its method alone, and so a request that fails before
        // routing: its `Host` check (`set_req_uri`). A failure after routing (the component, or
        // a header value that is not text) keeps the route (`internal_error` with the route).
        let route = route.filter(|_| error.is_none() || host_is_text);
        telemetry::finish_http(&span, method.as_str(), route, status, error.as_deref());
        println!(
            "[{}] {method} {path} -> {status} ({} ms){by}",
            self.app,
            started.elapsed().as_millis()
        );
        Ok(response)
    }

    fn well_known(&self, path: &str) -> Response<HyperOutgoingBody> {
        match &path[WELL_KNOWN_PREFIX.len()..] {
            "health" => plain(StatusCode::OK, "OK"),
            "info" => {
                let mut info = serde_json::json!({ "name": self.app });
                if !self.version.is_empty() {
                    info["version"] = self.version.clone().into();
                }
                let mut response = plain(StatusCode::OK, &format!("{info:#}"));
                response.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                );
                response
            }
            _ => plain(StatusCode::NOT_FOUND, ""),
        }
    }

    /// Runs the component on the request, a fresh instance every time, under Spin's
    /// `execute_wasm` span below `server`. When that span is exported, the component's
    /// request carries it as `traceparent` (crate::telemetry: beyond Spin, which passes the
    /// caller's headers unchanged).
    async fn call(
        &self,
        component: &str,
        request: Request<Incoming>,
        mut headers: Vec<(HeaderName, HeaderValue)>,
        server: &opentelemetry::Context,
    ) -> Result<Response<HyperOutgoingBody>> {
        let handler = &self.handlers[component];
        let trace = telemetry::execute_wasm(server, component);
        if Telemetry::enabled()
            && let Some(traceparent) = telemetry::traceparent(&trace)
            && let Ok(value) = HeaderValue::from_str(&traceparent)
        {
            headers.retain(|(name, _)| name != "traceparent");
            headers.push((HeaderName::from_static("traceparent"), value));
        }
        let (mut parts, body) = request.into_parts();
        let authority = headers
            .iter()
            .find(|(name, _)| name == HOST)
            .map(|(_, value)| value.to_str().unwrap_or_default().to_string())
            .or_else(|| parts.uri.authority().map(ToString::to_string))
            .context("no `Host` header present in request")?;
        let path_and_query = parts
            .uri
            .path_and_query()
            .map_or("/", |path| path.as_str())
            .to_string();
        parts.uri = Uri::builder()
            .scheme("http")
            .authority(authority)
            .path_and_query(path_and_query)
            .build()?;
        parts.headers.clear();
        for (name, value) in headers {
            parts.headers.append(name, value);
        }

        let mut store = handler.component.store(trace.clone());
        let incoming = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, Request::from_parts(parts, body))?;
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let outparam = store.data_mut().http().new_response_outparam(sender)?;
        let proxy = handler.proxy.clone();
        let guest = tokio::spawn(async move {
            let instance = proxy.instantiate_async(&mut store).await?;
            instance
                .wasi_http_incoming_handler()
                .call_handle(&mut store, incoming, outparam)
                .await
        });

        let responded = receiver.await;
        // Spin's span lasts until the component's task ends; spin-local's until the response
        // head is ready (the task may stream the body after that).
        let outcome = match &responded {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(_)) => Err("the component answered with an error"),
            Err(_) => Err("the component did not respond"),
        };
        telemetry::end(&trace, &outcome);
        match responded {
            Ok(Ok(response)) => {
                // The guest may keep running to stream the body; report if it then fails.
                let label = format!("[{}] component {component:?}", self.app);
                tokio::spawn(async move {
                    if let Ok(Err(error)) = guest.await {
                        eprintln!("{label} failed after it started its response: {error:#}");
                    }
                });
                Ok(response)
            }
            Ok(Err(code)) => bail!("the component answered with an error: {code:?}"),
            Err(_) => match guest.await {
                Ok(Ok(())) => bail!("the component returned without setting a response"),
                Ok(Err(error)) => {
                    Err(anyhow::Error::from(error).context("the component failed to respond"))
                }
                Err(panic) => bail!("the component's task failed: {panic}"),
            },
        }
    }
}

/// The request's own headers followed by the `spin-*` ones, as Spin passes them to a
/// `wasi:http` component. As in Spin, the request fails before any component runs (a bare 500)
/// when its `Host` is not visible ASCII (`set_req_uri`, spinframework/spin
/// `crates/trigger-http/src/server.rs`) or any header value is not UTF-8
/// (`prepare_request_headers`, `crates/trigger-http/src/headers.rs`, whose error is the
/// `Utf8Error` itself, e.g. "incomplete utf-8 byte sequence from index 3"). Values that are
/// UTF-8 but not ASCII pass.
fn spin_headers(
    request: &Request<Incoming>,
    found: &routes::RouteMatch<'_>,
    client: SocketAddr,
) -> Result<Vec<(HeaderName, HeaderValue)>> {
    if let Some(host) = request.headers().get(HOST) {
        host.to_str().context("'Host' header is not valid UTF-8")?;
    }
    let mut headers = Vec::new();
    for (name, value) in request.headers() {
        std::str::from_utf8(value.as_bytes())?;
        headers.push((name.clone(), value.clone()));
    }
    let host = request
        .headers()
        .get(HOST)
        .and_then(|host| host.to_str().ok())
        .unwrap_or("localhost");
    let path_and_query = request
        .uri()
        .path_and_query()
        .map_or("/", |path| path.as_str());
    for (name, value) in found.spin_headers(path_and_query, host, client) {
        // Values that cannot be header values (e.g. odd bytes in a path) are left out.
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            headers.push((name, value));
        }
    }
    Ok(headers)
}

fn plain(status: StatusCode, body: &str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(body.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
}
