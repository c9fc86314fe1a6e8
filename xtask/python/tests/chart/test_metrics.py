"""The metrics side of the chart (metrics.*): the rendered objects validate against
prometheus-operator's CRDs (xtask/crds), the alerts of files/prometheus-rules.yaml fire on the series
they are about and on no others (`promtool test rules`, Debian's `prometheus`), and every query of
files/dashboard.json parses (`promtool check rules`) and names only documented metrics."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import helm_python as helm
import pytest
import yaml

from order_chart import engine, validate
from order_chart.paths import CHART, ROOT

ALL_ON = {
    "metrics": {
        "enabled": True,
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True},
        "dashboard": {"enabled": True},
    }
}
# The thresholds the alert tests below are written for, set explicitly so values.yaml's defaults may change.
THRESHOLDS = {
    "oldestPendingAgeSeconds": 300, "oldestPendingFor": "2m",
    "backlogPendingOrders": 1000, "backlogFor": "15m",
    "noSubscriberFor": "5m",
    "redisMemoryRatio": 0.85, "redisMemoryFor": "10m",
    "reconcilerFailedJobs": 1,
}  # fmt: skip
# The labels prometheus-operator gives the exporter's series (release `shop`, namespace `orders`).
SCRAPED = 'job="shop-order-system-metrics",namespace="orders",instance="10.0.0.7:9121"'
LABELS = {"job": "shop-order-system-metrics", "namespace": "orders", "instance": "10.0.0.7:9121"}


def promtool() -> str:
    program = shutil.which("promtool")
    if program is None:
        raise RuntimeError(
            "`promtool` is needed; `cargo xtask test` installs it (apt-get install -y prometheus)"
        )
    return program


def rendered(values: dict, kind: str) -> list[engine.Manifest]:
    return [m for m in engine.render(engine.merge(ALL_ON, values)) if m.kind == kind]


def rule_groups(thresholds: dict | None = None) -> list[dict]:
    values = {"metrics": {"prometheusRule": {"thresholds": thresholds or THRESHOLDS}}}
    (rule,) = rendered(values, "PrometheusRule")
    return rule.obj["spec"]["groups"]


def run_promtool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([promtool(), *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mode", ["runtimeClass", "spinOperator"])
def test_every_metrics_object_validates_and_is_redis_side(mode):
    """Both modes render the same metrics objects (they belong to Redis), each valid for its kind."""
    values = engine.merge(ALL_ON, {"mode": mode, "spinOperator": {"executor": "containerd-shim-spin"}})
    manifests = engine.render(values)
    metrics = [m for m in manifests if m.template.startswith("templates/metrics-")]
    assert sorted(m.kind for m in metrics) == [
        "ConfigMap", "ConfigMap", "NetworkPolicy", "PrometheusRule", "Service", "ServiceMonitor",
    ]  # fmt: skip
    assert validate.all_problems(manifests) == []
    # The validation has teeth for the new kinds: an unknown field is refused.
    (monitor,) = [m for m in metrics if m.kind == "ServiceMonitor"]
    broken = engine.Manifest(monitor.template, copy.deepcopy(monitor.obj))
    broken.obj["spec"]["endpoints"][0]["relabel"] = []
    assert validate.all_problems([broken])


def test_metrics_off_renders_no_metrics_object_and_no_metrics_user():
    files = engine.render_files({"metrics": {"enabled": False, "serviceMonitor": {"enabled": True}}})
    assert not [
        name for name, text in files.items() if name.startswith("templates/metrics-") and text.strip()
    ]
    assert "metrics" not in files["templates/redis-users-secret.yaml"]
    assert "redis_exporter" not in files["templates/redis-statefulset.yaml"]


def test_an_external_redis_refuses_metrics_and_says_what_to_do():
    with pytest.raises(helm.HelmRenderError) as failure:
        engine.render(
            {"metrics": {"enabled": True}, "redis": {"enabled": False, "external": {"host": "r.example"}}}
        )
    assert "metrics.enabled: the chart's redis_exporter runs as a sidecar" in str(failure.value)


def test_the_service_monitor_scrapes_the_metrics_service_with_the_relabelling_file():
    (monitor,) = rendered({}, "ServiceMonitor")
    (service,) = [m for m in rendered({}, "Service") if m.name.endswith("-metrics")]
    spec = monitor.obj["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [engine.NAMESPACE]}
    assert all(service.obj["metadata"]["labels"][k] == v for k, v in spec["selector"]["matchLabels"].items())
    assert [port["name"] for port in service.obj["spec"]["ports"]] == ["metrics"]
    (endpoint,) = spec["endpoints"]
    assert (
        endpoint["port"] == "metrics"
        and monitor.obj["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    )
    assert endpoint["metricRelabelings"] == yaml.safe_load(
        (CHART / "files" / "metric-relabelings.yaml").read_text()
    )


def test_the_sidecar_exposes_only_the_metrics_port_and_only_to_the_scraper():
    (statefulset,) = rendered({}, "StatefulSet")
    assert statefulset.pod_spec is not None
    (exporter,) = [c for c in statefulset.pod_spec["containers"] if c["name"] == "metrics"]
    assert exporter["ports"] == [{"name": "metrics", "containerPort": 9121, "protocol": "TCP"}]
    assert "readinessProbe" not in exporter  # an exporter problem must not take Redis out of its Service
    (policy,) = [m for m in rendered({}, "NetworkPolicy") if m.name.endswith("-metrics")]
    (rule,) = policy.obj["spec"]["ingress"]
    assert rule["ports"] == [{"port": "metrics", "protocol": "TCP"}]
    assert rule["from"] == engine.default_values()["metrics"]["networkPolicy"]["from"]
    (redis_policy,) = [m for m in rendered({}, "NetworkPolicy") if m.name.endswith("-redis")]
    assert [p["port"] for r in redis_policy.obj["spec"]["ingress"] for p in r["ports"]] == ["redis"]


def test_the_script_is_rendered_with_the_release_settings():
    values = {
        "config": {"keyPrefix": "eu:orders:", "orderChannel": "orders-eu"},
        "fulfilmentProcessor": {"shards": 4},
    }
    (config_map,) = [m for m in rendered(values, "ConfigMap") if "metrics.lua" in m.obj["data"]]
    script = config_map.obj["data"]["metrics.lua"]
    assert "local prefix = [==[eu:orders:]==]" in script
    assert "local channel = [==[orders-eu]==]" in script
    assert "local shards = tonumber([==[4]==])" in script
    assert "{prefix}" not in script and "{shards}" not in script


# ---- alerts -----------------------------------------------------------------------------------


def test_every_alert_has_a_severity_and_a_runbook_section_in_the_docs():
    docs = (ROOT / "docs" / "observability.md").read_text()
    anchors = set(re.findall(r'<a id="(runbook-[a-z0-9-]+)"></a>', docs))
    rules = [rule for group in rule_groups() for rule in group["rules"]]
    assert len(rules) == 8
    for rule in rules:
        assert rule["labels"]["severity"] in {"critical", "warning"}, rule["alert"]
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"]), rule["alert"]
        base, anchor = rule["annotations"]["runbook_url"].split("#")
        assert base == engine.default_values()["metrics"]["prometheusRule"]["runbookBaseUrl"]
        assert anchor in anchors, f"docs/observability.md has no runbook section {anchor}"
        assert rule["alert"] in docs


def test_the_rendered_rules_pass_promtool_check(tmp_path):
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": rule_groups()}))
    checked = run_promtool("check", "rules", str(tmp_path / "rules.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 8 rules found" in checked.stdout


def series(name: str, values: str, **labels: str) -> dict:
    all_labels = {**LABELS, **labels}
    return {
        "series": name + "{" + ",".join(f'{k}="{v}"' for k, v in all_labels.items()) + "}",
        "values": values,
    }


def job_series(status: str, job: str, values: str, **labels: str) -> dict:
    """kube-state-metrics' `kube_job_status_<status>` of Job `job` in namespace orders."""
    all_labels = {"namespace": "orders", "job_name": job, **labels}
    return {
        "series": f"kube_job_status_{status}"
        + "{"
        + ",".join(f'{k}="{v}"' for k, v in all_labels.items())
        + "}",
        "values": values,
    }


