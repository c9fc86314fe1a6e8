//! The HTTP trigger and the host interfaces, seen from inside a component (the probe): Spin's
//! routing, the `spin-*` headers, the health endpoint, variables and `allowed_outbound_hosts`.

#![allow(clippy::unwrap_used)]

use order_e2e::harness::{Running, manifest, probe_app, probe_wasm, providers};

/// One app with the order-processor's two routes, both served by the probe.
fn routes_app() -> std::path::PathBuf {
    let wasm = probe_wasm();
    manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "routes"
        [[trigger.http]]
        route = "/order"
        component = "exact"
        [[trigger.http]]
        route = "/order/..."
        component = "wildcard"
        [component.exact]
        source = "{wasm}"
        [component.wildcard]
        source = "{wasm}"
        "#,
        wasm = wasm.display()
    ))
}

fn header_lines(body: &str, name: &str) -> Vec<String> {
    body.lines()
        .filter_map(|line| line.strip_prefix(&format!("{name}: ")))
        .map(str::to_string)
        .collect()
}

#[test]
fn routes_like_spin() {
    let running = Running::start(&[routes_app()], providers(&[], &[]));
    let route_of = |path: &str| {
        let reply = running.get(path, &[]);
        assert_eq!(reply.status, 200, "{path}: {reply:?}");
        let route = header_lines(&reply.body, "spin-raw-component-route");
        let info = header_lines(&reply.body, "spin-path-info");
        (route[0].clone(), info[0].clone())
    };
    // Exact beats the wildcard; the wildcard also matches its bare prefix's subpaths.
    assert_eq!(route_of("/order"), ("/order".into(), "".into()));
    assert_eq!(route_of("/order/42"), ("/order/...".into(), "/42".into()));
    assert_eq!(route_of("/order/42/"), ("/order/...".into(), "/42/".into()));
    assert_eq!(
        route_of("/order/a/b?x=1"),
        ("/order/...".into(), "/a/b".into())
    );

    for unrouted in ["/", "/orders", "/nothing/here"] {
        let reply = running.get(unrouted, &[]);
        assert_eq!((reply.status, reply.body.as_str()), (404, ""), "{unrouted}");
    }
}

#[test]
fn wildcard_alone_matches_its_bare_prefix() {
    let wasm = probe_wasm();
    let app = manifest(&format!(
        r#"
        spin_manifest_version = 2
        [application]
        name = "wildcard"
        [[trigger.http]]
        route = "/order/..."
        component = "wildcard"
        [component.wildcard]
        source = "{}"
        "#,
        wasm.display()
    ));
    let running = Running::start(&[app], providers(&[], &[]));
    let reply = running.get("/order", &[]);
    assert_eq!(reply.status, 200);
    assert_eq!(header_lines(&reply.body, "spin-path-info"), [""]);
}

