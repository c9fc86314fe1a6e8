"""The external Redis' maxmemory-policy check (a pre-install/pre-upgrade hook Job), run for real: its
rendered command line against a real redis-server with each policy, as the reconciler's user."""

import shutil
import subprocess
from urllib.parse import quote

import pytest

from order_chart import engine
from services import expand, free_port, role_credentials, wait_until_listening

USER, PASSWORD = "order-reconciler", "Rec0n/ciler:pw"  # an existing Secret holds the URL form


def render(port: int, **external) -> list[engine.Manifest]:
    values = {
        "redis": {
            "enabled": False,
            "external": {
                "host": "127.0.0.1",
                "port": port,
                "users": {
                    "reconciler": {
                        "name": USER,
                        "existingSecret": "reconciler",
                        "existingSecretPasswordKey": "pw",
                    }
                },
                **external,
            },
        }
    }
    return engine.render(values)


@pytest.fixture
def external_redis(tmp_path):
    """Starts a redis-server with a `policy` (and a reconciler user allowed `rules`); yields a starter."""
    if shutil.which("redis-server") is None:
        raise RuntimeError("`redis-server` is needed (apt-get install -y redis-server)")
    processes = []

    def start(policy: str, rules: str = "+info") -> int:
        port = free_port()
        acl = tmp_path / f"users-{port}.acl"
        acl.write_text(f"user default on nopass ~* &* +@all\nuser {USER} on >{PASSWORD} -@all {rules}\n")
        process = subprocess.Popen(
            ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--aclfile", str(acl),
             "--maxmemory-policy", policy],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        processes.append(process)
        wait_until_listening(port, process, "redis-server")
        return port

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


def run_check(manifests: list[engine.Manifest]) -> subprocess.CompletedProcess:
    (job,) = [m.obj for m in manifests if m.kind == "Job"]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    user, password = role_credentials(manifests, container, {"reconciler": {"pw": quote(PASSWORD, safe="")}})
    assert (user, password) == (USER, PASSWORD)
    environment = {"PATH": "/usr/bin:/bin", "REDIS_PASSWORD": quote(PASSWORD, safe="")}
    command = [expand(part, environment) for part in container["command"] + container["args"]]
    return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=30)


def test_passes_a_redis_that_never_evicts(external_redis):
    result = run_check(render(external_redis("noeviction")))
    assert result.returncode == 0, result.stderr
    assert "maxmemory-policy is noeviction" in result.stdout


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-ttl"])
def test_fails_an_evicting_redis_naming_the_setting(external_redis, policy):
    result = run_check(render(external_redis(policy)))
    assert result.returncode != 0
    assert f"maxmemory-policy is {policy}: order-system needs noeviction" in result.stderr


def test_fails_saying_so_when_info_cannot_be_read(external_redis):
    """A Redis that denies INFO (as some managed services may): the check cannot tell, and says how to
    skip it."""
    result = run_check(render(external_redis("noeviction", rules="+ping")))
    assert result.returncode != 0
    assert "cannot read maxmemory_policy" in result.stderr and "NOPERM" in result.stderr
    assert "redis.external.checkMaxmemoryPolicy=false" in result.stderr


def test_fails_saying_so_when_redis_is_unreachable():
    result = run_check(render(free_port()))
    assert result.returncode != 0
    assert "cannot reach the external Redis to read its maxmemory-policy: Could not connect" in result.stderr


def test_can_be_skipped_and_is_not_rendered_for_the_charts_own_redis():
    assert not [m for m in render(6379, checkMaxmemoryPolicy=False) if m.kind == "Job"]
    assert not [m for m in engine.render() if m.kind == "Job"]
