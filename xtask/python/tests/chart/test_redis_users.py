"""The Redis ACL users of the roles, run for real: the rendered Redis container (its ACL file from
files/redis-acl.conf), each role's user and generated password. Each role does its job with the
project's own Lua scripts, and is refused what it does not need: another key prefix, another
channel, FLUSHALL, CONFIG, KEYS, writes where it only reads. The `metrics` role (metrics.enabled) runs
the real redis_exporter with files/metrics.lua."""

import base64
import json
import re
import subprocess
import time
import urllib.request
import uuid

import pytest

from order_chart.paths import CHART
from services import rendered_exporter, rendered_redis

SCRIPTS = CHART.parent.parent / "apps" / "order-model" / "src" / "scripts"
ACCEPT, FULFIL, RECONCILE = SCRIPTS / "accept.lua", SCRIPTS / "fulfil.lua", CHART / "files" / "reconcile.lua"
METRICS = CHART / "files" / "metrics.lua"
# The scripts each role runs (files/redis-acl.conf says why).
ROLE_SCRIPTS = {
    "order-processor": [ACCEPT, FULFIL],
    "fulfilment-processor": [FULFIL],
    "reconciler": [RECONCILE],
    "metrics": [METRICS],
}
# Arguments that make a command touch a key under the prefix and the orders channel, for ACL DRYRUN.
DRYRUN_ARGS = {
    "GET": ["order:1"],
    "SET": ["order:1", "v"],
    "HGET": ["order:1", "f"],
    "HMGET": ["order:1", "f"],
    "HSET": ["order:1", "f", "v"],
    "HDEL": ["order:1", "f"],
    "ZADD": ["order:pending", "1", "m"],
    "ZREM": ["order:pending", "m"],
    "ZRANGEBYSCORE": ["order:pending", "-inf", "+inf"],
    "PEXPIRE": ["order:1", "1000"],
    "PTTL": ["order:1"],
    "PUBLISH": ["neworders.3", "m"],
    "INFO": ["memory"],
    "TIME": [],
    "EXISTS": ["order:1"],
    "HINCRBY": ["order:stats", "accepted", "1"],
    "ZCARD": ["order:pending"],
    "ZRANGE": ["order:pending", "0", "0", "WITHSCORES"],
    "PUBSUB": ["NUMSUB", "neworders.3"],
}
# Where a role's scripts use a command on other keys than DRYRUN_ARGS' (metrics.lua's HMGET reads the
# counters).
ROLE_DRYRUN_ARGS = {"metrics": {"HMGET": ["order:stats", "accepted", "fulfilled"]}}
# What redis_exporter itself sends (its INFO-based metrics) besides the script.
EXPORTER_COMMANDS = [
    ["CLIENT", "SETNAME", "redis_exporter"],
    ["INFO", "ALL"],
    ["SLOWLOG", "LEN"],
    ["SLOWLOG", "GET", "1"],
    ["LATENCY", "LATEST"],
    ["LATENCY", "HISTOGRAM"],
    ["COMMAND", "INFO", "GET"],
]
ROLES = ["order-processor", "fulfilment-processor", "reconciler", "helm-test", "metrics"]


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """The rendered Redis (metrics on, so every role has its user); yields (port, admin environment,
    role → (user, password), manifests)."""
    with rendered_redis({"metrics": {"enabled": True}}, tmp_path_factory.mktemp("data")) as (
        port,
        environment,
        manifests,
    ):
        (users,) = [m.obj for m in manifests if m.kind == "Secret" and m.name.endswith("-redis-users")]
        roles = {role: (role, base64.b64decode(value).decode()) for role, value in users["data"].items()}
        assert sorted(roles) == sorted(ROLES)
        yield port, environment, roles, manifests


