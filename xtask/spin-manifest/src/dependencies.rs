//! `[component.<id>.dependencies]` and `dependencies_inherit_configuration` as a Spin manifest
//! (v2) writes them (Spin's crates/manifest/src/schema/v2.rs, `ComponentDependency`), checked.
//! Only local dependencies (`path`) that inherit the component's configuration can be composed
//! here; every other form is refused by name rather than run differently than Spin would.

use std::path::PathBuf;

use anyhow::{Context, Result, bail, ensure};
use serde::Deserialize;

mod name;

pub use name::DependencyName;

/// One checked dependency of a component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredDependency {
    pub name: DependencyName,
    /// The wasm file as written (relative paths are relative to the manifest's directory).
    pub path: PathBuf,
    /// The dependency's export that satisfies the import; the import's own name when `None`.
    pub export: Option<String>,
}

/// The union of Spin's dependency forms, to tell them apart and refuse the ones not composed
/// here by name.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawDependency {
    /// `"foo:bar" = ">= 0.1.0"`: from a registry.
    Version(String),
    Table(RawTable),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    path: Option<PathBuf>,
    version: Option<String>,
    registry: Option<String>,
    package: Option<String>,
    url: Option<String>,
    digest: Option<String>,
    component: Option<String>,
    export: Option<String>,
    inherit_configuration: Option<Inherit>,
}

#[derive(Clone, Deserialize)]
#[serde(untagged)]
enum Inherit {
    All(bool),
    Some(Vec<String>),
}

/// Reads component `component_id`'s `dependencies` table. `inherit` is its
/// `dependencies_inherit_configuration`. `tool` names the program for the refusals.
pub fn parse(
    component_id: &str,
    dependencies: &toml::Table,
    inherit: Option<bool>,
    tool: &str,
) -> Result<Vec<DeclaredDependency>> {
    let mut declared = Vec::new();
    for (key, value) in dependencies {
        let name: DependencyName = key
            .parse()
            .with_context(|| format!("component `{component_id}`: dependency name {key:?}"))?;
        let raw = RawDependency::deserialize(value.clone()).with_context(|| {
            format!("component `{component_id}`: dependency {key:?} is not a dependency")
        })?;
        let table = match raw {
            RawDependency::Version(version) => bail!(
                "component `{component_id}`: dependency {key:?} comes from a registry (version {version:?}), which {tool} does not fetch; build it and name its wasm with `path`"
            ),
            RawDependency::Table(table) => table,
        };
        ensure!(
            inherit.is_none() || table.inherit_configuration.is_none(),
            "component `{component_id}` specifies both `dependencies_inherit_configuration` and per-dependency `inherit_configuration`; use one or the other, as Spin requires"
        );
        let Some(path) = table.path else {
            let form = if table.url.is_some() || table.digest.is_some() {
                "a URL"
            } else if table.component.is_some() {
                "another component of the app"
            } else if table.version.is_some() || table.registry.is_some() || table.package.is_some()
            {
                "a registry"
            } else {
                bail!("component `{component_id}`: dependency {key:?} names no `path`")
            };
            bail!(
                "component `{component_id}`: dependency {key:?} comes from {form}, which {tool} does not compose; build it and name its wasm with `path`"
            );
        };
        if let DependencyName::Package {
            interface: None, ..
        } = &name
        {
            ensure!(
                table.export.is_none(),
                "component `{component_id}`: using an export to satisfy the package dependency {key:?} is not permitted (Spin refuses it too)"
            );
        }
        let inherited = match (inherit, &table.inherit_configuration) {
            (Some(true), _) | (_, Some(Inherit::All(true))) => None,
            (_, Some(Inherit::Some(only))) => Some(format!("inherits only {only:?}")),
            _ => Some("does not inherit the component's configuration".to_string()),
        };
        if let Some(inherited) = inherited {
            bail!(
                "component `{component_id}`: dependency {key:?} {inherited}, so Spin would deny it host capabilities with its deny-all adapter, which {tool} does not apply; set `dependencies_inherit_configuration = true` on the component"
            );
        }
        declared.push(DeclaredDependency {
            name,
            path,
            export: table.export,
        });
    }
    Ok(declared)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str, inherit: Option<bool>) -> Result<Vec<DeclaredDependency>> {
        let table: toml::Table = toml::from_str(toml_text).unwrap();
        super::parse("receiver", &table, inherit, "spin-local")
    }

    #[test]
    fn reads_local_dependencies_that_inherit() {
        let declared = parse(
            r#""order-system:fulfilment/fulfil@0.1.0" = { path = "f.wasm" }
               "foo:bar" = { path = "b.wasm" }
               "plain-name" = { path = "p.wasm", export = "order-system:fulfilment/fulfil@0.1.0" }"#,
            Some(true),
        )
        .unwrap();
        assert_eq!(declared.len(), 3);
        assert_eq!(declared[2].name.to_string(), "plain-name");
        assert_eq!(declared[2].path, PathBuf::from("p.wasm"));
        assert_eq!(
            declared[2].export.as_deref(),
            Some("order-system:fulfilment/fulfil@0.1.0")
        );
        let per_dependency = parse(
            r#""a:b" = { path = "x.wasm", inherit_configuration = true }"#,
            None,
        );
        assert_eq!(per_dependency.unwrap().len(), 1);
    }

    #[test]
    fn refuses_what_it_cannot_compose_by_name() {
        for (text, inherit, needle) in [
            (r#""a:b" = { path = "x.wasm" }"#, None, "deny-all adapter"),
            (
                r#""a:b" = { path = "x.wasm" }"#,
                Some(false),
                "deny-all adapter",
            ),
            (
                r#""a:b" = { path = "x.wasm", inherit_configuration = ["variables"] }"#,
                None,
                "deny-all adapter",
            ),
            (
                r#""a:b" = { path = "x.wasm", inherit_configuration = true }"#,
                Some(true),
                "both",
            ),
            (r#""a:b" = ">= 0.1.0""#, Some(true), "registry"),
            (r#""a:b" = { version = "0.1.0" }"#, Some(true), "registry"),
            (
                r#""a:b" = { url = "https://x/y.wasm", digest = "sha256:00" }"#,
                Some(true),
                "a URL",
            ),
            (
                r#""a:b" = { component = "other" }"#,
                Some(true),
                "another component",
            ),
            (
                r#""a:b" = { path = "x.wasm", export = "c:d/e" }"#,
                Some(true),
                "export",
            ),
            (
                r#""a:b" = { path = "x.wasm", colour = "red" }"#,
                Some(true),
                "not a dependency",
            ),
            (
                r#""A:b" = { path = "x.wasm" }"#,
                Some(true),
                "dependency name",
            ),
        ] {
            let why = format!("{:#}", parse(text, inherit).unwrap_err());
            assert!(
                why.contains(needle) && why.contains("receiver"),
                "{text}: {why}"
            );
        }
    }
}
