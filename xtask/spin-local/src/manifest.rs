//! The Spin application manifest (`spin.toml`, manifest version 2): the part of its schema that
//! spin-local runs, component `dependencies` included (local ones; see `spin_compose`). Fields Spin accepts but spin-local cannot honour are rejected by name rather
//! than ignored, so an app never silently runs differently here than under `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::template::Template;

/// A loaded, checked manifest.
#[derive(Debug)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub variables: BTreeMap<String, VariableDecl>,
    pub http_routes: Vec<HttpRoute>,
    pub redis_triggers: Vec<RedisTriggerDecl>,
    /// Components that some trigger runs, by id.
    pub components: BTreeMap<String, ComponentDecl>,
}

/// An application variable from `[variables]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(rename = "description", default)]
    pub _description: IgnoredAny,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub secret: bool,
}

/// An `[[trigger.http]]` entry with a routable (non-private) route.
#[derive(Clone, Debug)]
pub struct HttpRoute {
    pub route: String,
    pub component: String,
}

/// A `[[trigger.redis]]` entry; address and channel are templates over application variables.
#[derive(Clone, Debug)]
pub struct RedisTriggerDecl {
    pub component: String,
    pub address: Template,
    pub channel: Template,
}

#[derive(Clone, Debug)]
pub struct ComponentDecl {
    pub id: String,
    /// The wasm file, resolved against the manifest's directory.
    pub source: PathBuf,
    pub description: String,
    /// Component variables: name → template over application variables.
    pub variables: BTreeMap<String, Template>,
    pub environment: BTreeMap<String, String>,
    pub allowed_outbound_hosts: Vec<Template>,
    /// `[component.<id>.dependencies]`, composed into the component at load time as Spin does;
    /// their paths resolved against the manifest's directory.
    pub dependencies: Vec<spin_compose::DeclaredDependency>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: toml::Value,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(rename = "trigger", default)]
    triggers: BTreeMap<String, Vec<toml::Table>>,
    #[serde(rename = "component", default)]
    components: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: String,
    // Accepted as Spin does, but not needed to run the app.
    #[serde(rename = "description", default)]
    _description: IgnoredAny,
    #[serde(rename = "authors", default)]
    _authors: IgnoredAny,
    #[serde(rename = "targets", default)]
    _targets: IgnoredAny,
    /// Application-wide trigger settings, e.g. `[application.trigger.redis] address = …`.
    #[serde(rename = "trigger", default)]
    trigger_settings: BTreeMap<String, toml::Table>,
    #[serde(rename = "tool", default)]
    _tool: IgnoredAny,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: toml::Value,
    #[serde(default)]
    description: String,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    // Read by `spin build` and other tools, not by the runtime.
    #[serde(rename = "build", default)]
    _build: IgnoredAny,
    #[serde(rename = "tool", default)]
    _tool: IgnoredAny,
    #[serde(rename = "targets", default)]
    _targets: IgnoredAny,
    // Spin features spin-local does not implement: parsed only to be refused by name.
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    #[serde(default)]
    allowed_http_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    #[serde(default)]
    ai_models: Vec<String>,
    #[serde(default)]
    dependencies: toml::Table,
    #[serde(default)]
    dependencies_inherit_configuration: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(rename = "id", default)]
    _id: IgnoredAny,
    component: toml::Value,
    route: RawRoute,
    #[serde(default)]
    executor: Option<RawExecutor>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Route(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExecutor {
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRedisTrigger {
    #[serde(rename = "id", default)]
    _id: IgnoredAny,
    component: toml::Value,
    channel: String,
    #[serde(default)]
    address: Option<String>,
}

impl Manifest {
    pub fn load(path: &Path) -> Result<Manifest> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Manifest::parse(&text, path).with_context(|| format!("loading {}", path.display()))
    }

    /// Parses manifest text; relative component sources are resolved against `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Manifest> {
        let raw: RawManifest = toml::from_str(text)?;
        ensure!(
            raw.spin_manifest_version.as_integer() == Some(2),
            "spin_manifest_version must be 2 (spin-local reads manifest version 2 only), not {}",
            raw.spin_manifest_version
        );
        let dir = path.parent().unwrap_or(Path::new("."));
        for (name, variable) in &raw.variables {
            check_variable_name(name)?;
            ensure!(
                variable.required ^ variable.default.is_some(),
                "variable {name:?} must be `required` OR have a `default`"
            );
        }

        let mut http_routes = Vec::new();
        let mut redis_triggers = Vec::new();
        for (kind, triggers) in raw.triggers {
            for trigger in triggers {
                match kind.as_str() {
                    "http" => http_routes.extend(http_route(trigger)?),
                    "redis" => redis_triggers.push(redis_trigger(
                        trigger,
                        raw.application.trigger_settings.get("redis"),
                    )?),
                    other => bail!(
                        "trigger type {other:?} is not supported by spin-local (it runs `http` and `redis` triggers)"
                    ),
                }
            }
        }

        let mut components = BTreeMap::new();
        let used = http_routes
            .iter()
            .map(|route| &route.component)
            .chain(redis_triggers.iter().map(|trigger| &trigger.component));
        for id in used {
            if components.contains_key(id) {
                continue;
            }
            let raw_component = raw.components.get(id).with_context(|| {
                format!("a trigger names component {id:?}, which is not defined")
            })?;
            let component =
                component(id, raw_component, dir).with_context(|| format!("component {id:?}"))?;
            for template in component
                .variables
                .values()
                .chain(&component.allowed_outbound_hosts)
            {
                check_known_variables(template, &raw.variables)?;
            }
            components.insert(id.clone(), component);
        }
        for trigger in &redis_triggers {
            check_known_variables(&trigger.address, &raw.variables)?;
            check_known_variables(&trigger.channel, &raw.variables)?;
        }

        Ok(Manifest {
            name: raw.application.name,
            version: raw.application.version,
            variables: raw.variables,
            http_routes,
            redis_triggers,
            components,
        })
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

fn check_known_variables(
    template: &Template,
    variables: &BTreeMap<String, VariableDecl>,
) -> Result<()> {
    for name in template.variables() {
        ensure!(
            variables.contains_key(name),
            "template {:?} uses {name:?}, which is not an application variable",
            template.to_string()
        );
    }
    Ok(())
}

/// A trigger's `component`: spin-local runs components defined in `[component.<id>]`.
fn component_reference(value: toml::Value) -> Result<String> {
    match value {
        toml::Value::String(id) => Ok(id),
        _ => bail!(
            "inline component definitions in triggers are not supported by spin-local; define the component in `[component.<id>]`"
        ),
    }
}

fn http_route(trigger: toml::Table) -> Result<Option<HttpRoute>> {
    let raw: RawHttpTrigger = trigger.try_into().context("an `[[trigger.http]]` entry")?;
    let component = component_reference(raw.component)?;
    if let Some(executor) = raw.executor {
        ensure!(
            executor.kind == "http",
            "component {component:?}: the {:?} executor is not supported by spin-local (only `http`)",
            executor.kind
        );
    }
    match raw.route {
        RawRoute::Route(route) => Ok(Some(HttpRoute { route, component })),
        // A private endpoint has no route; it is only reachable by service chaining.
        RawRoute::Private { private: true } => Ok(None),
        RawRoute::Private { private: false } => bail!(
            "route must be a string pattern or `{{ private = true }}`: {component:?} has `{{ private = false }}`"
        ),
    }
}

fn redis_trigger(
    trigger: toml::Table,
    app_settings: Option<&toml::Table>,
) -> Result<RedisTriggerDecl> {
    let raw: RawRedisTrigger = trigger.try_into().context("a `[[trigger.redis]]` entry")?;
    let component = component_reference(raw.component)?;
    let default_address = app_settings
        .and_then(|settings| settings.get("address"))
        .and_then(toml::Value::as_str);
    let address = raw.address.as_deref().or(default_address).with_context(|| {
        format!(
            "the Redis trigger for {component:?} has no `address` and there is no `[application.trigger.redis] address`"
        )
    })?;
    Ok(RedisTriggerDecl {
        address: Template::parse(address)?,
        channel: Template::parse(&raw.channel)?,
        component,
    })
}

fn component(id: &str, raw: &RawComponent, dir: &Path) -> Result<ComponentDecl> {
    let unsupported = [
        (
            "files",
            !raw.files.is_empty() || !raw.exclude_files.is_empty(),
        ),
        ("allowed_http_hosts", !raw.allowed_http_hosts.is_empty()),
        ("key_value_stores", !raw.key_value_stores.is_empty()),
        ("sqlite_databases", !raw.sqlite_databases.is_empty()),
        ("ai_models", !raw.ai_models.is_empty()),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, used)| *used) {
        bail!("`{field}` is not supported by spin-local");
    }
    let toml::Value::String(source) = &raw.source else {
        bail!(
            "only a local wasm file is supported as `source` by spin-local, not {}",
            raw.source
        );
    };
    let mut variables = BTreeMap::new();
    for (name, value) in &raw.variables {
        check_variable_name(name)?;
        variables.insert(
            name.clone(),
            Template::parse(value).with_context(|| format!("variable {name:?}"))?,
        );
    }
    if raw.allowed_outbound_hosts == ["insecure:allow-all"] {
        bail!("'insecure:allow-all' is not allowed - use '*://*:*' instead");
    }
    let allowed_outbound_hosts = raw
        .allowed_outbound_hosts
        .iter()
        .map(|host| Template::parse(host))
        .collect::<Result<_>>()?;
    let dependencies = spin_compose::parse_dependencies(
        id,
        &raw.dependencies,
        raw.dependencies_inherit_configuration,
        "spin-local",
    )?
    .into_iter()
    .map(|dependency| spin_compose::DeclaredDependency {
        path: dir.join(&dependency.path),
        ..dependency
    })
    .collect();
    Ok(ComponentDecl {
        id: id.to_string(),
        source: dir.join(source),
        description: raw.description.clone(),
        variables,
        environment: raw.environment.clone(),
        allowed_outbound_hosts,
        dependencies,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Manifest> {
        Manifest::parse(text, Path::new("/apps/demo/spin.toml"))
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
    fn reads_the_parts_spin_local_runs() {
        let manifest = parse(MINIMAL).unwrap();
        assert_eq!(manifest.name, "demo");
        assert!(manifest.variables["token"].required && manifest.variables["token"].secret);
        assert_eq!(
            manifest.http_routes.len(),
            1,
            "private routes are not routed"
        );
        assert_eq!(manifest.http_routes[0].route, "/api/...");
        let api = &manifest.components["api"];
        assert_eq!(api.source, Path::new("/apps/demo/../../target/api.wasm"));
        assert_eq!(api.variables["token"].to_string(), "Bearer {{ token }}");
        assert_eq!(
            manifest.components.keys().collect::<Vec<_>>(),
            ["api"],
            "only components a trigger runs are loaded"
        );
    }

    #[test]
    fn the_redis_address_defaults_to_the_application_setting() {
        let manifest = parse(
            r#"
            spin_manifest_version = 2
            [application]
            name = "demo"
            [application.trigger.redis]
            address = "redis://localhost:6379"
            [[trigger.redis]]
            channel = "jobs"
            component = "worker"
            [[trigger.redis]]
            channel = "other"
            address = "redis://elsewhere:6379"
            component = "worker"
            [component.worker]
            source = "worker.wasm"
            "#,
        )
        .unwrap();
        let addresses: Vec<_> = manifest
            .redis_triggers
            .iter()
            .map(|trigger| trigger.address.to_string())
            .collect();
        assert_eq!(
            addresses,
            ["redis://localhost:6379", "redis://elsewhere:6379"]
        );
    }

    #[test]
    fn rejects_what_spin_rejects_and_what_spin_local_cannot_run() {
        let cases = [
            (
                MINIMAL.replace("required = true", "required = true, default = \"x\""),
                "must be `required` OR have a `default`",
            ),
            (
                MINIMAL.replace("host = {", "Host = {"),
                "invalid variable name \"Host\"",
            ),
            (
                MINIMAL.replace("Bearer {{ token }}", "{{ missing }}"),
                "\"missing\", which is not an application variable",
            ),
            (
                MINIMAL.replace(
                    "component = \"api\"\n        [[",
                    "component = \"nope\"\n        [[",
                ),
                "component \"nope\", which is not defined",
            ),
            (
                MINIMAL.replace(
                    "source = \"../../target/api.wasm\"",
                    "source = \"../../target/api.wasm\"\nkey_value_stores = [\"default\"]",
                ),
                "`key_value_stores` is not supported",
            ),
            (
                MINIMAL.replace(
                    "[[trigger.http]]\n        route = \"/api/...\"",
                    "[[trigger.cron]]\n        route = \"/api/...\"",
                ),
                "trigger type \"cron\" is not supported",
            ),
            (
                MINIMAL.replace("spin_manifest_version = 2", "spin_manifest_version = 1"),
                "must be 2",
            ),
            (
                MINIMAL.replace("name = \"demo\"", "name = \"demo\"\nbogus = 1"),
                "unknown field `bogus`",
            ),
            (
                MINIMAL.replace("[\"redis://{{ host }}:6379\"]", "[\"insecure:allow-all\"]"),
                "insecure:allow-all",
            ),
        ];
        for (text, expected) in cases {
            let error = format!("{:#}", parse(&text).unwrap_err());
            assert!(error.contains(expected), "{expected:?} not in {error}");
        }
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

    #[test]
    fn reads_both_apps_of_this_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let orders = Manifest::load(&root.join("apps/order-processor/spin.toml")).unwrap();
        let routes: Vec<_> = orders
            .http_routes
            .iter()
            .map(|r| (r.route.as_str(), r.component.as_str()))
            .collect();
        assert_eq!(
            routes,
            [("/order", "receiver"), ("/order/...", "status-provider")]
        );
        let fulfilment = Manifest::load(&root.join("apps/fulfilment-processor/spin.toml")).unwrap();
        assert_eq!(fulfilment.redis_triggers.len(), 1);
        assert_eq!(
            fulfilment.redis_triggers[0].channel.to_string(),
            "{{ order_channel }}"
        );
        assert!(fulfilment.variables["redis_password"].secret);
    }
}
