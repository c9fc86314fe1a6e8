//! Where things are, read from the files that define them (the workspace and each `spin.toml`),
//! never restated here.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The Rust target every Spin component is built for.
pub const WASM_TARGET: &str = "wasm32-wasip2";

/// The repository root (the workspace of which xtask is a member).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `$CARGO` when run through cargo (the same toolchain), else `cargo`.
pub fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".into())
}

/// `cargo <args>` in the repository root, without the variables cargo set for this program
/// (`dev_services::cargo_program_variables`): every cargo xtask starts then builds with the
/// environment a plain `cargo` in a shell has, and build scripts that watch those variables do
/// not rebuild between them.
pub fn cargo_command<I>(args: I) -> duct::Expression
where
    I: IntoIterator,
    I::Item: Into<std::ffi::OsString>,
{
    dev_services::cargo_program_variables()
        .into_iter()
        .fold(duct::cmd(cargo(), args).dir(root()), |command, name| {
            command.env_remove(name)
        })
}

/// A Spin app: a directory under `apps/` with a `spin.toml`.
#[derive(Clone, Debug)]
pub struct App {
    pub name: String,
    /// Its `spin.toml`.
    pub manifest: PathBuf,
    /// Whether it has HTTP routes (and so listens on an address when run).
    pub serves_http: bool,
    /// Its Redis triggers' channels as written: templates over its variables.
    pub redis_channels: Vec<String>,
    /// Its variables' defaults (required variables have none).
    pub variable_defaults: BTreeMap<String, String>,
    pub components: Vec<Component>,
}

#[derive(Clone, Debug)]
pub struct Component {
    pub id: String,
    /// The crate (and wasm file) name, snake_case.
    pub crate_name: String,
    /// The built wasm, as the manifest's `source` names it.
    pub wasm: PathBuf,
    /// Its `dependencies`: the component wasm each local `path` names, composed into it when
    /// the app is loaded (spin up, spin-local) or published.
    pub dependencies: Vec<Dependency>,
}

/// A component another one depends on (`[component.<id>.dependencies]`), built from this
/// workspace like any component.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dependency {
    /// The name the manifest gives it: the import it satisfies, e.g.
    /// `order-system:fulfilment/fulfil@0.2.0`.
    pub name: String,
    /// The crate (and wasm file) name, snake_case.
    pub crate_name: String,
    pub wasm: PathBuf,
}

/// The crate a built wasm comes from: its file name's stem.
fn crate_of(wasm: &Path) -> Result<String> {
    wasm.file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .with_context(|| format!("{} names no wasm file", wasm.display()))
}

/// Every Spin app in the repository, in name order.
pub fn apps() -> Result<Vec<App>> {
    let apps_dir = root().join("apps");
    let mut apps = Vec::new();
    for entry in
        std::fs::read_dir(&apps_dir).with_context(|| format!("reading {}", apps_dir.display()))?
    {
        let dir = entry?.path();
        let manifest = dir.join("spin.toml");
        if manifest.is_file() {
            apps.push(App::load(&manifest)?);
        }
    }
    apps.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(apps)
}