def alert(name: str, at: str, *fired: dict) -> dict:
    """At `at`, exactly the alerts `fired` (their labels beyond alertname) are firing."""
    return {"eval_time": at, "alertname": name, "exp_alerts": [{"exp_labels": labels} for labels in fired]}


def fires(severity: str, **labels: str) -> dict:
    return {**LABELS, "severity": severity, **labels}


# Per alert: input series over 1-minute steps, and when what must (and must not) be firing.
ALERT_TESTS = {
    "OrderSystemOldestPendingOrderTooOld": (
        [
            series("order_system_oldest_pending_order_age_seconds", "0+60x30"),  # 360 s at 6m, from then on
            series("order_system_oldest_pending_order_age_seconds", "30x30", instance="other:9121"),
        ],
        [
            alert("OrderSystemOldestPendingOrderTooOld", "7m"),  # over the threshold, not yet for 2m
            alert("OrderSystemOldestPendingOrderTooOld", "10m", fires("critical")),
        ],
    ),
    "OrderSystemBacklogGrowing": (
        [
            series("order_system_orders_pending", "900+20x60"),  # over 1000 from 6m, rising
            series("order_system_orders_pending", "5000x60", instance="flat:9121"),  # high but steady
            series("order_system_orders_pending", "0+1x60", instance="low:9121"),  # rising but low
        ],
        [
            alert("OrderSystemBacklogGrowing", "15m"),
            alert("OrderSystemBacklogGrowing", "30m", fires("warning")),
        ],
    ),
    "OrderSystemNoSubscriber": (
        [
            series("order_system_channel_subscribers", "1x4 0x30", shard="0"),
            series("order_system_channel_subscribers", "1x30", shard="1"),
            series("order_system_channel_subscribers", "1 0 0 1x30", shard="2"),  # a 2-minute restart
        ],
        [
            alert("OrderSystemNoSubscriber", "8m"),
            alert("OrderSystemNoSubscriber", "15m", fires("critical", shard="0")),
        ],
    ),
    "OrderSystemRedisMemoryNearMax": (
        [
            series("redis_memory_used_bytes", "900x30"),
            series("redis_memory_max_bytes", "1000x30"),
            series("redis_memory_used_bytes", "800x30", instance="ok:9121"),
            series("redis_memory_max_bytes", "1000x30", instance="ok:9121"),
            series("redis_memory_used_bytes", "900x30", instance="nomax:9121"),
            series("redis_memory_max_bytes", "0x30", instance="nomax:9121"),
        ],
        [
            alert("OrderSystemRedisMemoryNearMax", "5m"),
            alert("OrderSystemRedisMemoryNearMax", "20m", fires("warning")),
        ],
    ),
    "OrderSystemRedisEvicts": (
        [
            series("order_system_redis_noeviction", "0x10"),
            series("order_system_redis_noeviction", "1x10", instance="ok:9121"),
        ],
        [alert("OrderSystemRedisEvicts", "5m", fires("critical"))],
    ),
    "OrderSystemRedisDown": (
        [series("redis_up", "0x10"), series("redis_up", "1x10", instance="ok:9121")],
        [alert("OrderSystemRedisDown", "5m", fires("critical"))],
    ),
    "OrderSystemMetricsAbsent": (
        # Only another release's series: this release's are absent.
        [series("order_system_orders_pending", "3x10", job="other-order-system-metrics")],
        [
            alert("OrderSystemMetricsAbsent", "3m"),
            alert(
                "OrderSystemMetricsAbsent",
                "8m",
                {"job": "shop-order-system-metrics", "namespace": "orders", "severity": "warning"},
            ),
        ],
    ),
    "OrderSystemReconcilerJobsFailing": (
        [
            # A reconciler Job that failed, started at 300 s; one of another CronJob; one that succeeded.
            job_series("failed", "shop-order-system-reconciler-29001", "1x40", reason="BackoffLimitExceeded"),
            job_series("start_time", "shop-order-system-reconciler-29001", "300x40"),
            job_series("failed", "shop-other-29001", "1x40"),
            job_series("start_time", "shop-other-29001", "300x40"),
            job_series("failed", "shop-order-system-reconciler-29002", "0x40"),
            job_series("start_time", "shop-order-system-reconciler-29002", "400x40"),
        ],
        [
            alert("OrderSystemReconcilerJobsFailing", "10m", {"namespace": "orders", "severity": "warning"}),
            alert("OrderSystemReconcilerJobsFailing", "25m"),  # that failure is over 15 minutes old
        ],
    ),
}


