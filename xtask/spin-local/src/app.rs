//! Loading apps and running their triggers. Each component is compiled once, at start (or
//! taken from the compilation cache), and pre-instantiated against the host's interfaces;
//! every request or message then gets a fresh instance, as in Spin.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use tokio::net::TcpListener;
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::allowed_hosts::AllowedHosts;
use crate::engine::{self, CompilationCache};
use crate::host::{self, ComponentConfig, HostState};
use crate::http_trigger::HttpTrigger;
use crate::manifest::{ComponentDecl, Manifest};
use crate::redis_trigger::RedisTrigger;
use crate::variables::{AppVariables, VariableProviders};

/// A compiled, pre-instantiated component with its fixed configuration.
#[derive(Clone)]
pub struct LoadedComponent {
    pub config: Arc<ComponentConfig>,
    pub description: String,
    pub pre: InstancePre<HostState>,
}

impl LoadedComponent {
    fn load(
        linker: &Linker<HostState>,
        app: &str,
        declared: &ComponentDecl,
        variables: &Arc<AppVariables>,
    ) -> Result<LoadedComponent> {
        let resolved_hosts: Vec<String> = declared
            .allowed_outbound_hosts
            .iter()
            .map(|template| template.resolve(variables.values()))
            .collect::<Result<_>>()?;
        let config = ComponentConfig {
            app: app.to_string(),
            id: declared.id.clone(),
            variables: variables.for_component(declared)?,
            allowed_hosts: AllowedHosts::parse(&resolved_hosts)?,
            environment: declared.environment.clone().into_iter().collect(),
            app_variables: variables.clone(),
        };
        let wasm = &declared.source;
        let composed = compose(declared)?;
        let component = Component::new(linker.engine(), &composed)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", wasm.display()))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("it imports something spin-local does not provide")?;
        Ok(LoadedComponent {
            config: Arc::new(config),
            description: declared.description.clone(),
            pre,
        })
    }

    /// A store for one new instance, which runs under the span in `trace`.
    pub fn store(&self, trace: opentelemetry::Context) -> Store<HostState> {
        Store::new(
            self.pre.engine(),
            HostState::new(self.config.clone(), trace),
        )
    }
}

/// The component's wasm with its `dependencies` composed in, as Spin composes them at load time.
fn compose(declared: &ComponentDecl) -> Result<Vec<u8>> {
    let read = |wasm: &Path| {
        ensure!(
            wasm.is_file(),
            "{} does not exist: build the components first (`cargo xtask build`, or `spin build`)",
            wasm.display()
        );
        std::fs::read(wasm).with_context(|| format!("reading {}", wasm.display()))
    };
    let dependencies = declared
        .dependencies
        .iter()
        .map(|dependency| {
            Ok(spin_compose::Dependency {
                name: dependency.name.clone(),
                export: dependency.export.clone(),
                wasm: read(&dependency.path)?,
            })
        })
        .collect::<Result<_>>()?;
    spin_compose::compose(&declared.id, read(&declared.source)?, dependencies)
}

/// The loaded apps: at most one serves HTTP (one listener, as one `spin up` has), any number
/// subscribe to Redis.
pub struct Runtime {
    http: Option<Arc<HttpTrigger>>,
    redis: Vec<RedisTrigger>,
}

impl Runtime {
    /// Reads each manifest, resolves its variables and compiles its components (or takes
    /// them from `cache`).
    pub fn load(
        manifests: &[PathBuf],
        providers: &VariableProviders,
        cache: &CompilationCache,
    ) -> Result<Runtime> {
        ensure!(!manifests.is_empty(), "no app manifest (spin.toml) given");
        // TLS to Redis (`rediss://`) trusts the system's CAs, or `SSL_CERT_FILE`, as Spin's
        // does. The provider may already be installed: by an earlier load in this process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let engine = engine::new(cache)?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker)?;
        let mut http: Option<Arc<HttpTrigger>> = None;
        let mut redis = Vec::new();
        let mut declared_variables = BTreeSet::new();
        for path in manifests {
            let (app_http, app_redis, variables) = load_app(&linker, path, providers)
                .with_context(|| format!("loading the app {}", path.display()))?;
            if let Some(app_http) = app_http {
                if http.is_some() {
                    bail!(
                        "more than one app has HTTP routes ({} is the second); spin-local serves one HTTP app, like one `spin up`",
                        path.display()
                    );
                }
                http = Some(Arc::new(app_http));
            }
            redis.extend(app_redis);
            declared_variables.extend(variables);
        }
        for flag in providers.flag_names() {
            if !declared_variables.contains(flag) {
                eprintln!("warning: --variable {flag} is not a variable of any app; it is ignored");
            }
        }
        Ok(Runtime { http, redis })
    }

