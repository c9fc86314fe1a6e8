//! Composing a Spin component with its `dependencies`, as Spin does when it loads an app and
//! `spin registry push` does before pushing (Spin's crates/compose, on the same `wac-graph`):
//! each dependency is matched to the component's imports by name, its export is checked to be
//! a subtype of the import, plugged in, and the component's exports are re-exported. The
//! errors are Spin's, word for word where Spin defines them, so an app fails here as it fails
//! under `spin up`.
//!
//! Dependencies are composed only when they inherit the component's configuration (the
//! manifest refuses the other kind, see `spin_manifest::dependencies`): Spin's deny-all adapter
//! for it is not reproduced.
//!
//! [`compose_component`] is the one place a locked component is composed: spin-local at load,
//! spin-oci before pushing and the benchmark's size figures all call it.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context;
use spin_manifest::{DependencyName, LockedComponent};
use wac_graph::types::{Package, SubtypeChecker};
use wac_graph::{CompositionGraph, EncodeOptions};

/// A locked component's wasm with its `dependencies` composed in, read from their sources
/// (inline, or `file://`); the wasm as built when it has none.
pub fn compose_component(component: &LockedComponent) -> anyhow::Result<Vec<u8>> {
    let id = &component.id;
    let wasm = component
        .source
        .content
        .read(&format!("component `{id}`"))?;
    let dependencies = component
        .dependencies
        .iter()
        .map(|(name, dependency)| {
            Ok(Dependency {
                name: name.clone(),
                export: dependency.export.clone(),
                wasm: dependency
                    .source
                    .content
                    .read(&format!("component `{id}`: dependency '{name}'"))?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    compose(id, wasm, dependencies)
        .with_context(|| format!("component `{id}`: composing its dependencies"))
}

/// A dependency with its component's bytes, ready to compose.
#[derive(Clone, Debug)]
struct Dependency {
    name: DependencyName,
    /// The dependency's export that satisfies the import; the import's own name when `None`.
    export: Option<String>,
    /// A WebAssembly component (binary).
    wasm: Vec<u8>,
}

/// Why a composition failed; the `Display` texts are Spin's `ComposeError`'s.
#[derive(Debug)]
pub enum ComposeError {
    /// No import of the component matches the dependency's name.
    UnmatchedDependencyName {
        component_id: String,
        dependency_name: DependencyName,
    },
    /// Some imports are matched by more than one dependency: (import, dependency names).
    DependencyConflicts {
        component_id: String,
        conflicts: Vec<(String, Vec<DependencyName>)>,
    },
    /// The dependency has no export of the name that should satisfy the import.
    MissingExport {
        dependency_name: DependencyName,
        export_name: String,
        import_name: String,
    },
    /// A component could not be read, or an export does not match its import's type.
    PrepareError(anyhow::Error),
    EncodeError(anyhow::Error),
}

impl fmt::Display for ComposeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ComposeError::UnmatchedDependencyName {
                component_id,
                dependency_name,
            } => write!(
                f,
                "dependency '{dependency_name}' doesn't match any imports of component '{component_id}'"
            ),
            ComposeError::DependencyConflicts {
                component_id,
                conflicts,
            } => {
                let conflicts: Vec<String> = conflicts
                    .iter()
                    .map(|(import, names)| {
                        let names: Vec<String> = names.iter().map(ToString::to_string).collect();
                        format!(
                            "import '{import}' satisfied by dependencies: '{}'",
                            names.join(", ")
                        )
                    })
                    .collect();
                write!(
                    f,
                    "component '{component_id}' has dependency conflicts: {}",
                    conflicts.join("; ")
                )
            }
            ComposeError::MissingExport {
                dependency_name,
                export_name,
                import_name,
            } => write!(
                f,
                "dependency '{dependency_name}' doesn't export '{export_name}' to satisfy import '{import_name}'"
            ),
            ComposeError::PrepareError(_) => {
                write!(f, "an error occurred when preparing dependencies")
            }
            ComposeError::EncodeError(e) => write!(f, "failed to encode composition graph: {e}"),
        }
    }
}

impl std::error::Error for ComposeError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ComposeError::PrepareError(e) | ComposeError::EncodeError(e) => Some(e.as_ref()),
            _ => None,
        }
    }
}

