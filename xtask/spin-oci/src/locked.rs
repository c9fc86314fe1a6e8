//! The locked app (Spin's `spin_lock_version` JSON): the form in which a Spin host — `spin up
//! --from`, containerd-shim-spin — reads an app pulled from a registry. Built here from
//! `spin.toml` the way Spin's loader does, with every content reference already resolved to a
//! registry digest by the caller.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::manifest::{AppManifest, Component};

/// Content that is too small to be worth a blob travels inline in the locked app (Spin's
/// threshold; some registries also reject tiny blobs).
pub const INLINE_MAX_BYTES: usize = 128;

#[derive(Debug, Serialize)]
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

#[derive(Debug, Serialize)]
pub struct LockedVariable {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

#[derive(Debug, Serialize)]
pub struct LockedTrigger {
    pub id: String,
    pub trigger_type: String,
    pub trigger_config: Value,
}

#[derive(Debug, Serialize)]
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
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub host_requirements: BTreeMap<String, String>,
}

/// The host requirement of a component that calls others through `*.spin.internal`.
const SERVICE_CHAINING: &str = "local_service_chaining";

#[derive(Debug, Serialize)]
pub struct LockedSource {
    pub content_type: String,
    #[serde(flatten)]
    pub content: ContentRef,
}

/// A file a component sees, at `path` relative to its mount root.
#[derive(Debug, Serialize)]
pub struct ContentPath {
    #[serde(flatten)]
    pub content: ContentRef,
    pub path: String,
}

/// Where content lives: a registry blob by digest, and the bytes themselves when small.
#[derive(Debug, Serialize)]
pub struct ContentRef {
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "serialize_base64"
    )]
    pub inline: Option<Vec<u8>>,
    pub digest: String,
}

impl ContentRef {
    pub fn for_blob(data: &[u8], digest: String) -> ContentRef {
        ContentRef {
            inline: (data.len() <= INLINE_MAX_BYTES).then(|| data.to_vec()),
            digest,
        }
    }

    pub fn is_inline(&self) -> bool {
        self.inline.is_some()
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

/// A component's resolved content: its wasm and the files it mounts.
pub struct ComponentContent {
    pub wasm: ContentRef,
    pub files: Vec<ContentPath>,
}

/// The locked app for `manifest`, with each component's content taken from `content` (by id).
pub fn lock(
    manifest: &AppManifest,
    mut content: BTreeMap<String, ComponentContent>,
) -> Result<LockedApp> {
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
        .map(|(id, component)| {
            let content = content
                .remove(id)
                .with_context(|| format!("no content for component `{id}`"))?;
            lock_component(id, component, content)
        })
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

fn app_metadata(manifest: &AppManifest) -> Result<Map<String, Value>> {
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
fn lock_triggers(manifest: &AppManifest) -> Result<Vec<LockedTrigger>> {
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
            let component = trigger.component_id().unwrap_or_default();
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

fn lock_component(
    id: &str,
    component: &Component,
    content: ComponentContent,
) -> Result<LockedComponent> {
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
        source: LockedSource {
            content_type: "application/wasm".into(),
            content: content.wasm,
        },
        env: component.environment.clone(),
        files: content.files,
        config: component.variables.clone(),
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
