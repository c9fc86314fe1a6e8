//! The locked app (Spin's `crates/locked-app`, `spin_lock_version` JSON): the form in which
//! every Spin host runs an app. [`Manifest::lock`] builds it from `spin.toml` as Spin's local
//! loader does: content as `file://` URLs, dependencies listed for composition at load. A
//! registry push then composes the dependencies and replaces each content reference by its
//! digest, so `spin up --from` and containerd-shim-spin read the same shape.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::dependencies::DependencyName;
use crate::manifest::{Component, FilesMount, Manifest};

/// Content that is too small to be worth a blob travels inline in the locked app (Spin's
/// threshold; some registries also reject tiny blobs).
pub const INLINE_MAX_BYTES: usize = 128;

#[derive(Clone, Debug, Serialize)]
pub struct LockedApp {
    /// 0 unless the app has host requirements (then 1, with `must_understand`).
    pub spin_lock_version: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub must_understand: Vec<String>,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, LockedVariable>,
    pub triggers: Vec<LockedTrigger>,
    pub components: Vec<LockedComponent>,
}

/// An application variable: `required` when it has no default.
#[derive(Clone, Debug, Serialize)]
pub struct LockedVariable {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// A trigger: its type's configuration, `component` included, as JSON.
#[derive(Clone, Debug, Serialize)]
pub struct LockedTrigger {
    pub id: String,
    pub trigger_type: String,
    pub trigger_config: Value,
}

/// A component: `metadata` holds `description` and `allowed_outbound_hosts` (and the other
/// lists of the manifest), `config` its variables (templates over the app's variables), `env`
/// its environment.
#[derive(Clone, Debug, Serialize)]
pub struct LockedComponent {
    pub id: String,
    #[serde(skip_serializing_if = "Map::is_empty")]
    pub metadata: Map<String, Value>,
    pub source: LockedSource,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<ContentPath>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Composed into the component before it runs; a pushed app has none left.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<DependencyName, LockedDependency>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub host_requirements: BTreeMap<String, String>,
}

/// A dependency of a component, as Spin's `LockedComponentDependency`.
#[derive(Clone, Debug, Serialize)]
pub struct LockedDependency {
    pub source: LockedSource,
    /// The dependency's export that satisfies the import; the import's own name when `None`
    /// (written as `null`, as Spin writes it).
    pub export: Option<String>,
    pub inherit: InheritConfiguration,
}

/// Which of its component's configuration a dependency inherits, as Spin's
/// `InheritConfiguration` serializes it. Always all of it here: the manifest refuses the other
/// kinds, which Spin would run behind its deny-all adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum InheritConfiguration {
    All,
}

/// The host requirement of a component that calls others through `*.spin.internal`.
const SERVICE_CHAINING: &str = "local_service_chaining";

#[derive(Clone, Debug, Serialize)]
pub struct LockedSource {
    pub content_type: String,
    #[serde(flatten)]
    pub content: ContentRef,
}

/// A file (or, locally, a directory) a component sees, at `path` relative to its mount root.
#[derive(Clone, Debug, Serialize)]
pub struct ContentPath {
    #[serde(flatten)]
    pub content: ContentRef,
    pub path: String,
}

/// Where content lives: a `file://` URL locally; a registry blob by digest once pushed, with
/// the bytes themselves when small.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ContentRef {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_base64"
    )]
    pub inline: Option<Vec<u8>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl ContentRef {
    /// A registry blob's reference: its digest, and its bytes when at most [`INLINE_MAX_BYTES`].
    pub fn for_blob(data: &[u8], digest: String) -> ContentRef {
        ContentRef {
            source: None,
            inline: (data.len() <= INLINE_MAX_BYTES).then(|| data.to_vec()),
            digest: Some(digest),
        }
    }

    /// A file or directory on this machine.
    pub fn for_path(path: &Path) -> Result<ContentRef> {
        let absolute =
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
        let url = url::Url::from_file_path(&absolute)
            .map_err(|()| anyhow::anyhow!("{} is not a file path", absolute.display()))?;
        Ok(ContentRef {
            source: Some(url.into()),
            ..ContentRef::default()
        })
    }

    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
    }

    /// The file a `file://` source names.
    pub fn local_path(&self) -> Result<std::path::PathBuf> {
        let source = self
            .source
            .as_deref()
            .context("the content has no source")?;
        url::Url::parse(source)
            .ok()
            .filter(|url| url.scheme() == "file")
            .and_then(|url| url.to_file_path().ok())
            .with_context(|| format!("{source} is not a file URL"))
    }

    /// The content's bytes: inline, or read from its `file://` source. `what` names it in
    /// errors, e.g. "component `api`".
    pub fn read(&self, what: &str) -> Result<Vec<u8>> {
        if let Some(inline) = &self.inline {
            return Ok(inline.clone());
        }
        let path = self
            .local_path()
            .with_context(|| format!("{what}: its content is not on this machine"))?;
        if path.is_dir() {
            bail!("{what}: {} is a directory, not a wasm file", path.display());
        }
        if !path.is_file() {
            bail!(
                "{what}: reading {}: it does not exist: build the components first (`cargo xtask build`, or `spin build`)",
                path.display()
            );
        }
        std::fs::read(&path).with_context(|| format!("{what}: reading {}", path.display()))
    }
}