/// Composes `component` (the bytes of component `component_id`) with `dependencies` and returns
/// the composed component; with no dependencies, `component` unchanged. Deterministic: the
/// same inputs give the same bytes. A failure is a [`ComposeError`] (downcast to tell which).
fn compose(
    component_id: &str,
    component: Vec<u8>,
    dependencies: Vec<Dependency>,
) -> anyhow::Result<Vec<u8>> {
    if dependencies.is_empty() {
        return Ok(component);
    }
    let mut graph = CompositionGraph::new();
    let root = Package::from_bytes(component_id, None, component, graph.types_mut())
        .map_err(ComposeError::PrepareError)?;
    let world = root.ty();
    let root_package = graph
        .register_package(root)
        .map_err(|e| ComposeError::PrepareError(e.into()))?;
    let root_instance = graph.instantiate(root_package);
    let imports: Vec<String> = graph.types()[world].imports.keys().cloned().collect();

    // Import name → the dependencies (index, instance, world) that match it.
    let mut matches: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut registered = Vec::new();
    for (index, dependency) in dependencies.iter().enumerate() {
        let mut matched = Vec::new();
        for import in &imports {
            if dependency
                .name
                .matches_import(import)
                .map_err(ComposeError::PrepareError)?
            {
                matched.push(import.clone());
            }
        }
        if matched.is_empty() {
            return Err(ComposeError::UnmatchedDependencyName {
                component_id: component_id.to_string(),
                dependency_name: dependency.name.clone(),
            }
            .into());
        }
        let package = Package::from_bytes(
            dependency.name.package_name(),
            None,
            dependency.wasm.clone(),
            graph.types_mut(),
        )
        .with_context(|| format!("reading dependency '{}'", dependency.name))
        .map_err(ComposeError::PrepareError)?;
        let dependency_world = package.ty();
        let package_id = graph
            .register_package(package)
            .map_err(|e| ComposeError::PrepareError(e.into()))?;
        registered.push((graph.instantiate(package_id), dependency_world));
        for import in matched {
            matches.entry(import).or_default().push(index);
        }
    }
    let conflicts: Vec<(String, Vec<DependencyName>)> = matches
        .iter()
        .filter(|(_, indices)| indices.len() > 1)
        .map(|(import, indices)| {
            let names = indices.iter().map(|&i| dependencies[i].name.clone());
            (import.clone(), names.collect())
        })
        .collect();
    if !conflicts.is_empty() {
        return Err(ComposeError::DependencyConflicts {
            component_id: component_id.to_string(),
            conflicts,
        }
        .into());
    }

    let mut cache = Default::default();
    let mut checker = SubtypeChecker::new(&mut cache);
    let mut arguments = Vec::new();
    for (import, indices) in matches {
        let index = indices[0];
        let dependency = &dependencies[index];
        let (instance, dependency_world) = registered[index];
        let export = dependency.export.clone().unwrap_or_else(|| import.clone());
        let Some(&export_ty) = graph.types()[dependency_world].exports.get(&export) else {
            return Err(ComposeError::MissingExport {
                dependency_name: dependency.name.clone(),
                export_name: export,
                import_name: import,
            }
            .into());
        };
        let import_ty = graph.types()[world].imports[&import];
        checker
            .is_subtype(export_ty, graph.types(), import_ty, graph.types())
            .with_context(|| {
                format!(
                    "dependency '{}' exports '{export}' which is not compatible with import '{import}'",
                    dependency.name
                )
            })
            .map_err(ComposeError::PrepareError)?;
        let node = graph
            .alias_instance_export(instance, &export)
            .map_err(|e| ComposeError::PrepareError(e.into()))?;
        arguments.push((import, node));
    }
    for (import, node) in arguments {
        graph
            .set_instantiation_argument(root_instance, &import, node)
            .map_err(|e| ComposeError::PrepareError(e.into()))?;
    }
    let exports: Vec<String> = graph.types()[world].exports.keys().cloned().collect();
    for export in exports {
        let node = graph
            .alias_instance_export(root_instance, &export)
            .map_err(|e| ComposeError::PrepareError(e.into()))?;
        graph
            .export(node, &export)
            .map_err(|e| ComposeError::PrepareError(e.into()))?;
    }
    Ok(graph
        .encode(EncodeOptions::default())
        .map_err(|e| ComposeError::EncodeError(e.into()))?)
}

/// The names of a component's imports, e.g. `fermyon:spin/redis@2.0.0`, in its order.
pub fn imports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes("component", None, component.to_vec(), graph.types_mut())?;
    Ok(graph.types()[package.ty()]
        .imports
        .keys()
        .cloned()
        .collect())
}

/// The names of a component's exports, in its order.
pub fn exports(component: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes("component", None, component.to_vec(), graph.types_mut())?;
    Ok(graph.types()[package.ty()]
        .exports
        .keys()
        .cloned()
        .collect())
}
