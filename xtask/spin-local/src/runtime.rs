//! The runtime, as `spin up` is one: each manifest locked (`spin_manifest`), loaded
//! (crate::app) and handed to its triggers, which then run until shutdown or until one fails.
//! The runtime depends on the triggers, never the reverse.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail, ensure};
use spin_manifest::{LockedApp, Manifest, VariableProviders};
use tokio::net::TcpListener;
use wasmtime::component::Linker;

use crate::app::LoadedApp;
use crate::engine::{self, CompilationCache};
use crate::host;
use crate::triggers::http::HttpTrigger;
use crate::triggers::redis::RedisTrigger;

/// The loaded apps: at most one serves HTTP (one listener, as one `spin up` has), any number
/// subscribe to Redis.
pub struct Runtime {
    http: Option<Arc<HttpTrigger>>,
    redis: Vec<RedisTrigger>,
}

impl Runtime {
    /// Reads and locks each manifest, resolves its variables and compiles its components (or
    /// takes them from `cache`).
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
            let app = Manifest::load(path, "spin-local")
                .and_then(|manifest| manifest.lock())
                .and_then(|locked| {
                    check_trigger_types(&locked)?;
                    LoadedApp::load(&linker, locked, providers)
                })
                .and_then(|app| Ok((HttpTrigger::new(&app)?, RedisTrigger::for_app(&app)?, app)))
                .with_context(|| format!("loading the app {}", path.display()));
            let (app_http, app_redis, app) = app?;
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
            declared_variables.extend(app.locked.variables.into_keys());
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

/// Fails on a trigger type spin-local has no trigger for, before anything is compiled.
fn check_trigger_types(locked: &LockedApp) -> Result<()> {
    for trigger in &locked.triggers {
        let trigger_type = trigger.trigger_type.as_str();
        if ![HttpTrigger::TYPE, RedisTrigger::TYPE].contains(&trigger_type) {
            bail!(
                "trigger type {trigger_type:?} is not supported by spin-local (it runs `http` and `redis` triggers)"
            );
        }
    }
    Ok(())
}