def promtool_test(tmp_path: Path, groups: list[dict], tests: list[dict]) -> subprocess.CompletedProcess:
    """`promtool test rules` over `groups` (their annotations left out: the tests are about when an
    alert fires; `promtool check rules` checks the annotation templates)."""
    stripped = copy.deepcopy(groups)
    for group in stripped:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": stripped}))
    (tmp_path / "tests.yaml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yaml"], "evaluation_interval": "1m", "tests": tests})
    )
    return run_promtool("test", "rules", str(tmp_path / "tests.yaml"))


def test_every_alert_has_its_promtool_tests():
    assert {rule["alert"] for group in rule_groups() for rule in group["rules"]} == set(ALERT_TESTS)


@pytest.mark.parametrize("name", ALERT_TESTS)
def test_each_alert_fires_on_its_series_and_on_no_others(name, tmp_path):
    inputs, alerts = ALERT_TESTS[name]
    # Every other alert too, over the same series: none of them may fire on this alert's series.
    # (OrderSystemMetricsAbsent aside: most of these inputs lack the pending series it looks for.)
    last = max((a["eval_time"] for a in alerts), key=lambda at: int(at.removesuffix("m")))
    others = [alert(other, last) for other in ALERT_TESTS if other not in (name, "OrderSystemMetricsAbsent")]
    result = promtool_test(
        tmp_path,
        rule_groups(),
        [{"interval": "1m", "input_series": inputs, "alert_rule_test": alerts + others}],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_tests_fail_when_an_alert_does_not_fire(tmp_path):
    """promtool has teeth here: expecting OrderSystemRedisDown on a Redis that is up fails."""
    test = {
        "interval": "1m",
        "input_series": [series("redis_up", "1x10")],
        "alert_rule_test": [alert("OrderSystemRedisDown", "5m", fires("critical"))],
    }
    result = promtool_test(tmp_path, rule_groups(), [test])
    assert result.returncode != 0 and "OrderSystemRedisDown" in result.stdout + result.stderr


def test_thresholds_come_from_the_values(tmp_path):
    """A longer noSubscriberFor: the 10-minute gap of shard 0 no longer fires at 15m."""
    inputs, _ = ALERT_TESTS["OrderSystemNoSubscriber"]
    test = {
        "interval": "1m",
        "input_series": inputs,
        "alert_rule_test": [alert("OrderSystemNoSubscriber", "15m")],
    }
    result = promtool_test(tmp_path, rule_groups({**THRESHOLDS, "noSubscriberFor": "30m"}), [test])
    assert result.returncode == 0, result.stdout + result.stderr
    (rule,) = [
        r
        for g in rule_groups({**THRESHOLDS, "redisMemoryRatio": 0.5})
        for r in g["rules"]
        if r["alert"] == "OrderSystemRedisMemoryNearMax"
    ]
    assert "> 0.5" in rule["expr"]


def test_every_placeholder_of_the_rules_file_is_filled_by_the_chart():
    text = (CHART / "files" / "prometheus-rules.yaml").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    placeholders = set(re.findall(r"\$\{([A-Za-z]+)\}", body))
    thresholds = set(engine.default_values()["metrics"]["prometheusRule"]["thresholds"])
    assert placeholders == thresholds | {"selector", "namespace", "reconcilerCronJob", "runbookBaseUrl"}
    assert "${" not in yaml.safe_dump(rule_groups())


# ---- dashboard --------------------------------------------------------------------------------

# Sample values for the dashboard's Grafana variables, so that its queries are plain PromQL.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$namespace": "orders", "$job": "shop-order-system-metrics"}


def dashboard() -> dict:
    (config_map,) = [m for m in rendered({}, "ConfigMap") if "order-system.json" in m.obj["data"]]
    return json.loads(config_map.obj["data"]["order-system.json"])


def dashboard_queries() -> list[str]:
    def walk(panels: list[dict]):
        for panel in panels:
            yield from (target["expr"] for target in panel.get("targets", []))
            yield from walk(panel.get("panels", []))

    return list(walk(dashboard()["panels"]))


def documented_metrics() -> set[str]:
    """The metric names of docs/observability.md's Metrics section (its table's first column)."""
    docs = (ROOT / "docs" / "observability.md").read_text()
    section = docs.split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_:][a-z0-9_:]*)`", section, re.M))


def test_the_dashboard_configmap_is_what_grafanas_sidecar_loads():
    (config_map,) = [m for m in rendered({}, "ConfigMap") if "order-system.json" in m.obj["data"]]
    assert config_map.obj["metadata"]["labels"]["grafana_dashboard"] == "1"
    board = dashboard()
    assert board["uid"] != json.loads((CHART / "files" / "dashboard.json").read_text())["uid"]
    (prefix,) = [v for v in board["templating"]["list"] if v["name"] == "service_prefix"]
    assert prefix["current"]["value"] == "shop-order-system-"  # the OTel service names' prefix
    links = [link["url"] for link in board["links"]] + [
        p["options"]["content"] for p in board["panels"] if p["type"] == "text"
    ]
    assert sum("${service_prefix}order-processor" in link and "${traces}" in link for link in links) >= 2


def test_every_dashboard_query_parses_with_prometheus(tmp_path):
    """Each `expr`, its Grafana variables given sample values, as a recording rule for
    `promtool check rules`."""
    queries = dashboard_queries()
    assert len(queries) >= 10
    rules = []
    for number, query in enumerate(queries):
        for variable, value in GRAFANA_VARIABLES.items():
            query = query.replace(variable, value)
        assert "$" not in query, f"a Grafana variable without a sample value in GRAFANA_VARIABLES: {query}"
        rules.append({"record": f"dashboard:query_{number}", "expr": query})
    (tmp_path / "dashboard.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )
    checked = run_promtool("check", "rules", str(tmp_path / "dashboard.yaml"))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The check has teeth: a broken query fails it.
    (tmp_path / "broken.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "d", "rules": [{"record": "r", "expr": "rate(x[5m]"}]}]})
    )
    assert run_promtool("check", "rules", str(tmp_path / "broken.yaml")).returncode != 0


def test_the_dashboard_and_the_alerts_name_only_documented_metrics():
    documented = documented_metrics()
    assert {"order_system_orders_pending", "redis_memory_max_bytes", "kube_job_status_failed"} <= documented
    expressions = dashboard_queries() + [rule["expr"] for group in rule_groups() for rule in group["rules"]]
    for expression in expressions:
        named = set(re.findall(r"\b([a-z_:][a-z0-9_:]*)\s*\{", expression))
        assert named, expression
        assert named <= documented, (
            f"{sorted(named - documented)} not in docs/observability.md's Metrics table"
        )
