#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Component dependencies composed at load time, as Spin composes them: the apps' receiver and
//! fulfiller with the fulfilment component, and every way a dependency can fail to fit, with
//! Spin's own error texts (spinframework/spin crates/compose, `ComposeError`).

use order_e2e::harness::{load_error, manifest, providers, wasm_dir};

/// An HTTP app whose one component is the apps' receiver with `dependencies` (the body of its
/// `[component.receiver.dependencies]`) and `extra` lines for `[component.receiver]`.
fn receiver_app(extra: &str, dependencies: &str) -> std::path::PathBuf {
    let wasm = wasm_dir();
    manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "compose-test"
        [[trigger.http]]
        route = "/order"
        component = "receiver"
        [component.receiver]
        source = "{receiver}"
        {extra}
        [component.receiver.dependencies]
        {dependencies}
        "#,
        receiver = wasm.join("receiver.wasm").display(),
    ))
}

fn fulfilment() -> String {
    wasm_dir().join("fulfilment.wasm").display().to_string()
}

#[test]
fn the_fulfilment_dependency_composes_by_interface_package_or_version() {
    for name in [
        "order-system:fulfilment/fulfil@0.2.0",
        "order-system:fulfilment/fulfil",
        "order-system:fulfilment",
        "order-system:fulfilment@0.2.0",
    ] {
        let app = receiver_app(
            "dependencies_inherit_configuration = true",
            &format!(r#""{name}" = {{ path = "{}" }}"#, fulfilment()),
        );
        spin_local::Runtime::load(&[app], &providers(&[], &[]), &Default::default())
            .unwrap_or_else(|e| panic!("{name}: {e:#}"));
    }
}

#[test]
fn a_dependency_that_matches_no_import_is_spins_error() {
    let message = load_error(receiver_app(
        "dependencies_inherit_configuration = true",
        &format!(
            r#""order-system:fulfilment/refund" = {{ path = "{}" }}"#,
            fulfilment()
        ),
    ));
    assert!(
        message.contains(
            "dependency 'order-system:fulfilment/refund' doesn't match any imports of component 'receiver'"
        ),
        "{message}"
    );
    let wrong_version = load_error(receiver_app(
        "dependencies_inherit_configuration = true",
        &format!(
            r#""order-system:fulfilment/fulfil@0.1.0" = {{ path = "{}" }}"#,
            fulfilment()
        ),
    ));
    assert!(
        wrong_version.contains("doesn't match any imports"),
        "{wrong_version}"
    );
}

#[test]
fn a_dependency_without_the_export_is_spins_error() {
    // The status-provider exports an HTTP handler, not the fulfilment interface.
    let other = wasm_dir().join("status_provider.wasm");
    let message = load_error(receiver_app(
        "dependencies_inherit_configuration = true",
        &format!(
            r#""order-system:fulfilment/fulfil@0.2.0" = {{ path = "{}" }}"#,
            other.display()
        ),
    ));
    assert!(
        message.contains(
            "dependency 'order-system:fulfilment/fulfil@0.2.0' doesn't export 'order-system:fulfilment/fulfil@0.2.0' to satisfy import 'order-system:fulfilment/fulfil@0.2.0'"
        ),
        "{message}"
    );
}

#[test]
fn an_export_of_another_type_is_refused_as_incompatible() {
    let other = wasm_dir().join("status_provider.wasm");
    let message = load_error(receiver_app(
        "dependencies_inherit_configuration = true",
        &format!(
            r#""order-system:fulfilment/fulfil@0.2.0" = {{ path = "{}", export = "wasi:http/incoming-handler@0.2.0" }}"#,
            other.display()
        ),
    ));
    assert!(
        message.contains("an error occurred when preparing dependencies")
            && message.contains(
                "exports 'wasi:http/incoming-handler@0.2.0' which is not compatible with import 'order-system:fulfilment/fulfil@0.2.0'"
            ),
        "{message}"
    );
}

#[test]
fn a_dependency_that_would_be_denied_its_capabilities_is_refused() {
    let message = load_error(receiver_app(
        "",
        &format!(
            r#""order-system:fulfilment/fulfil@0.2.0" = {{ path = "{}" }}"#,
            fulfilment()
        ),
    ));
    assert!(
        message.contains("deny-all adapter")
            && message.contains("dependencies_inherit_configuration = true"),
        "{message}"
    );
}

#[test]
fn without_its_dependency_the_receiver_has_an_import_nothing_provides() {
    let app = manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "compose-test"
        [[trigger.http]]
        route = "/order"
        component = "receiver"
        [component.receiver]
        source = "{}"
        "#,
        wasm_dir().join("receiver.wasm").display()
    ));
    let message = load_error(app);
    assert!(
        message.contains("order-system:fulfilment/fulfil@0.2.0"),
        "{message}"
    );
}

#[test]
fn components_that_never_call_fulfilment_do_not_import_it() {
    let imports = |crate_name: &str| {
        let wasm = std::fs::read(wasm_dir().join(format!("{crate_name}.wasm"))).unwrap();
        spin_compose::imports(&wasm).unwrap()
    };
    let fulfil = "order-system:fulfilment/fulfil@0.2.0".to_string();
    assert!(!imports("status_provider").contains(&fulfil));
    assert!(imports("receiver").contains(&fulfil));
    assert!(imports("fulfiller").contains(&fulfil));
    let exports = spin_compose::exports(&std::fs::read(fulfilment()).unwrap()).unwrap();
    assert_eq!(exports, [fulfil]);
}
