//! `cargo xtask build`: every Spin component (and every component they depend on) for
//! wasm32-wasip2, in release, with its size.

use anyhow::{Context, Result};

use crate::project::{self, WASM_TARGET};
use crate::provision;

/// Build every Spin component for wasm32-wasip2 (release) and print each wasm's size.
#[derive(clap::Args)]
pub struct Build {}

impl Build {
    pub fn run(self) -> Result<()> {
        build_components()?;
        Ok(())
    }
}

/// Builds all components and returns `(component id, wasm path, bytes)` for each.
pub fn build_components() -> Result<Vec<(String, std::path::PathBuf, u64)>> {
    provision::wasm_target()?;
    let apps = project::apps()?;
    let components: Vec<_> = apps.iter().flat_map(|app| &app.components).collect();
    let mut crates: Vec<&str> = components
        .iter()
        .flat_map(|component| {
            let dependencies = component.dependencies.iter().map(|d| d.crate_name.as_str());
            std::iter::once(component.crate_name.as_str()).chain(dependencies)
        })
        .collect();
    crates.sort_unstable();
    crates.dedup();
    let mut args = vec!["build", "--release", "--locked", "--target", WASM_TARGET];
    for name in crates {
        args.extend(["--package", name]);
    }
    project::cargo_command(&args)
        .run()
        .context("building the Spin components for wasm32-wasip2")?;

    let mut built = Vec::new();
    for app in &apps {
        for component in &app.components {
            let bytes = std::fs::metadata(&component.wasm)
                .with_context(|| {
                    format!(
                        "component {} built no {}",
                        component.id,
                        component.wasm.display()
                    )
                })?
                .len();
            println!(
                "{:<22} {:<16} {:>9} bytes ({:.1} KiB)",
                app.name,
                component.id,
                bytes,
                bytes as f64 / 1024.0
            );
            built.push((component.id.clone(), component.wasm.clone(), bytes));
        }
    }
    Ok(built)
}
