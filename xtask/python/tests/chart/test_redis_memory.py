"""Redis' memory bound, run for real: the rendered Redis container's command line under a memory
limit (given to it as the kubelet does, in bytes through the downward API) starts a redis-server
whose maxmemory is the configured share of that limit and whose policy never evicts."""

import subprocess

import pytest

from order_chart import engine
from services import rendered_redis


def config(port: int, environment: dict[str, str], name: str) -> str:
    answer = subprocess.run(
        ["redis-cli", "-p", str(port), "CONFIG", "GET", name],
        env=environment, capture_output=True, text=True, check=True, timeout=10,
    ).stdout.splitlines()  # fmt: skip
    assert answer[0] == name, answer
    return answer[1]


@pytest.mark.parametrize(
    ("limit", "percent", "expected"),
    [
        ("256Mi", None, 268435456 * 75 // 100),  # the default limit and share
        ("1Gi", None, 1073741824 * 75 // 100),
        ("0.5Gi", None, 536870912 * 75 // 100),  # any quantity form: the kubelet hands over bytes
        ("1G", 60, 1000000000 * 60 // 100),
    ],
)
def test_maxmemory_is_a_share_of_the_memory_limit_and_nothing_is_evicted(tmp_path, limit, percent, expected):
    values = {"redis": {"resources": {"limits": {"memory": limit}}}}
    if percent is not None:
        values["redis"]["maxmemory"] = {"percentOfLimit": percent}
    with rendered_redis(values, tmp_path) as (port, environment, _):
        assert int(config(port, environment, "maxmemory")) == expected
        assert config(port, environment, "maxmemory-policy") == "noeviction"


def test_an_explicit_maxmemory_needs_no_limit(tmp_path):
    values = {"redis": {"resources": {"limits": None}, "maxmemory": {"size": "100mb"}}}
    with rendered_redis(values, tmp_path) as (port, environment, _):
        assert int(config(port, environment, "maxmemory")) == 100 * 1024 * 1024
        assert config(port, environment, "maxmemory-policy") == "noeviction"


def test_a_full_redis_refuses_writes_and_evicts_nothing(tmp_path):
    """The behaviour the apps rely on (503 for a new order, nothing lost): once at maxmemory, writes
    are refused with OOM and every key written before is still there."""
    values = {"redis": {"resources": {"limits": {"memory": "4Mi"}}}}  # maxmemory 3 MiB
    with rendered_redis(values, tmp_path) as (port, environment, _):
        commands = "".join(f"SET order:{i} {'x' * 1000}\n" for i in range(5000))  # ~5 MB
        answers = subprocess.run(
            ["redis-cli", "-p", str(port)], input=commands,
            env=environment, capture_output=True, text=True, timeout=30,
        ).stdout.splitlines()  # fmt: skip
        stored = answers.count("OK")
        assert 0 < stored < 5000 and any(answer.startswith("OOM") for answer in answers), answers[-1]
        dbsize = subprocess.run(
            ["redis-cli", "-p", str(port), "DBSIZE"],
            env=environment,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        assert int(dbsize) == stored


def test_a_missing_memory_limit_in_bytes_stops_redis_with_the_reason(tmp_path):
    manifests = engine.render()
    (statefulset,) = [m.obj for m in manifests if m.kind == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    script = container["command"][2].replace("/tmp/", f"{tmp_path}/")
    result = subprocess.run(
        ["sh", "-c", script, "redis-server", "--port", "0"],
        env={"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": "a", **{f"REDIS_PASSWORD_{r}": "b" for r in
             ("ORDER_PROCESSOR", "FULFILMENT_PROCESSOR", "RECONCILER", "HELM_TEST")}},
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert result.returncode != 0
    assert "REDIS_MEMORY_LIMIT (the container's memory limit in bytes) is ''" in result.stderr
