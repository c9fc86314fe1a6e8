//! One model of a Spin app, in the layers Spin builds it in: the manifest (`spin.toml`, version
//! 2; Spin's `crates/manifest`), its templates and variable providers (`crates/expressions`,
//! `crates/variables`), and the locked app (`crates/locked-app`), the form every host runs.
//!
//! [`Manifest::load`] reads and checks a manifest, refusing by name what this project's tools
//! cannot honour; [`Manifest::lock`] turns it into a [`LockedApp`] as Spin's local loader does
//! (content as `file://` URLs, dependencies listed). `spin-local` runs that locked app;
//! `spin-oci` composes its dependencies and replaces its content with registry digests before
//! pushing it, as `spin registry push` does. Nothing here needs wasmtime.

pub mod dependencies;
pub mod locked;
mod manifest;
pub mod template;
pub mod variables;

pub use dependencies::{DeclaredDependency, DependencyName};
pub use locked::{ContentRef, LockedApp, LockedComponent, LockedTrigger, LockedVariable};
pub use manifest::{
    Application, Component, ComponentSource, FilesMount, Manifest, Trigger, Variable,
    check_variable_name, without_dependencies,
};
pub use template::Template;
pub use variables::{ResolvedVariables, VariableProviders, environment_name};