#[test]
fn health_and_other_well_known_paths_are_the_runtimes() {
    let running = Running::start(&[routes_app()], providers(&[], &[]));
    let health = running.get("/.well-known/spin/health", &[]);
    assert_eq!((health.status, health.body.as_str()), (200, "OK"));
    let info = running.get("/.well-known/spin/info", &[]);
    assert_eq!(info.status, 200);
    assert!(info.body.contains(r#""name": "routes""#), "{}", info.body);
    assert_eq!(running.get("/.well-known/spin/nope", &[]).status, 404);
}

#[test]
fn the_component_gets_the_request_headers_and_spins() {
    let running = Running::start(&[routes_app()], providers(&[], &[]));
    let reply = running.get("/order/42?x=1", &[("x-custom", "yes")]);
    let body = &reply.body;
    let address = running.address;
    for (name, value) in [
        ("x-custom", "yes".to_string()),
        ("spin-full-url", format!("http://{address}/order/42?x=1")),
        ("spin-path-info", "/42".to_string()),
        ("spin-matched-route", "/order/...".to_string()),
        ("spin-base-path", "/".to_string()),
        ("spin-raw-component-route", "/order/...".to_string()),
        ("spin-component-route", "/order".to_string()),
    ] {
        assert_eq!(header_lines(body, name), [value], "{name} in\n{body}");
    }
    // wasi:http keeps hop-by-hop headers and `host` from guests, in Spin as here.
    assert!(header_lines(body, "host").is_empty(), "{body}");
    let client = header_lines(body, "spin-client-addr");
    assert!(
        client.len() == 1 && client[0].starts_with("127.0.0.1:"),
        "{body}"
    );
}

#[test]
fn components_read_their_variables() {
    let app = probe_app(
        "variables",
        r#"
        plain = { default = "from-default" }
        from_env = { default = "from-default" }
        from_flag = { default = "from-default" }
        token = { required = true, secret = true }
        "#,
        r#"
        [component.probe.variables]
        plain = "{{ plain }}"
        from_env = "{{ from_env }}"
        from_flag = "{{ from_flag }}"
        bearer = "Bearer {{ token }}"
        "#,
    );
    let running = Running::start(
        &[app],
        providers(
            &[("from_flag", "from-flag"), ("token", "t0k3n")],
            &[
                ("SPIN_VARIABLE_FROM_ENV", "from-env"),
                ("SPIN_VARIABLE_FROM_FLAG", "env-loses"),
            ],
        ),
    );
    let variable = |name: &str| {
        running
            .get("/", &[("probe", &format!("variable {name}"))])
            .body
    };
    assert_eq!(variable("plain"), "ok from-default");
    assert_eq!(variable("from_env"), "ok from-env");
    assert_eq!(variable("from_flag"), "ok from-flag");
    assert_eq!(variable("bearer"), "ok Bearer t0k3n");
    // Application variables are not visible unless the component declares them.
    assert!(
        variable("token").starts_with("error Error::Undefined("),
        "{}",
        variable("token")
    );
    assert!(variable("Bad-Name").starts_with("error Error::InvalidName("));
}

#[test]
fn a_required_variable_without_a_value_stops_the_start() {
    let app = probe_app("required", "token = { required = true }", "");
    let error = spin_local::Runtime::load(&[app], &providers(&[], &[]), &Default::default())
        .err()
        .unwrap();
    let error = format!("{error:#}");
    assert!(
        error.contains(r#"no value for required variable(s) ["token"]"#)
            && error.contains("SPIN_VARIABLE_TOKEN"),
        "{error}"
    );
}

#[test]
fn a_missing_wasm_file_says_to_build() {
    let app = manifest(
        r#"
        spin_manifest_version = 2
        [application]
        name = "unbuilt"
        [[trigger.http]]
        route = "/..."
        component = "ghost"
        [component.ghost]
        source = "does-not-exist.wasm"
        "#,
    );
    let error = spin_local::Runtime::load(&[app], &providers(&[], &[]), &Default::default())
        .err()
        .unwrap();
    assert!(
        format!("{error:#}").contains("does not exist: build the components first"),
        "{error:#}"
    );
}

#[test]
fn outbound_redis_reaches_only_allowed_hosts() {
    let redis = dev_services::RedisServer::start().unwrap();
    let unused_port = dev_services::free_port().unwrap();
    let app = probe_app(
        "outbound",
        r#"redis_port = { default = "1" }"#,
        &format!(
            r#"allowed_outbound_hosts = [
                "redis://127.0.0.1:{{{{ redis_port }}}}",
                "redis://127.0.0.1:{unused_port}",
            ]"#
        ),
    );
    let running = Running::start(
        &[app],
        providers(&[("redis_port", &redis.port().to_string())], &[]),
    );
    let ping = |address: &str| {
        running
            .get("/", &[("probe", &format!("redis {address}"))])
            .body
    };

    assert_eq!(
        ping(&redis.url()),
        "ok PONG",
        "allowed through the template"
    );
    // The same server under another name, scheme or port is not allowed.
    let port = redis.port();
    for refused in [
        format!("redis://localhost:{port}"),
        format!("rediss://127.0.0.1:{port}"),
        format!("redis://127.0.0.1:{}", port.wrapping_add(1)),
        "not an address".to_string(),
    ] {
        assert_eq!(ping(&refused), "error Error::InvalidAddress", "{refused}");
    }
    // Allowed, but nothing listens there: the connection error reaches the component.
    let unreachable = ping(&format!("redis://127.0.0.1:{unused_port}"));
    assert!(
        unreachable.starts_with("error Error::Other(") && unreachable.contains("refused"),
        "{unreachable}"
    );
}

#[test]
fn outbound_http_reaches_only_allowed_hosts() {
    let app = probe_app(
        "outbound-http",
        "",
        r#"allowed_outbound_hosts = ["http://127.0.0.1:*"]"#,
    );
    let running = Running::start(&[app], providers(&[], &[]));
    let fetch = |url: &str| running.get("/", &[("probe", &format!("http {url}"))]).body;

    // The component calls the runtime's own health endpoint through wasi:http.
    let port = running.address.port();
    assert_eq!(
        fetch(&format!("http://127.0.0.1:{port}/.well-known/spin/health")),
        "ok 200 OK"
    );
    for refused in [
        format!("http://localhost:{port}/.well-known/spin/health"),
        format!("https://127.0.0.1:{port}/.well-known/spin/health"),
    ] {
        assert_eq!(
            fetch(&refused),
            "error Http(ErrorCode::HttpRequestDenied)",
            "{refused}"
        );
    }
}
