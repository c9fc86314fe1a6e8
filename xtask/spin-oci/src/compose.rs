//! Each component composed with its `dependencies` before packing, as `spin registry push` does
//! by default since Spin 3.1 (spinframework/spin#2996): containerd-shim-spin does not compose
//! dependencies, so what is pushed carries none. The shim's Spin (3.6.3) must be able to link
//! what the composition imports, which is checked here.

use anyhow::{Context, Result, bail};
use spin_manifest::LockedComponent;

/// The component's wasm as it is pushed: its dependencies composed in (the wasm as built when it
/// has none), checked to run on the shim's Spin.
pub fn pushed_wasm(component: &LockedComponent) -> Result<Vec<u8>> {
    let composed = spin_compose::compose_component(component)?;
    if !component.dependencies.is_empty() {
        check_host_imports(&composed)
            .with_context(|| format!("component `{}`, composed", component.id))?;
    }
    Ok(composed)
}

/// Fails naming every import of `wasm` that the shim's Spin 3.6.3 does not provide.
pub fn check_host_imports(wasm: &[u8]) -> Result<()> {
    let missing: Vec<String> = spin_compose::imports(wasm)?
        .into_iter()
        .filter(|import| !provided_by_spin_3_6(import))
        .collect();
    if !missing.is_empty() {
        bail!(
            "it imports what containerd-shim-spin's Spin 3.6.3 does not provide: {}",
            missing.join(", ")
        );
    }
    Ok(())
}

/// Whether Spin 3.6.3's `platform` world (its wit/world.wit) provides the interface `import`
/// (`package/interface@version`) without an unstable feature: WASI 0.2 (any 0.2.x release; the
/// 0.3 release candidates are feature-gated there), `fermyon:spin` (unversioned and 2.0.0),
/// `spin:postgres` 3.0.0 and 4.0.0, `spin:sqlite` 3.0.0, `wasi:keyvalue` 0.2.0-draft2 and
/// `wasi:config` 0.2.0-draft-2024-09-27.
pub fn provided_by_spin_3_6(import: &str) -> bool {
    let (name, version) = import.split_once('@').unwrap_or((import, ""));
    let Some((package, _interface)) = name.split_once('/') else {
        return false;
    };
    match package {
        "wasi:keyvalue" => version == "0.2.0-draft2",
        "wasi:config" => version == "0.2.0-draft-2024-09-27",
        _ if package.starts_with("wasi:") => semver::Version::parse(version)
            .is_ok_and(|v| v.major == 0 && v.minor == 2 && v.pre.is_empty()),
        "fermyon:spin" => version.is_empty() || version == "2.0.0",
        "spin:postgres" => version == "3.0.0" || version == "4.0.0",
        "spin:sqlite" => version == "3.0.0",
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_3_6_provides_wasi_0_2_and_fermyon_spin_2_only() {
        for provided in [
            "wasi:io/streams@0.2.0",
            "wasi:cli/environment@0.2.6",
            "wasi:http/types@0.2.3",
            "fermyon:spin/redis@2.0.0",
            "fermyon:spin/variables@2.0.0",
            "fermyon:spin/redis",
            "spin:postgres/postgres@4.0.0",
            "wasi:keyvalue/store@0.2.0-draft2",
            "wasi:config/store@0.2.0-draft-2024-09-27",
        ] {
            assert!(provided_by_spin_3_6(provided), "{provided}");
        }
        for missing in [
            "wasi:http/types@0.3.0-rc-2026-03-15",
            "wasi:http/types@0.3.0-rc-2026-01-06",
            "wasi:cli/environment@0.3.0",
            "wasi:io/streams@0.2.0-rc-2023-11-10x",
            "spin:redis/redis@3.0.0",
            "fermyon:spin/redis@3.0.0",
            "order-system:fulfilment/fulfil@0.2.0",
            "wasi:http/types",
            "fulfil",
        ] {
            assert!(!provided_by_spin_3_6(missing), "{missing}");
        }
    }
}