def as_user(redis, role: str | None, *args: str, timeout: float = 10) -> str:
    """redis-cli's answer to `args`, sent as the role's Redis user (admin for role None)."""
    port, admin, roles, _ = redis
    login = ["--user", roles[role][0]] if role else []
    environment = {"REDISCLI_AUTH": roles[role][1]} if role else admin
    return subprocess.run(
        ["redis-cli", "-p", str(port), "--no-auth-warning", *login, *args],
        env={"PATH": "/usr/bin:/bin", **environment}, capture_output=True, text=True, timeout=timeout,
    ).stdout.strip()  # fmt: skip


def refused(answer: str) -> bool:
    """Redis' ACL refusal: of a command (NOPERM), or of a command or a key a script calls."""
    return (
        answer.startswith("NOPERM")
        or "can't run this command" in answer
        or "can't access at least one of the keys" in answer
    )


def dryrun(redis, role: str, command: str, *args: str) -> str:
    return as_user(redis, None, "ACL", "DRYRUN", role, command, *args)


def script_commands(script) -> set[str]:
    return {name.upper() for name in re.findall(r"redis\.call\('(\w+)'", script.read_text())}


@pytest.mark.parametrize("role", ROLE_SCRIPTS)
def test_each_role_may_run_every_command_its_scripts_call(redis, role):
    """Derived from the scripts themselves, so a script that starts calling a new command fails here
    until files/redis-acl.conf grants it."""
    commands = {"EVAL"} | set().union(*(script_commands(script) for script in ROLE_SCRIPTS[role]))
    missing = [c for c in commands - {"EVAL"} if c not in DRYRUN_ARGS]
    assert not missing, f"add arguments for {missing} to DRYRUN_ARGS"
    for command in commands - {"EVAL"}:
        arguments = ROLE_DRYRUN_ARGS.get(role, {}).get(command, DRYRUN_ARGS[command])
        assert dryrun(redis, role, command, *arguments) == "OK", (role, command)


def accept(redis, role: str, accepted_at_ms: int) -> str:
    order_id = str(uuid.uuid4())
    message = json.dumps({"id": order_id, "details": "d", "status": "created"})
    answer = as_user(
        redis, role, "--eval", str(ACCEPT), f"order:{order_id}", "order:pending", ",",
        order_id, "d", str(accepted_at_ms), "neworders", message, "86400", "order:",
    ).splitlines()  # fmt: skip
    assert answer == ["1", order_id], answer
    return order_id


def fulfil(redis, role: str, order_id: str) -> list[str]:
    now_ms = str(int(time.time() * 1000))
    return as_user(
        redis,
        role,
        "--eval",
        str(FULFIL),
        f"order:{order_id}",
        "order:pending",
        "order:stats",
        ",",
        order_id,
        now_ms,
        "60000",
    ).splitlines()


