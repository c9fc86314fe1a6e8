//! One model of a Spin app, in the layers Spin builds it in: the manifest (`spin.toml`, version
//! 2; Spin's `crates/manifest`), its templates and variable providers (`crates/expressions`,
//! `crates/variables`), and the locked app (`crates/locked-app`), the form every host runs.
//!
//! [`Manifest::load`] reads and checks a manifest, refusing by name what this project's tools
//! cannot honour; [`Manifest::lock`] turns it into a [`LockedApp`] as Spin's local loader does
//! (content as `file://` URLs, dependencies listed). A host runs that locked app; a registry
//! push composes its dependencies and replaces its content with registry digests first, as
//! `spin registry push` does. Nothing here knows those tools, or needs wasmtime.

pub mod dependencies;
pub mod locked;
mod manifest;
pub mod template;
pub mod variables;

pub use dependencies::{DeclaredDependency, DependencyName};
pub use locked::{ContentRef, LockedApp, LockedComponent, LockedTrigger, LockedVariable};
pub use manifest::{
    Application, Component, FilesMount, Manifest, Trigger, Variable, check_variable_name,
    without_dependencies,
};
pub use template::Template;
pub use variables::{ResolvedVariables, VariableProviders};
