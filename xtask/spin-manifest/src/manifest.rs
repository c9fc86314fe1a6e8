//! The Spin application manifest (`spin.toml`, manifest version 2; Spin's
//! `crates/manifest/src/schema/v2.rs`): the part of its schema this project's tools honour, with
//! Spin's checks. A field Spin knows but no tool here can honour faithfully is refused by name
//! rather than dropped, so an app never runs or ships differently than under Spin; what only one
//! tool cannot do (a host without file mounts, say) that tool refuses when it reads the locked
//! app. Templates are checked by the host that resolves them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::dependencies::{self, DeclaredDependency};

/// A loaded, checked manifest.
#[derive(Debug)]
pub struct Manifest {
    /// The manifest's directory: relative paths in it are relative to this.
    pub dir: PathBuf,
    pub application: Application,
    pub variables: BTreeMap<String, Variable>,
    /// Trigger type → its triggers, in file order.
    pub triggers: BTreeMap<String, Vec<Trigger>>,
    /// Component id → component. Spin keeps file order; the locked app sorts by id, which no
    /// reader of a locked app depends on.
    pub components: BTreeMap<String, Component>,
}

/// `[application]`.
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
    /// Application-wide settings per trigger type, e.g. `[application.trigger.redis] address`.
    #[serde(default, rename = "trigger")]
    pub trigger_global_configs: BTreeMap<String, toml::Table>,
    // Accepted, but for `spin build`, `spin deploy` and other tools: not part of a locked app.
    #[serde(default, rename = "targets")]
    _targets: IgnoredAny,
    #[serde(default, rename = "tool")]
    _tool: IgnoredAny,
}

/// An application variable from `[variables]`: `required`, or with a `default`.
#[derive(Clone, Debug, Deserialize)]
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

/// One `[[trigger.<type>]]` entry; its component is checked to be a defined one.
#[derive(Debug, Deserialize)]
pub struct Trigger {
    #[serde(default)]
    pub id: String,
    #[serde(rename = "component", default)]
    component: Option<toml::Value>,
    /// Everything else is trigger-type specific (`route`, `executor`, `address`, `channel`…).
    #[serde(flatten)]
    pub config: toml::Table,
}

/// A component's `source`.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
enum ComponentSource {
    /// A wasm file, relative to the manifest's directory.
    Local(String),
    /// Any other form (`{ url, digest }`, `{ registry, package, version }`): refused at load.
    Remote(toml::Table),
}

/// `[component.<id>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    #[serde(rename = "source")]
    raw_source: ComponentSource,
    #[serde(default)]
    pub description: String,
    /// Component variables: name → template over application variables.
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub files: Vec<FilesMount>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    /// Read by `spin build`; kept in the locked app's metadata, as Spin keeps it.
    #[serde(default)]
    pub build: Option<toml::Table>,
    #[serde(default, rename = "tool")]
    _tool: IgnoredAny,
    #[serde(default)]
    dependencies_inherit_configuration: Option<bool>,
    #[serde(default, rename = "dependencies")]
    raw_dependencies: toml::Table,
    /// `[component.<id>.dependencies]`, checked; paths as written (relative to the manifest's
    /// directory).
    #[serde(skip)]
    pub dependencies: Vec<DeclaredDependency>,
}