def test_the_roles_do_their_jobs_with_the_real_scripts(redis):
    # order-processor accepts and reads back (GET /order/{id} is an HMGET).
    old = accept(redis, "order-processor", int(time.time() * 1000) - 120_000)
    assert as_user(redis, "order-processor", "HMGET", f"order:{old}", "status", "details").splitlines() == [
        "created",
        "d",
    ]
    # The reconciler re-publishes it.
    counts = as_user(
        redis,
        "reconciler",
        "--eval",
        str(RECONCILE),
        "order:pending",
        ",",
        "neworders",
        "order:",
        "30000",
        "500",
        "4",
    ).splitlines()
    assert counts == ["1", "0"], counts
    # A fulfilment shard subscribes to its channel and fulfils it; order-processor does too (composed).
    subscribed = subprocess.run(
        ["timeout", "1", "redis-cli", "-p", str(redis[0]), "--no-auth-warning",
         "--user", "fulfilment-processor", "SUBSCRIBE", "neworders.3"],
        env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": redis[2]["fulfilment-processor"][1]},
        capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    assert subscribed[:3] == ["subscribe", "neworders.3", "1"], subscribed
    assert fulfil(redis, "fulfilment-processor", old) == ["1"]
    assert fulfil(redis, "order-processor", accept(redis, "order-processor", int(time.time() * 1000))) == [
        "1"
    ]
    # helm test reads the fulfilled order and its expiry.
    assert as_user(redis, "helm-test", "HGET", f"order:{old}", "status") == "fulfilled"
    assert re.fullmatch(r"-?[0-9]+", as_user(redis, "helm-test", "PTTL", f"order:{old}"))
    assert as_user(redis, "helm-test", "EXISTS", f"order:{old}") == "1"


REFUSED_TO_EVERY_ROLE = [
    ["GET", "other:1"],
    ["HGET", "other:1", "status"],
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["CONFIG", "GET", "maxmemory"],
    ["CONFIG", "SET", "maxmemory-policy", "allkeys-lru"],
    ["KEYS", "*"],
    ["SCAN", "0"],
    ["DEL", "order:pending"],
    ["ACL", "LIST"],
    ["SHUTDOWN", "NOSAVE"],
    ["EVAL", "return redis.call('GET', KEYS[1])", "1", "other:1"],
    ["EVAL", "return redis.call('FLUSHALL')", "0"],
    ["PUBLISH", "otherchannel", "m"],
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("command", REFUSED_TO_EVERY_ROLE, ids=lambda c: " ".join(c)[:30])
def test_every_role_is_refused_what_no_role_needs(redis, role, command):
    answer = as_user(redis, role, *command)
    assert refused(answer), answer


@pytest.mark.parametrize(
    ("role", "command"),
    [
        ("fulfilment-processor", ["SUBSCRIBE", "otherchannel"]),
        ("fulfilment-processor", ["PSUBSCRIBE", "*"]),
        ("fulfilment-processor", ["ZADD", "order:pending", "1", "m"]),
        ("fulfilment-processor", ["SET", "order:x", "v"]),
        ("reconciler", ["HSET", "order:x", "status", "fulfilled"]),
        ("reconciler", ["SUBSCRIBE", "neworders"]),
        ("order-processor", ["SUBSCRIBE", "neworders"]),
        ("helm-test", ["HSET", "order:x", "status", "fulfilled"]),
        ("helm-test", ["EVAL", "return 1", "0"]),
        ("helm-test", ["PUBLISH", "neworders", "m"]),
        ("helm-test", ["SUBSCRIBE", "neworders"]),
        # metrics reads its prefix only, through the commands it is granted, and changes nothing.
        ("metrics", ["HSET", "order:stats", "accepted", "0"]),
        ("metrics", ["ZADD", "order:pending", "1", "m"]),
        ("metrics", ["EVAL", "return redis.call('HINCRBY', 'order:stats', 'accepted', 1)", "0"]),
        ("metrics", ["EVAL", "return redis.call('ZREM', 'order:pending', 'm')", "0"]),
        ("metrics", ["ZCARD", "other:pending"]),
        ("metrics", ["EVAL", "return redis.call('ZRANGE', 'other:pending', 0, -1)", "0"]),
        ("metrics", ["HMGET", "other:stats", "accepted"]),
        ("metrics", ["SUBSCRIBE", "neworders"]),
        ("metrics", ["CONFIG", "GET", "*"]),
        ("metrics", ["CLIENT", "KILL", "TYPE", "pubsub"]),
        ("metrics", ["CLIENT", "LIST"]),
        ("metrics", ["SLOWLOG", "RESET"]),
        ("metrics", ["LATENCY", "RESET"]),
        ("metrics", ["HMGET", "order:1", "details"]),
    ],
    ids=lambda value: value if isinstance(value, str) else " ".join(value)[:30],
)
def test_each_role_is_refused_what_only_another_role_needs(redis, role, command):
    answer = as_user(redis, role, *command, timeout=5)
    assert refused(answer), answer


def test_the_default_user_stays_the_admin(redis):
    assert as_user(redis, None, "CONFIG", "GET", "maxmemory-policy").splitlines() == [
        "maxmemory-policy",
        "noeviction",
    ]
    assert as_user(redis, None, "ACL", "WHOAMI") == "default"


def test_a_wrong_password_is_refused(redis):
    port, _, roles, _ = redis
    answer = subprocess.run(
        ["redis-cli", "-p", str(port), "--no-auth-warning", "--user", "reconciler", "PING"],
        env={"PATH": "/usr/bin:/bin", "REDISCLI_AUTH": roles["order-processor"][1]},
        capture_output=True, text=True, timeout=10,
    )  # fmt: skip
    assert "WRONGPASS" in answer.stdout + answer.stderr


def test_the_acl_file_holds_no_password(redis, tmp_path_factory):
    """Only SHA-256 hashes: the ACL file Redis loaded names no password in clear."""
    _, _, roles, _ = redis
    listed = as_user(redis, None, "ACL", "LIST")
    for _, password in roles.values():
        assert password not in listed
    assert len(re.findall(r" #[0-9a-f]{64}", listed)) == 6


@pytest.mark.parametrize("command", EXPORTER_COMMANDS, ids=lambda c: " ".join(c))
def test_the_metrics_role_may_send_what_redis_exporter_sends(redis, command):
    answer = dryrun(redis, "metrics", *command)
    assert answer == "OK", answer


def test_the_rendered_exporter_reads_the_order_flow_as_the_metrics_user(redis, tmp_path):
    """Debian's redis_exporter with the rendered sidecar's configuration and script, against the
    rendered Redis: the script's figures arrive, and Redis refuses the exporter nothing it needs."""
    _, _, _, manifests = redis
    pending = accept(redis, "order-processor", int(time.time() * 1000) - 60_000)
    with rendered_exporter(manifests, tmp_path) as exporter_port:
        text = urllib.request.urlopen(f"http://127.0.0.1:{exporter_port}/metrics", timeout=10).read().decode()
    values = {
        match["key"]: float(match["value"])
        for match in re.finditer(
            r'^redis_script_values\{key="(?P<key>[^"]+)"[^}]*\} (?P<value>\S+)$', text, re.M
        )
    }
    assert re.search(r"^redis_up 1$", text, re.M), text
    assert values["order_system_orders_pending"] >= 1
    assert values["order_system_oldest_pending_order_age_seconds"] >= 59
    assert values["order_system_shard_orders_pending:0"] == values["order_system_orders_pending"]
    assert values["order_system_orders_accepted_total"] >= 1
    assert values["order_system_redis_noeviction"] == 1
    assert "order_system_channel_subscribers:0" in values
    assert re.search(r"^redis_memory_max_bytes [1-9]", text, re.M), "maxmemory comes from INFO"
    log = (tmp_path / "exporter.log").read_text()
    assert "NOPERM" not in log and "error" not in log.lower(), log
    assert fulfil(redis, "order-processor", pending) == ["1"]


def test_the_exporter_decodes_a_percent_encoded_password(tmp_path):
    """Like every role's, the metrics user's existingSecret holds the password's URL form; the sidecar
    passes it inside its redis:// address, whose parser decodes it."""
    values = {"metrics": {"enabled": True}, "redis": {"users": {"metrics": {"existingSecret": "exporter"}}}}
    existing = {"exporter": {"redis-password": "p%2Fa%40ss%3Aw%25rd"}}
    (tmp_path / "data").mkdir()
    with (
        rendered_redis(values, tmp_path / "data", existing_secrets=existing) as (_, _, manifests),
        rendered_exporter(manifests, tmp_path, existing) as exporter_port,
    ):
        text = urllib.request.urlopen(f"http://127.0.0.1:{exporter_port}/metrics", timeout=10).read().decode()
    assert re.search(r"^redis_up 1$", text, re.M) and 'key="order_system_orders_pending"' in text, text
