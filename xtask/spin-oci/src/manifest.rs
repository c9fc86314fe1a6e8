//! The part of a Spin manifest (v2, `spin.toml`) that goes into a locked app. Component
//! dependencies are composed into their component before packing (see `compose`), as
//! `spin registry push` does. Fields this crate cannot lock faithfully (remote sources,
//! globbed file mounts, dependencies other than local ones) are refused with a message instead
//! of being dropped.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde::de::IgnoredAny;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppManifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: BTreeMap<String, Variable>,
    /// Trigger type → its triggers, in file order.
    #[serde(default, rename = "trigger")]
    pub triggers: BTreeMap<String, Vec<Trigger>>,
    /// Component id → component. Spin keeps file order; the locked app sorts by id (see
    /// `locked`), which no reader of a locked app depends on.
    #[serde(default, rename = "component")]
    pub components: BTreeMap<String, Component>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    /// Application-wide settings per trigger type (`[application.trigger.redis]`).
    #[serde(default, rename = "trigger")]
    pub trigger_global_configs: BTreeMap<String, toml::Table>,
    // Accepted, but for `spin build`/`spin deploy` and other tools: not part of a locked app.
    #[serde(default, rename = "targets")]
    _targets: IgnoredAny,
    #[serde(default, rename = "tool")]
    _tool: IgnoredAny,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Debug, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub component: Option<toml::Value>,
    /// Everything else is trigger-type specific (`route`, `address`, `channel`…).
    #[serde(flatten)]
    pub config: toml::Table,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: toml::Value,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FilesMount>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub build: Option<toml::Table>,
    #[serde(default, rename = "tool")]
    _tool: IgnoredAny,
    #[serde(default)]
    pub dependencies_inherit_configuration: Option<bool>,
    #[serde(default)]
    pub dependencies: toml::Table,
}

/// One entry of a component's `files`: a path relative to the manifest, or a placement.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum FilesMount {
    Path(String),
    Placement { source: String, destination: String },
}

impl AppManifest {
    pub fn load(path: &Path) -> Result<AppManifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let manifest: AppManifest =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        manifest
            .validate()
            .with_context(|| format!("{} cannot be published", path.display()))?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<()> {
        ensure!(
            self.spin_manifest_version == 2,
            "spin_manifest_version is {}, only 2 is supported",
            self.spin_manifest_version
        );
        for (name, variable) in &self.variables {
            ensure!(
                variable.required ^ variable.default.is_some(),
                "variable `{name}` must be `required` or have a `default`, not both or neither"
            );
        }
        for (trigger_type, triggers) in &self.triggers {
            for trigger in triggers {
                let id = trigger.component_id().with_context(|| {
                    format!("a `{trigger_type}` trigger must name its component by id")
                })?;
                ensure!(
                    self.components.contains_key(id),
                    "a `{trigger_type}` trigger names component `{id}`, which is not defined"
                );
            }
        }
        for (id, component) in &self.components {
            component
                .validate()
                .with_context(|| format!("component `{id}`"))?;
            component.dependencies(id)?;
        }
        Ok(())
    }
}

impl Trigger {
    pub fn component_id(&self) -> Option<&str> {
        self.component.as_ref().and_then(toml::Value::as_str)
    }
}

impl Component {
    /// The wasm file, relative to the manifest's directory.
    pub fn local_source(&self) -> Result<&str> {
        self.source.as_str().context(
            "only a local file `source` can be published; build remote sources into a local wasm first",
        )
    }

    /// Its `dependencies`, checked; paths as written (relative to the manifest's directory).
    pub fn dependencies(&self, id: &str) -> Result<Vec<spin_compose::DeclaredDependency>> {
        spin_compose::parse_dependencies(
            id,
            &self.dependencies,
            self.dependencies_inherit_configuration,
            "spin-oci",
        )
    }

    fn validate(&self) -> Result<()> {
        self.local_source()?;
        if !self.exclude_files.is_empty() {
            bail!("`exclude_files` is not supported; mount a directory without those files");
        }
        for mount in &self.files {
            let source = match mount {
                FilesMount::Path(path) => path,
                FilesMount::Placement { source, .. } => source,
            };
            ensure!(
                !source.contains(['*', '?', '[']),
                "file pattern `{source}`: globs are not supported; name a file or a directory"
            );
        }
        Ok(())
    }
}
