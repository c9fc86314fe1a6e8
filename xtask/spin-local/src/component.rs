//! A component as spin-local runs it, as Spin's loader prepares one: the locked component
//! composed with its dependencies (`spin_compose`, the one place composition happens), compiled
//! once at start (or taken from the compilation cache) and pre-instantiated against the host's
//! interfaces, with its configuration resolved. Every request or message then gets a fresh
//! instance, as in Spin.

use std::sync::Arc;

use anyhow::{Context, Result, bail};
use spin_manifest::{LockedComponent, ResolvedVariables};
use wasmtime::Store;
use wasmtime::component::{Component, InstancePre, Linker};

use crate::host::{ComponentConfig, HostState};

/// A compiled, pre-instantiated component with its fixed configuration.
#[derive(Clone)]
pub struct LoadedComponent {
    pub config: Arc<ComponentConfig>,
    pub description: String,
    pub pre: InstancePre<HostState>,
}

/// Locked-component metadata spin-local has no host capability for, with the manifest field
/// that declares it.
const UNSUPPORTED: [(&str, &str); 3] = [
    ("key_value_stores", "key_value_stores"),
    ("databases", "sqlite_databases"),
    ("ai_models", "ai_models"),
];

impl LoadedComponent {
    /// Loads `locked`, a component of app `app` whose variables are `variables`. Errors: a
    /// capability spin-local does not host (by its manifest field), a configuration the host
    /// refuses (`ComponentConfig::new`), a wasm missing or not compiling, an import nothing
    /// provides.
    pub fn load(
        linker: &Linker<HostState>,
        app: &str,
        locked: &LockedComponent,
        variables: &Arc<ResolvedVariables>,
    ) -> Result<LoadedComponent> {
        if !locked.files.is_empty() {
            bail!("`files` is not supported by spin-local");
        }
        if let Some((_, field)) = UNSUPPORTED
            .iter()
            .find(|(key, _)| !locked.metadata_list(key).is_empty())
        {
            bail!("`{field}` is not supported by spin-local");
        }
        let config = ComponentConfig::new(app, locked, variables)?;
        let composed = spin_compose::compose_component(locked)?;
        let component = Component::new(linker.engine(), &composed)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("compiling {}", source_name(locked)))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .context("it imports something spin-local does not provide")?;
        Ok(LoadedComponent {
            config: Arc::new(config),
            description: locked.description().to_string(),
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

/// The component's wasm file, or its source as the locked app names it.
fn source_name(locked: &LockedComponent) -> String {
    let content = &locked.source.content;
    match content.local_path() {
        Ok(path) => path.display().to_string(),
        Err(_) => content.source.clone().unwrap_or_else(|| locked.id.clone()),
    }
}
