#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Loading an app's locked app: what spin-local refuses by name (a capability or trigger it does
//! not host, a template over an undeclared variable, Spin 1's `insecure:allow-all`), and what it
//! leaves alone, as Spin's trigger apps do: a component no trigger runs is never loaded.

use order_e2e::harness::{Running, load_error, manifest, probe_app, probe_wasm, providers};

#[test]
fn what_spin_local_cannot_host_is_refused_by_name() {
    for (component, expected) in [
        (
            "key_value_stores = [\"default\"]",
            "`key_value_stores` is not supported by spin-local",
        ),
        (
            "sqlite_databases = [\"default\"]",
            "`sqlite_databases` is not supported by spin-local",
        ),
        (
            "files = [\"spin.toml\"]",
            "`files` is not supported by spin-local",
        ),
        (
            "allowed_outbound_hosts = [\"insecure:allow-all\"]",
            "'insecure:allow-all' is not allowed - use '*://*:*' instead",
        ),
        (
            "[component.probe.variables]\ntoken = \"Bearer {{ missing }}\"",
            "\"missing\", which is not an application variable",
        ),
    ] {
        let error = load_error(probe_app("refused", "", component));
        assert!(error.contains(expected), "{component}: {error}");
    }
}

#[test]
fn trigger_types_and_trigger_templates_are_checked() {
    let app = |trigger: &str| {
        manifest(&format!(
            r#"
            spin_manifest_version = 2
            [application]
            name = "triggers"
            [variables]
            host = {{ default = "localhost" }}
            {trigger}
            component = "probe"
            [component.probe]
            source = "{wasm}"
            "#,
            wasm = probe_wasm().display()
        ))
    };
    let error = load_error(app("[[trigger.cron]]\ncron_expression = \"* * * * *\""));
    assert!(
        error.contains("trigger type \"cron\" is not supported by spin-local"),
        "{error}"
    );
    let error = load_error(app(
        "[[trigger.redis]]\naddress = \"redis://{{ port }}\"\nchannel = \"jobs\"",
    ));
    assert!(
        error.contains("\"port\", which is not an application variable"),
        "{error}"
    );
    let error = load_error(app("[[trigger.redis]]\nchannel = \"jobs\""));
    assert!(
        error.contains("has no `address` and there is no `[application.trigger.redis] address`"),
        "{error}"
    );
    let error = load_error(app(
        "[[trigger.http]]\nroute = \"/\"\nexecutor = { type = \"wagi\" }",
    ));
    assert!(
        error.contains("the \"wagi\" executor is not supported by spin-local"),
        "{error}"
    );
}

#[test]
fn a_component_no_trigger_runs_is_not_loaded() {
    let app = probe_app(
        "unused",
        "",
        "[component.unused]\nsource = \"does-not-exist.wasm\"\nkey_value_stores = [\"default\"]",
    );
    let running = Running::start(&[app], providers(&[], &[]));
    assert_eq!(running.get("/", &[]).status, 200);
}
