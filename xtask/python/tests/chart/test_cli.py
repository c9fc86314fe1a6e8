"""The commands behind `cargo xtask chart …`: exit codes and what they print."""

import re

from order_chart.__main__ import main


def test_lint_passes_every_scenario_and_fails_bad_values(capsys):
    assert main(["lint"]) == 0
    assert "ok   spin-operator-values.yaml" in capsys.readouterr().out
    assert main(["lint", "--set", "redis.enabled=false"]) == 1
    assert "external Redis is required" in capsys.readouterr().err


def test_template_prints_validated_objects(capsys):
    assert main(["template", "--set", "mode=spinOperator", "--release", "demo"]) == 0
    out = capsys.readouterr().out
    assert "kind: SpinApp" in out and "name: demo-order-system-order-processor" in out


def test_unittest_and_readme_check(capsys):
    assert main(["unittest"]) == 0
    assert " 0 failed" in capsys.readouterr().out
    assert main(["readme", "--check"]) == 0


def test_push_dry_run_and_push(tmp_path, capsys, oci_registry):
    remote = f"oci://{oci_registry}/cli"
    assert main(["push", "--destination", str(tmp_path), "--remote", remote, "--dry-run"]) == 0
    assert f"as {remote}/order-system:" in capsys.readouterr().out
    assert main(["push", "--destination", str(tmp_path), "--remote", remote, "--plain-http"]) == 0
    assert re.search(rf"pushed {remote}/order-system:[0-9.]+@sha256:[0-9a-f]{{64}}", capsys.readouterr().out)
    assert main(["push", "--destination", str(tmp_path), "--remote", "https://example.invalid"]) == 1
    assert "oci://" in capsys.readouterr().err
