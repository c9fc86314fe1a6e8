//! What a component instance sees of its host, one module per capability, each owning its
//! state in the instance's store (Spin's factors): WASI 0.2 (stdout and stderr inherited or
//! traced, the component's `environment`), [`outbound_http`] (`wasi:http` checked against
//! `allowed_outbound_hosts`, see [`allowed_hosts`]), [`variables`] and [`outbound_redis`].

pub mod allowed_hosts;
pub mod outbound_http;
pub mod outbound_redis;
pub mod variables;

use std::sync::Arc;

use anyhow::Result;
use spin_manifest::{LockedComponent, ResolvedVariables};
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use crate::bindings;
use crate::telemetry::{AppLog, Telemetry};
use allowed_hosts::AllowedHosts;
use outbound_http::OutboundHttp;
use outbound_redis::OutboundRedis;
use variables::{ComponentVariables, InstanceVariables};

/// Everything fixed about a component for the life of the process.
pub struct ComponentConfig {
    pub app: String,
    pub id: String,
    pub variables: Arc<ComponentVariables>,
    pub allowed_hosts: AllowedHosts,
    pub environment: Vec<(String, String)>,
    /// The app's variables, to keep `secret` values out of logs.
    pub app_variables: Arc<ResolvedVariables>,
}

impl ComponentConfig {
    /// Each capability's configuration of `locked`, a component of app `app` whose variables
    /// are `variables` (Spin's factors' `configure_app`). Errors: a template over an undeclared
    /// variable, an `allowed_outbound_hosts` entry Spin would refuse.
    pub fn new(
        app: &str,
        locked: &LockedComponent,
        variables: &Arc<ResolvedVariables>,
    ) -> Result<ComponentConfig> {
        Ok(ComponentConfig {
            app: app.to_string(),
            id: locked.id.clone(),
            variables: Arc::new(ComponentVariables::resolve(
                &locked.id,
                &locked.config,
                variables,
            )?),
            allowed_hosts: AllowedHosts::resolve(
                &locked.metadata_list("allowed_outbound_hosts"),
                variables,
            )?,
            environment: locked.env.clone().into_iter().collect(),
            app_variables: variables.clone(),
        })
    }

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
    table: ResourceTable,
    wasi: WasiCtx,
    http: WasiHttpCtx,
    outbound_http: OutboundHttp,
    outbound_redis: OutboundRedis,
    variables: InstanceVariables,
}

impl HostState {
    /// The state of an instance that runs under the span in `trace`: the parent of its outbound
    /// spans, and where its stdout and stderr go as `app_log` events (crate::telemetry).
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
            table: ResourceTable::new(),
            wasi,
            http: WasiHttpCtx::new(),
            variables: InstanceVariables(component.variables.clone()),
            outbound_redis: OutboundRedis::new(component.clone(), trace),
            outbound_http: OutboundHttp(component),
        }
    }
}

/// Adds every interface spin-local hosts to `linker`.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    bindings::variables::add_to_linker::<_, HasSelf<_>>(linker, |state: &mut HostState| {
        &mut state.variables
    })?;
    bindings::redis::add_to_linker::<_, HasSelf<_>>(linker, |state: &mut HostState| {
        &mut state.outbound_redis
    })?;
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