fn serialize_base64<S: serde::Serializer>(
    bytes: &Option<Vec<u8>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use base64::Engine;
    let bytes = bytes.as_deref().unwrap_or_default();
    serializer.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl Manifest {
    /// The locked app, as Spin's local loader builds it: each component's wasm, dependencies
    /// and mounted files as `file://` URLs.
    pub fn lock(&self) -> Result<LockedApp> {
        lock(self)
    }
}

impl LockedApp {
    /// The app's `name` from its metadata.
    pub fn name(&self) -> &str {
        self.metadata_str("name")
    }

    /// A string of the app's metadata (`name`, `version`, `description`); empty when unset.
    pub fn metadata_str(&self, key: &str) -> &str {
        metadata_str(&self.metadata, key)
    }

    /// A string setting of `[application.trigger.<trigger_type>]`, from the metadata.
    pub fn trigger_setting(&self, trigger_type: &str, key: &str) -> Option<&str> {
        self.metadata
            .get("triggers")?
            .get(trigger_type)?
            .get(key)?
            .as_str()
    }
}

impl LockedComponent {
    /// A list of the component's metadata (e.g. `allowed_outbound_hosts`); empty when unset.
    pub fn metadata_list(&self, key: &str) -> Vec<String> {
        self.metadata
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|value| value.as_str().map(str::to_string))
            .collect()
    }

    /// The component's `description`; empty when unset.
    pub fn description(&self) -> &str {
        metadata_str(&self.metadata, "description")
    }
}

/// A string of `metadata`; empty when unset.
fn metadata_str<'a>(metadata: &'a Map<String, Value>, key: &str) -> &'a str {
    metadata
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn lock(manifest: &Manifest) -> Result<LockedApp> {
    let variables = manifest
        .variables
        .iter()
        .map(|(name, variable)| {
            let locked = LockedVariable {
                description: variable.description.clone(),
                default: variable.default.clone(),
                secret: variable.secret,
            };
            (name.clone(), locked)
        })
        .collect();

    let components = manifest
        .components
        .iter()
        .map(|(id, component)| lock_component(&manifest.dir, id, component))
        .collect::<Result<Vec<LockedComponent>>>()?;
    // Hosts that lack a feature a component requires must refuse the app, not misrun it.
    let has_requirements = components
        .iter()
        .any(|component| !component.host_requirements.is_empty());

    Ok(LockedApp {
        spin_lock_version: u32::from(has_requirements),
        must_understand: has_requirements
            .then(|| "component_host_requirements".to_string())
            .into_iter()
            .collect(),
        metadata: app_metadata(manifest)?,
        variables,
        triggers: lock_triggers(manifest)?,
        components,
    })
}

fn app_metadata(manifest: &Manifest) -> Result<Map<String, Value>> {
    let application = &manifest.application;
    let mut metadata = Map::new();
    insert_string(&mut metadata, "name", &application.name);
    insert_string(&mut metadata, "version", &application.version);
    insert_string(&mut metadata, "description", &application.description);
    insert_list(&mut metadata, "authors", &application.authors);
    metadata.insert(
        "triggers".into(),
        serde_json::to_value(&application.trigger_global_configs)?,
    );
    // With a single trigger type, hosts read its settings and type from `trigger`.
    if let [trigger_type] = manifest.triggers.keys().collect::<Vec<_>>()[..] {
        let mut single = application
            .trigger_global_configs
            .get(trigger_type)
            .map(serde_json::to_value)
            .transpose()?
            .and_then(|value| value.as_object().cloned())
            .unwrap_or_default();
        single.insert("type".into(), trigger_type.clone().into());
        metadata.insert("trigger".into(), single.into());
    }
    Ok(metadata)
}

