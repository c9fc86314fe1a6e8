//! An app as spin-local runs it: its locked app — built by `spin_manifest` exactly as for
//! `cargo xtask publish`, before the push turns its content into registry digests — with its
//! variables resolved from the providers and the components its triggers run loaded. Components
//! no trigger runs are not loaded, as in Spin's trigger apps.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{Context, Result};
use spin_manifest::{LockedApp, LockedTrigger, ResolvedVariables, VariableProviders};
use wasmtime::component::Linker;

use crate::component::LoadedComponent;
use crate::host::HostState;

pub struct LoadedApp {
    pub locked: LockedApp,
    pub variables: Arc<ResolvedVariables>,
    /// The components a trigger runs, by id.
    pub components: HashMap<String, LoadedComponent>,
}

impl LoadedApp {
    /// Resolves `locked`'s variables from `providers` and loads the components its triggers
    /// run. Errors: a required variable without a value, a component that does not load
    /// (named).
    pub fn load(
        linker: &Linker<HostState>,
        locked: LockedApp,
        providers: &VariableProviders,
    ) -> Result<LoadedApp> {
        let variables = Arc::new(ResolvedVariables::resolve(&locked.variables, providers)?);
        let used: BTreeSet<&str> = locked.triggers.iter().map(component_of).collect();
        let mut components = HashMap::new();
        for component in locked
            .components
            .iter()
            .filter(|component| used.contains(component.id.as_str()))
        {
            let loaded = LoadedComponent::load(linker, locked.name(), component, &variables)
                .with_context(|| format!("component {:?}", component.id))?;
            components.insert(component.id.clone(), loaded);
        }
        Ok(LoadedApp {
            locked,
            variables,
            components,
        })
    }

    pub fn name(&self) -> &str {
        self.locked.name()
    }

    /// The app's triggers of `trigger_type`, in manifest order.
    pub fn triggers<'a>(
        &'a self,
        trigger_type: &'a str,
    ) -> impl Iterator<Item = &'a LockedTrigger> {
        self.locked
            .triggers
            .iter()
            .filter(move |trigger| trigger.trigger_type == trigger_type)
    }
}

/// The id of the component a trigger runs.
fn component_of(trigger: &LockedTrigger) -> &str {
    trigger.trigger_config["component"]
        .as_str()
        .unwrap_or_default()
}