    pub fn serves_http(&self) -> bool {
        self.http.is_some()
    }

    /// What is served and subscribed, for the start-up summary.
    pub fn summary(&self, base_url: &str) -> Vec<String> {
        let mut lines = Vec::new();
        if let Some(http) = &self.http {
            lines.extend(http.summary(base_url));
        }
        for trigger in &self.redis {
            lines.extend(trigger.summary());
        }
        lines
    }

    /// Runs every trigger until `shutdown` completes, or until a Redis trigger fails: then the
    /// others stop too and its error is returned, as a `spin up` whose trigger exits ends (Spin's
    /// `src/commands/up.rs`: "A trigger exited unexpectedly. Terminating."; the shim likewise ends
    /// the container when any trigger does). `listener` is where the HTTP app is served; it is
    /// required when an app has HTTP routes.
    pub async fn run(
        self,
        listener: Option<TcpListener>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<()> {
        // The subscriptions run on a thread of their own, as a Redis-triggered app runs in a
        // `spin up` process of its own: its messages, handled one at a time as Spin does, do
        // not wait in the HTTP app's task queues behind its requests.
        let subscriber = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("redis-trigger")
            .enable_all()
            .build()
            .context("starting the Redis trigger's thread")?;
        let subscriptions: Vec<_> = self
            .redis
            .into_iter()
            .map(|trigger| subscriber.spawn(trigger.run()))
            .collect();
        let aborts: Vec<_> = subscriptions.iter().map(|s| s.abort_handle()).collect();
        let first_failure = async {
            if subscriptions.is_empty() {
                return std::future::pending().await;
            }
            match futures_util::future::select_all(subscriptions).await.0 {
                Ok(Ok(never)) => match never {},
                Ok(Err(error)) => error,
                Err(panicked) => anyhow::Error::from(panicked).context("the Redis trigger failed"),
            }
        };
        let serve = async {
            match (self.http, listener) {
                (Some(http), Some(listener)) => http.serve(listener, shutdown).await,
                (Some(_), None) => bail!("an app has HTTP routes but there is no listener"),
                (None, _) => {
                    shutdown.await;
                    Ok(())
                }
            }
        };
        let outcome = tokio::select! {
            served = serve => served,
            failure = first_failure => Err(failure),
        };
        for abort in aborts {
            abort.abort();
        }
        subscriber.shutdown_background();
        outcome
    }
}

type LoadedApp = (Option<HttpTrigger>, Vec<RedisTrigger>, Vec<String>);

fn load_app(
    linker: &Linker<HostState>,
    path: &Path,
    providers: &VariableProviders,
) -> Result<LoadedApp> {
    let manifest = Manifest::load(path)?;
    let variables = Arc::new(AppVariables::resolve(&manifest.variables, providers)?);
    let mut components = HashMap::new();
    for (id, declared) in &manifest.components {
        let component = LoadedComponent::load(linker, &manifest.name, declared, &variables)
            .with_context(|| format!("component {id:?}"))?;
        components.insert(id.clone(), component);
    }
    let http = if manifest.http_routes.is_empty() {
        None
    } else {
        Some(HttpTrigger::new(&manifest, &components)?)
    };
    let redis = RedisTrigger::for_app(&manifest, &components, &variables)?;
    Ok((http, redis, manifest.variables.into_keys().collect()))
}