/// Triggers in manifest order; one without an `id` gets Spin's `<component>-<type>-trigger`.
fn lock_triggers(manifest: &Manifest) -> Result<Vec<LockedTrigger>> {
    let mut taken: Vec<String> = manifest
        .triggers
        .values()
        .flatten()
        .map(|trigger| trigger.id.clone())
        .filter(|id| !id.is_empty())
        .collect();
    let mut locked = Vec::new();
    for (trigger_type, triggers) in &manifest.triggers {
        let mut counter = 1;
        for trigger in triggers {
            let component = trigger.component_id();
            let id = if !trigger.id.is_empty() {
                trigger.id.clone()
            } else {
                let preferred = format!("{component}-{trigger_type}-trigger");
                let id = if taken.contains(&preferred) {
                    loop {
                        let candidate = format!("{trigger_type}-trigger{counter}");
                        counter += 1;
                        if !taken.contains(&candidate) {
                            break candidate;
                        }
                    }
                } else {
                    preferred
                };
                taken.push(id.clone());
                id
            };
            let mut config = serde_json::to_value(&trigger.config)?;
            if let Some(object) = config.as_object_mut() {
                object.insert("component".into(), component.into());
            }
            locked.push(LockedTrigger {
                id,
                trigger_type: trigger_type.clone(),
                trigger_config: config,
            });
        }
    }
    Ok(locked)
}

fn lock_component(dir: &Path, id: &str, component: &Component) -> Result<LockedComponent> {
    let wasm = |path: &str| -> Result<LockedSource> {
        Ok(LockedSource {
            content_type: "application/wasm".into(),
            content: ContentRef::for_path(&dir.join(path))?,
        })
    };
    let dependencies = component
        .dependencies
        .iter()
        .map(|dependency| {
            let locked = LockedDependency {
                source: wasm(&dependency.path.to_string_lossy())?,
                export: dependency.export.clone(),
                inherit: InheritConfiguration::All,
            };
            Ok((dependency.name.clone(), locked))
        })
        .collect::<Result<_>>()?;
    let files = component
        .files
        .iter()
        .map(|mount| {
            let (source, destination) = match mount {
                FilesMount::Path(path) => (path, path),
                FilesMount::Placement {
                    source,
                    destination,
                } => (source, destination),
            };
            Ok(ContentPath {
                content: ContentRef::for_path(&dir.join(source))?,
                path: destination.clone(),
            })
        })
        .collect::<Result<_>>()?;
    let mut metadata = Map::new();
    insert_string(&mut metadata, "description", &component.description);
    insert_list(
        &mut metadata,
        "allowed_outbound_hosts",
        &component.allowed_outbound_hosts,
    );
    insert_list(
        &mut metadata,
        "key_value_stores",
        &component.key_value_stores,
    );
    insert_list(&mut metadata, "databases", &component.sqlite_databases);
    insert_list(&mut metadata, "ai_models", &component.ai_models);
    if let Some(build) = &component.build {
        metadata.insert("build".into(), serde_json::to_value(build)?);
    }
    Ok(LockedComponent {
        id: id.into(),
        metadata,
        source: wasm(component.source())?,
        env: component.environment.clone(),
        files,
        config: component.variables.clone(),
        dependencies,
        host_requirements: component
            .allowed_outbound_hosts
            .iter()
            .any(|host| is_service_chaining(host))
            .then(|| (SERVICE_CHAINING.to_string(), "required".to_string()))
            .into_iter()
            .collect(),
    })
}

/// Whether an `allowed_outbound_hosts` entry (`scheme://host[:port][/path]`) names another
/// component of the app: `<component>.spin.internal` or `*.spin.internal`.
fn is_service_chaining(allowed_host: &str) -> bool {
    let authority = allowed_host
        .split_once("://")
        .map_or(allowed_host, |(_, rest)| rest);
    let authority = authority.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host);
    host.split_once('.')
        .is_some_and(|(_, domain)| domain == "spin.internal")
}