/// One entry of a component's `files`: a path relative to the manifest, or a placement.
#[derive(Clone, Debug, Deserialize)]
#[serde(untagged)]
pub enum FilesMount {
    Path(String),
    Placement { source: String, destination: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    /// Checked before the rest is read.
    #[serde(rename = "spin_manifest_version")]
    _spin_manifest_version: IgnoredAny,
    application: Application,
    #[serde(default)]
    variables: BTreeMap<String, Variable>,
    #[serde(rename = "trigger", default)]
    triggers: BTreeMap<String, Vec<Trigger>>,
    #[serde(rename = "component", default)]
    components: BTreeMap<String, Component>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`. `tool` names the program in refusals of what
    /// it cannot do (e.g. "which <tool> does not compose").
    pub fn load(path: &Path, tool: &str) -> Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Manifest::parse(&text, path, tool).with_context(|| format!("loading {}", path.display()))
    }

    /// Parses and checks manifest text; `path` is where it lives (relative paths are resolved
    /// against its directory).
    pub fn parse(text: &str, path: &Path, tool: &str) -> Result<Manifest> {
        // The version first: a version-1 manifest fails the version-2 schema in confusing ways.
        let table: toml::Table = toml::from_str(text)?;
        let version = table
            .get("spin_manifest_version")
            .context("spin_manifest_version is missing: it must be 2")?;
        ensure!(
            version.as_integer() == Some(2),
            "spin_manifest_version must be 2 (only 2 is supported), not {version}"
        );
        let raw: RawManifest = table.try_into()?;
        let mut manifest = Manifest {
            dir: path.parent().unwrap_or(Path::new(".")).to_path_buf(),
            application: raw.application,
            variables: raw.variables,
            triggers: raw.triggers,
            components: raw.components,
        };
        manifest.check(tool)?;
        Ok(manifest)
    }

    fn check(&mut self, tool: &str) -> Result<()> {
        for (name, variable) in &self.variables {
            check_variable_name(name)?;
            ensure!(
                variable.required ^ variable.default.is_some(),
                "variable `{name}` must be `required` or have a `default`, not both or neither"
            );
        }
        for (trigger_type, triggers) in &self.triggers {
            for trigger in triggers {
                let id = match &trigger.component {
                    Some(toml::Value::String(id)) => id,
                    Some(_) => bail!(
                        "a `{trigger_type}` trigger must name its component by id: inline component definitions are not supported by {tool}; define the component in `[component.<id>]`"
                    ),
                    None => bail!("a `{trigger_type}` trigger has no `component`"),
                };
                ensure!(
                    self.components.contains_key(id),
                    "a `{trigger_type}` trigger names component `{id}`, which is not defined"
                );
            }
        }
        for (id, component) in &mut self.components {
            component
                .check()
                .with_context(|| format!("component `{id}`"))?;
            // Its errors name the component themselves.
            component.dependencies = dependencies::parse(
                id,
                &component.raw_dependencies,
                component.dependencies_inherit_configuration,
                tool,
            )?;
        }
        Ok(())
    }
}

impl Trigger {
    /// The id of the component the trigger runs (checked at load to be defined).
    pub fn component_id(&self) -> &str {
        self.component
            .as_ref()
            .and_then(toml::Value::as_str)
            .unwrap_or_default()
    }
}

impl Component {
    /// The wasm file, relative to the manifest's directory (checked at load to be local).
    pub fn source(&self) -> &str {
        match &self.raw_source {
            ComponentSource::Local(path) => path,
            ComponentSource::Remote(_) => "",
        }
    }

    /// Checks the component, its dependencies apart.
    fn check(&self) -> Result<()> {
        if let ComponentSource::Remote(source) = &self.raw_source {
            let what = match source.get("url").and_then(toml::Value::as_str) {
                Some(url) => format!("the URL {url}"),
                None => "a registry package".to_string(),
            };
            bail!(
                "only a local file `source` can be published or run here, not {what}: build remote sources into a local wasm first"
            );
        }
        for name in self.variables.keys() {
            check_variable_name(name)?;
        }
        ensure!(
            self.exclude_files.is_empty(),
            "`exclude_files` is not supported; mount a directory without those files"
        );
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

    /// Whether the component declares `dependencies` (composed into it before it runs).
    pub fn has_dependencies(&self) -> bool {
        !self.dependencies.is_empty()
    }
}

/// Spin's rule for variable names: lower-case ASCII letters, digits and single underscores,
/// starting with a letter and ending with a letter or digit.
pub fn check_variable_name(name: &str) -> Result<()> {
    let bytes = name.as_bytes();
    let valid = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes
            .last()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_')
        && !name.contains("__");
    ensure!(
        valid,
        "invalid variable name {name:?}: use lower-case letters, digits and single underscores, \
         starting with a letter and ending with a letter or digit"
    );
    Ok(())
}

/// Manifest text without any component's `dependencies` and
/// `dependencies_inherit_configuration`: the manifest of an app whose dependencies are composed
/// into its components' wasm (a host that does not compose, like containerd-shim-spin, then
/// runs it).
pub fn without_dependencies(text: &[u8]) -> Result<Vec<u8>> {
    let mut table: toml::Table = toml::from_slice(text)?;
    if let Some(toml::Value::Table(components)) = table.get_mut("component") {
        for (_, component) in components.iter_mut() {
            if let toml::Value::Table(component) = component {
                component.remove("dependencies");
                component.remove("dependencies_inherit_configuration");
            }
        }
    }
    Ok(toml::to_string(&table)?.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("/apps/demo/spin.toml"), "spin-local")
    }

    const MINIMAL: &str = r#"
        spin_manifest_version = 2
        [application]
        name = "demo"
        [variables]
        host = { default = "127.0.0.1" }
        token = { required = true, secret = true }
        [[trigger.http]]
        route = "/api/..."
        component = "api"
        [[trigger.http]]
        route = { private = true }
        component = "api"
        [component.api]
        source = "../../target/api.wasm"
        allowed_outbound_hosts = ["redis://{{ host }}:6379"]
        [component.api.variables]
        token = "Bearer {{ token }}"
        [component.api.build]
        command = "cargo build"
        [component.unused]
        source = "unused.wasm"
    "#;

    #[test]
    fn reads_the_parts_the_tools_use() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.application.name, "demo");
        assert!(manifest.variables["token"].required && manifest.variables["token"].secret);
        assert_eq!(manifest.triggers["http"].len(), 2);
        assert_eq!(
            manifest.triggers["http"][0].config["route"].as_str(),
            Some("/api/...")
        );
        let api = &manifest.components["api"];
        assert_eq!(
            manifest.dir.join(api.source()),
            Path::new("/apps/demo/../../target/api.wasm")
        );
        assert_eq!(api.variables["token"], "Bearer {{ token }}");
    }

    #[test]
    fn rejects_what_spin_rejects_and_what_no_tool_here_can_honour() {
        let cases = [
            (
                MINIMAL.replace("required = true", "required = true, default = \"x\""),
                "must be `required` or have a `default`",
            ),
            (
                MINIMAL.replace("host = {", "Host = {"),
                "invalid variable name \"Host\"",
            ),
            (
                MINIMAL.replace(
                    "component = \"api\"\n        [[",
                    "component = \"nope\"\n        [[",
                ),
                "names component `nope`, which is not defined",
            ),
            (
                MINIMAL.replace(
                    "component = \"api\"\n        [[",
                    "component = { source = \"x.wasm\" }\n        [[",
                ),
                "inline component definitions are not supported by spin-local",
            ),
            (
                MINIMAL.replace("component = \"api\"\n        [[", "\n        [["),
                "a `http` trigger has no `component`",
            ),
            (
                MINIMAL.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "must be 2",
            ),
            (
                // Version 1's own shape: the version is what is wrong, not `[[component]]`.
                "spin_manifest_version = \"1\"\nname = \"x\"\n[[component]]\nid = \"a\"".into(),
                "must be 2 (only 2 is supported), not \"1\"",
            ),
            (
                MINIMAL.replace("name = \"demo\"", "name = \"demo\"\nbogus = 1"),
                "unknown field `bogus`",
            ),
            (
                MINIMAL.replace(
                    "source = \"unused.wasm\"",
                    "source = \"unused.wasm\"\nallowed_http_hosts = [\"x\"]",
                ),
                "unknown field `allowed_http_hosts`",
            ),
            (
                MINIMAL.replace(
                    "source = \"unused.wasm\"",
                    "source = { url = \"https://example.com/u.wasm\", digest = \"sha256:00\" }",
                ),
                "only a local file `source`",
            ),
            (
                MINIMAL.replace(
                    "source = \"unused.wasm\"",
                    "source = \"unused.wasm\"\nexclude_files = [\"x\"]",
                ),
                "`exclude_files` is not supported",
            ),
            (
                MINIMAL.replace(
                    "source = \"unused.wasm\"",
                    "source = \"unused.wasm\"\nfiles = [\"static/*\"]",
                ),
                "globs are not supported",
            ),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(expected), "{expected:?} not in {error}");
        }
    }

    #[test]
    fn reads_both_apps_of_this_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let orders =
            Manifest::load(&root.join("apps/order-processor/spin.toml"), "spin-local").unwrap();
        let routes: Vec<_> = orders.triggers["http"]
            .iter()
            .map(|t| (t.config["route"].as_str().unwrap(), t.component_id()))
            .collect();
        assert_eq!(
            routes,
            [("/order", "receiver"), ("/order/...", "status-provider")]
        );
        let fulfilment = Manifest::load(
            &root.join("apps/fulfilment-processor/spin.toml"),
            "spin-local",
        )
        .unwrap();
        assert_eq!(fulfilment.triggers["redis"].len(), 1);
        assert_eq!(
            fulfilment.triggers["redis"][0].config["channel"].as_str(),
            Some("{{ order_channel }}")
        );
        assert!(fulfilment.variables["redis_password"].secret);
        assert_eq!(fulfilment.components["fulfiller"].dependencies.len(), 1);
    }

    #[test]
    fn variable_names_follow_spins_rule() {
        for good in ["a", "redis_host", "key2", "a_b_c"] {
            check_variable_name(good).unwrap();
        }
        for bad in ["", "_a", "a_", "A", "a__b", "2a", "a-b", "ä"] {
            assert!(check_variable_name(bad).is_err(), "{bad:?}");
        }
    }
}
