"""The CRD pins and the structural-schema conversion, on their own."""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import jsonschema
import pytest

from gitops_check import crds
from gitops_check.problems import CheckError


def accepts(schema: dict, instance) -> bool:
    return jsonschema.Draft202012Validator(crds.structural_to_json_schema(schema)).is_valid(instance)


def test_objects_reject_fields_their_schema_does_not_list():
    schema = {
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": {"a": {"type": "string"}}}},
    }
    assert accepts(schema, {"spec": {"a": "x"}})
    assert not accepts(schema, {"spec": {"a": "x", "b": "y"}})
    assert not accepts(schema, {"status": {}})


def test_preserve_unknown_fields_keeps_any_field():
    schema = {
        "type": "object",
        "properties": {"values": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
    }
    assert accepts(schema, {"values": {"anything": {"nested": [1, 2]}}})


def test_int_or_string_is_an_integer_or_a_string():
    schema = {"type": "object", "properties": {"port": {"x-kubernetes-int-or-string": True}}}
    assert accepts(schema, {"port": 80})
    assert accepts(schema, {"port": "http"})
    assert not accepts(schema, {"port": 1.5})
    assert not accepts(schema, {"port": True})


def test_nullable_admits_null_only_where_declared():
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string", "nullable": True}, "b": {"type": "string"}},
    }
    assert accepts(schema, {"a": None})
    assert not accepts(schema, {"b": None})


def test_maps_keep_their_declared_value_schema():
    schema = {
        "type": "object",
        "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}},
    }
    assert accepts(schema, {"labels": {"x": "y"}})
    assert not accepts(schema, {"labels": {"x": 1}})


def write_lock(path: Path, content: bytes, commit: str = "a" * 40) -> None:
    path.write_text(
        f'[[crd]]\nfile = "things.yaml"\nrepo = "acme/things"\ncommit = "{commit}"\n'
        f'path = "config/things.yaml"\nsha256 = "{hashlib.sha256(content).hexdigest()}"\n'
    )


def test_a_lock_needs_full_commits(tmp_path):
    write_lock(tmp_path / "crds.lock", b"x", commit="0f61a860")
    with pytest.raises(CheckError, match="full 40-digit SHA"):
        crds.read_lock(tmp_path / "crds.lock")


def test_a_lock_needs_every_field(tmp_path):
    (tmp_path / "crds.lock").write_text('[[crd]]\nfile = "things.yaml"\n')
    with pytest.raises(CheckError, match="not a CRD lock"):
        crds.read_lock(tmp_path / "crds.lock")


@pytest.fixture
def upstream(tmp_path):
    """A loopback HTTP server standing in for raw.githubusercontent.com: serves `tmp_path/served`."""
    served = tmp_path / "served"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_fetch_downloads_exactly_the_pins(tmp_path, upstream):
    served, base_url = upstream
    content = b"kind: CustomResourceDefinition\n"
    upstream_file = served / "acme" / "things" / ("a" * 40) / "config" / "things.yaml"
    upstream_file.parent.mkdir(parents=True)
    upstream_file.write_bytes(content)
    write_lock(tmp_path / "crds.lock", content)
    pins = crds.read_lock(tmp_path / "crds.lock")

    crds.fetch(pins, tmp_path / "fetched", base_url)

    assert (tmp_path / "fetched" / "things.yaml").read_bytes() == content
    assert crds.verify(pins, tmp_path / "fetched") == []


def test_fetch_refuses_a_file_that_is_not_the_pinned_one(tmp_path, upstream):
    served, base_url = upstream
    upstream_file = served / "acme" / "things" / ("a" * 40) / "config" / "things.yaml"
    upstream_file.parent.mkdir(parents=True)
    upstream_file.write_bytes(b"kind: CustomResourceDefinition\n# changed upstream\n")
    write_lock(tmp_path / "crds.lock", b"kind: CustomResourceDefinition\n")

    with pytest.raises(CheckError, match="is not the pinned"):
        crds.fetch(crds.read_lock(tmp_path / "crds.lock"), tmp_path / "fetched", base_url)
    assert not (tmp_path / "fetched" / "things.yaml").exists()


def test_fetch_reports_a_missing_upstream_file(tmp_path, upstream):
    _, base_url = upstream
    write_lock(tmp_path / "crds.lock", b"x")
    with pytest.raises(CheckError, match=r"downloading .*/config/things.yaml"):
        crds.fetch(crds.read_lock(tmp_path / "crds.lock"), tmp_path / "fetched", base_url)