fn insert_string(metadata: &mut Map<String, Value>, key: &str, value: &str) {
    if !value.is_empty() {
        metadata.insert(key.into(), value.into());
    }
}

fn insert_list(metadata: &mut Map<String, Value>, key: &str, values: &[String]) {
    if !values.is_empty() {
        metadata.insert(key.into(), values.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest with two triggers of one kind on one component (ids generated as Spin does),
    /// a dependency, a mount and a service-chaining host.
    fn manifest() -> Manifest {
        Manifest::parse(
            r#"
            spin_manifest_version = 2
            [application]
            name = "demo"
            version = "1.2.0"
            [application.trigger.redis]
            address = "redis://localhost:6379"
            [variables]
            channel = { default = "jobs" }
            [[trigger.redis]]
            channel = "{{ channel }}"
            component = "worker"
            [[trigger.redis]]
            channel = "more"
            component = "worker"
            [component.worker]
            source = "target/worker.wasm"
            files = [{ source = "static", destination = "/assets" }]
            allowed_outbound_hosts = ["http://api.spin.internal"]
            dependencies_inherit_configuration = true
            [component.worker.variables]
            channel = "{{ channel }}"
            [component.worker.dependencies]
            "a:b/c" = { path = "deps/c.wasm" }
            "#,
            Path::new("/apps/demo/spin.toml"),
            "test",
        )
        .unwrap()
    }

    #[test]
    fn locks_as_spins_local_loader_does() {
        let locked = manifest().lock().unwrap();
        assert_eq!(
            (locked.name(), locked.metadata_str("version")),
            ("demo", "1.2.0")
        );
        assert_eq!(
            locked.trigger_setting("redis", "address"),
            Some("redis://localhost:6379")
        );
        let ids: Vec<_> = locked.triggers.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["worker-redis-trigger", "redis-trigger1"]);
        assert_eq!(locked.triggers[0].trigger_config["component"], "worker");
        assert_eq!(
            locked.triggers[0].trigger_config["channel"],
            "{{ channel }}"
        );

        let [worker] = &locked.components[..] else {
            panic!("one component")
        };
        let content = &worker.source.content;
        assert_eq!(
            content.source.as_deref(),
            Some("file:///apps/demo/target/worker.wasm")
        );
        assert_eq!(
            (content.digest.as_ref(), content.inline.as_ref()),
            (None, None)
        );
        let dependency = &worker.dependencies[&"a:b/c".parse().unwrap()];
        assert_eq!(
            dependency.source.content.local_path().unwrap(),
            Path::new("/apps/demo/deps/c.wasm")
        );
        let written = serde_json::to_value(&worker.dependencies).unwrap();
        assert_eq!(written["a:b/c"]["inherit"], "All");
        assert_eq!(written["a:b/c"]["export"], Value::Null);
        assert_eq!(worker.files[0].path, "/assets");
        assert_eq!(worker.config["channel"], "{{ channel }}");
        assert_eq!(
            worker.metadata_list("allowed_outbound_hosts"),
            ["http://api.spin.internal"]
        );
        assert_eq!(
            locked.spin_lock_version, 1,
            "service chaining is a host requirement"
        );
    }

    #[test]
    fn content_is_read_inline_or_from_its_file_url() {
        let inline = ContentRef::for_blob(b"tiny", "sha256:00".into());
        assert_eq!(inline.read("x").unwrap(), b"tiny");
        let missing = ContentRef::for_path(Path::new("/no/such/file.wasm")).unwrap();
        let error = format!("{:#}", missing.read("component `a`").unwrap_err());
        assert!(
            error.contains("component `a`: reading /no/such/file.wasm")
                && error.contains("cargo xtask build"),
            "{error}"
        );
        let dir = ContentRef::for_path(Path::new("/")).unwrap();
        let error = format!("{:#}", dir.read("component `a`").unwrap_err());
        assert!(error.contains("is a directory, not a wasm file"), "{error}");
        let remote = ContentRef::for_blob(&[0; INLINE_MAX_BYTES + 1], "sha256:11".into());
        let error = format!("{:#}", remote.read("component `a`").unwrap_err());
        assert!(error.contains("not on this machine"), "{error}");
    }
}