impl App {
    /// The app whose `spin.toml` is `manifest`, read by `spin_manifest`.
    pub fn load(manifest: &Path) -> Result<App> {
        let parsed = spin_manifest::Manifest::load(manifest, "cargo xtask")?;
        let components = parsed
            .components
            .iter()
            .map(|(id, component)| {
                let wasm = parsed.dir.join(component.source());
                let crate_name = crate_of(&wasm).with_context(|| format!("component {id}"))?;
                let dependencies = component
                    .dependencies
                    .iter()
                    .map(|dependency| {
                        let wasm = parsed.dir.join(&dependency.path);
                        Ok(Dependency {
                            name: dependency.name.to_string(),
                            crate_name: crate_of(&wasm)?,
                            wasm,
                        })
                    })
                    .collect::<Result<_>>()?;
                Ok(Component {
                    id: id.clone(),
                    crate_name,
                    wasm,
                    dependencies,
                })
            })
            .collect::<Result<_>>()?;
        Ok(App {
            name: parsed.application.name.clone(),
            manifest: manifest.to_path_buf(),
            serves_http: parsed.triggers.contains_key("http"),
            redis_channels: parsed
                .triggers
                .get("redis")
                .into_iter()
                .flatten()
                .filter_map(|trigger| trigger.config.get("channel")?.as_str().map(String::from))
                .collect(),
            variable_defaults: parsed
                .variables
                .iter()
                .filter_map(|(name, variable)| Some((name.clone(), variable.default.clone()?)))
                .collect(),
            components,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of every `dependencies` entry in the apps' manifests is one both Spin 3.6.3 (the
    /// shim's) and Spin 4.0.2 (the CLI) accept: a local dependency is exactly `{ path }` (their
    /// `ComponentDependency::Local`; 4.x adds a per-dependency `inherit_configuration` that 3.6.3
    /// refuses as an unknown field), and the configuration is inherited through the
    /// component-level `dependencies_inherit_configuration = true` (a `bool` in 3.6.3, an
    /// `Option<bool>` in 4.0.2; without it Spin plugs its deny-all adapter into the dependency).
    #[test]
    fn dependencies_have_the_shape_spin_3_and_4_both_run() {
        for app in apps().unwrap() {
            let text = std::fs::read_to_string(&app.manifest).unwrap();
            let manifest: toml::Table = toml::from_str(&text).unwrap();
            for (id, component) in manifest["component"].as_table().unwrap() {
                let Some(dependencies) = component.get("dependencies") else {
                    continue;
                };
                assert_eq!(
                    component.get("dependencies_inherit_configuration"),
                    Some(&toml::Value::Boolean(true)),
                    "{id}"
                );
                for (name, dependency) in dependencies.as_table().unwrap() {
                    assert_eq!(name, "order-system:fulfilment/fulfil@0.2.0", "{id}");
                    let keys: Vec<_> = dependency.as_table().unwrap().keys().collect();
                    assert_eq!(keys, ["path"], "{id}: {name}");
                }
            }
        }
    }

    #[test]
    fn finds_both_apps_and_the_contract_components() {
        let apps = apps().unwrap();
        let names: Vec<_> = apps.iter().map(|app| app.name.as_str()).collect();
        assert_eq!(names, ["fulfilment-processor", "order-processor"]);
        let serving: Vec<_> = apps.iter().map(|app| app.serves_http).collect();
        assert_eq!(serving, [false, true]);
        assert_eq!(apps[0].redis_channels, ["{{ order_channel }}"]);
        assert_eq!(apps[0].variable_defaults["order_channel"], "neworders");
        let components: Vec<_> = apps
            .iter()
            .flat_map(|app| app.components.iter())
            .map(|c| (c.id.as_str(), c.crate_name.as_str()))
            .collect();
        assert_eq!(
            components,
            [
                ("fulfiller", "fulfiller"),
                ("receiver", "receiver"),
                ("status-provider", "status_provider")
            ]
        );
        let dependencies: Vec<_> = apps
            .iter()
            .flat_map(|app| app.components.iter())
            .map(|c| {
                let names: Vec<_> = c
                    .dependencies
                    .iter()
                    .map(|d| d.crate_name.as_str())
                    .collect();
                (c.id.as_str(), names)
            })
            .collect();
        assert_eq!(
            dependencies,
            [
                ("fulfiller", vec!["fulfilment"]),
                ("receiver", vec!["fulfilment"]),
                ("status-provider", vec![])
            ]
        );
        for app in &apps {
            for component in &app.components {
                let built_by_cargo = Path::new("target")
                    .join(WASM_TARGET)
                    .join("release")
                    .join(format!("{}.wasm", component.crate_name));
                assert!(
                    component.wasm.ends_with(&built_by_cargo),
                    "{}: {}",
                    component.id,
                    component.wasm.display()
                );
            }
        }
    }
}
